"""The picture of docs/engine.md's "Carry" section: what a shot keeps from a set reference take (``--plate-from``).

    python demo/carry_pictures.py     # writes docs/images/carry.png (about 30 s, no model needed)

Renders the textured set (demo/textured_set.py) with Cycles (240x180, 24 frames) and its bundle with the installed
extension, then cuts it in two shots of the same set: A = frames 1001-1012, B = frames 1013-1024 (the camera has moved
on, the box has moved, the blob deforms). A's take is A's true renders. For B's last frame the picture shows:
A's frame 1012 | what B's window is given (A's pixels kept, depth where A saw nothing) | the kept mask
(``kept/<frame>.png``: white = the source take's pixel exactly, grey = the feather) | B's frame as rendered |
the difference of the kept pixels to it (x8). Within a take, windows after the first are given the same layer from
the frames already generated (``engine/generation/carry.py``).
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from demo.blender_session import start_blender_with_extension  # noqa: E402
from demo.picture_tiles import label, sheet  # noqa: E402
from demo.qc_pictures import HEIGHT, LAST_FRAME, WIDTH  # noqa: E402

SPLIT = 1012  # shot A ends here, shot B starts after it


def _cut(bundle: Path, folder: Path, keep) -> Path:
    shutil.copytree(bundle, folder)
    shot = json.loads((folder / "shot.json").read_text())
    shot["frames"] = [entry for entry in shot["frames"] if keep(entry["frame"])]
    (folder / "shot.json").write_text(json.dumps(shot))
    return folder


def carry_picture(bundle_dir: Path, renders: dict, folder: Path, output: Path) -> dict:
    import numpy as np
    from PIL import Image

    from engine.formats.bundle import bundle_hash, read_bundle
    from engine.generation import carry
    from engine.generation.conditioning import depth_control_image

    bundle_a = read_bundle(_cut(bundle_dir, folder / "take_a_bundle", lambda f: f <= SPLIT))
    bundle_b = read_bundle(_cut(bundle_dir, folder / "b_bundle", lambda f: f > SPLIT))
    take = folder / "take_a"
    (take / "frames").mkdir(parents=True)
    entries = []
    for frame in bundle_a.frame_numbers:
        Image.fromarray(renders[frame]).save(take / "frames" / f"{frame:04d}.png")
        entries.append({"frame": frame, "file": f"frames/{frame:04d}.png"})
    record = {"schema": "neural_previs.take/1", "bundle": {"path": str(bundle_a.root), "hash": bundle_hash(bundle_a)}, "frames": entries}
    (take / "take.json").write_text(json.dumps(record))

    source = carry.open_source_take(str(take))
    kept = carry.set_pixels(bundle_b, carry.FrameViews(bundle_b), [source])
    index = len(bundle_b.frames) - 1
    frame = bundle_b.frame_numbers[index]
    layer = kept[index]
    depth = depth_control_image(bundle_b.read_depth(index), bundle_b.near, bundle_b.far)
    given = np.where(layer.valid[..., None], layer.image, depth)
    mask = carry.kept_mask(layer.valid)
    exact = mask == 255
    truth = renders[frame]
    difference = np.abs(layer.image.astype(np.float32) - truth.astype(np.float32)) * 8 * exact[..., None]
    tiles = [
        label(renders[SPLIT], f"take A, frame {SPLIT}"),
        label(given, f"shot B {frame}: kept + depth"),
        label(np.repeat(mask[..., None], 3, axis=2), f"kept ({exact.mean():.0%} exact)"),
        label(truth, f"frame {frame} rendered"),
        label(np.clip(difference, 0, 255).astype(np.uint8), "difference x8"),
    ]
    sheet(tiles, WIDTH, HEIGHT).save(output)
    error = np.abs(layer.image[exact].astype(float) - truth[exact].astype(float))
    return {"frame": frame, "kept_fraction": float(exact.mean()), "mean_error": float(error.mean()) if error.size else None}


def main() -> int:
    start_blender_with_extension()
    from demo.textured_set import set_bundle_and_truth

    output = REPO / "docs" / "images" / "carry.png"
    with tempfile.TemporaryDirectory() as folder:
        directory, renders = set_bundle_and_truth(Path(folder), WIDTH, HEIGHT, LAST_FRAME)
        numbers = carry_picture(directory, renders, Path(folder), output)
    print(f"wrote {output}: frame {numbers['frame']} keeps {numbers['kept_fraction']:.0%} of its pixels exactly from take A, "
          f"mean error {numbers['mean_error']:.2f} levels against its own render")
    return 0


if __name__ == "__main__":
    sys.exit(main())
