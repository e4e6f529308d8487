"""The pictures of docs/engine.md: reprojection and the consistency score, on true renders of demo/textured_set.py.

    python demo/qc_pictures.py        # writes docs/images/reprojection.png and docs/images/qc.png (about 30 s)

Renders the textured set with Cycles (240x180, 24 frames) and its bundle with the installed extension, then:

- reprojection.png: frame 1001 | frame 1001 carried into frame 1012 | frame 1012 as rendered | the valid pixels |
  the difference of the two on them (x8);
- qc.png: `python -m engine qc`'s plot of a take made of those renders with two faults put in: frame 1009
  brightened by 10 levels (a flash) and noise added to frame 1017 (boiling texture).
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

WIDTH, HEIGHT, LAST_FRAME = 240, 180, 1024
SOURCE, TARGET, FLASH, NOISY = 1001, 1012, 1009, 1017



def reprojection_picture(bundle, renders, output: Path) -> None:
    import numpy as np

    from engine.generation.reprojection import frame_view, reproject

    frames = bundle.frame_numbers
    source, target = renders[SOURCE], renders[TARGET]
    carried = reproject(source, frame_view(bundle, frames.index(SOURCE)), frame_view(bundle, frames.index(TARGET)))
    warped = np.round(carried.image).astype(np.uint8)
    mask = np.repeat((carried.valid * 255).astype(np.uint8)[..., None], 3, axis=2)
    difference = np.abs(carried.image - target.astype(np.float32)) * 8 * carried.valid[..., None]
    tiles = [
        label(source, f"frame {SOURCE}"),
        label(warped, f"{SOURCE} carried into {TARGET}"),
        label(target, f"frame {TARGET} rendered"),
        label(mask, f"valid ({carried.valid_fraction:.0%})"),
        label(np.clip(difference, 0, 255).astype(np.uint8), "difference x8"),
    ]
    sheet(tiles, WIDTH, HEIGHT).save(output)


def qc_picture(bundle, renders, output: Path) -> None:
    import numpy as np
    from PIL import Image

    from engine.formats.bundle import bundle_hash
    from engine.qc.cli import score_take_folder, summary_lines
    from engine.qc.report import QC_PLOT, write_report

    with tempfile.TemporaryDirectory() as folder:
        take = Path(folder) / "demo_take"
        (take / "frames").mkdir(parents=True)
        noise = np.random.default_rng(1).normal(0, 8, (HEIGHT, WIDTH, 3))
        entries = []
        for frame, pixels in renders.items():
            pixels = pixels.astype(np.float32)
            if frame == FLASH:
                pixels += 10
            if frame == NOISY:
                pixels += noise
            name = f"frames/{frame:04d}.png"
            Image.fromarray(np.clip(np.round(pixels), 0, 255).astype(np.uint8)).save(take / name)
            entries.append({"frame": frame, "file": name})
        record = {"schema": "neural_previs.take/1", "bundle": {"path": str(bundle.root), "hash": bundle_hash(bundle)}, "frames": entries}
        (take / "take.json").write_text(json.dumps(record))
        _, _, score = score_take_folder(take)
        print("\n".join(summary_lines(take.name, score, bundle, False)))
        write_report(take, score, take.name)
        shutil.copyfile(take / QC_PLOT, output)


def main() -> int:
    start_blender_with_extension()
    from demo.textured_set import set_bundle_and_truth
    from engine.formats.bundle import read_bundle

    images = REPO / "docs" / "images"
    with tempfile.TemporaryDirectory() as folder:
        directory, renders = set_bundle_and_truth(Path(folder), WIDTH, HEIGHT, LAST_FRAME)
        bundle = read_bundle(directory)
        reprojection_picture(bundle, renders, images / "reprojection.png")
        qc_picture(bundle, renders, images / "qc.png")
    print(f"wrote {images / 'reprojection.png'} and {images / 'qc.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
