"""`make demo`: the whole product in one command.

Builds a blockout (a room, box furniture, a rigged proxy character walking, a dolly camera), renders its
conditioning bundle (with the character's pose), generates a take with the best model found on this
machine, puts it on the timeline, and writes out/demo.blend, out/demo.mp4 (depth | masks | poses | control | take)
and out/demo_contact.png (depth | masks | poses | the control video the model receives | take). The
character is conditioned on its pose (its Neural Previs Control), the rest of the room on depth.
and out/demo_contact.png. Then a second shot of the same blockout (another camera) is generated with the first take
as its Set Reference (--plate-from): out/demo_shot2_contact.png shows its kept mask beside its frames.
Without real weights and a CUDA GPU the take comes from `tiny-random`: random weights, so its frames
are noise — the demo then shows the pipeline, not a picture, and says so.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from demo.blender_session import start_blender_with_extension  # noqa: E402

_PROBE = """
import sys
from engine.models.weights import resolve_model
import torch
if not torch.cuda.is_available():
    sys.exit(3)
resolve_model(sys.argv[1])
"""


def best_model(engine_python: str) -> str:
    """A real model when its weights are on disk and a CUDA GPU is there; else tiny-random."""
    for model in ("wan-vace-1.3b", "animatediff-controlnet"):
        probe = subprocess.run([engine_python, "-c", _PROBE, model], cwd=REPO, capture_output=True, text=True)
        if probe.returncode == 0:
            return model
    return "tiny-random"


def write_side_by_side_video(bundle: Path, take: Path, output: Path) -> None:
    """depth | masks | poses | the control video the model received | take for every frame, H.264 yuv420p at the shot's rate."""
    import imageio.v2 as imageio
    import numpy as np
    from PIL import Image

    from demo.contact_sheet import bundle_frame_tiles, control_video

    shot = json.loads((bundle / "shot.json").read_text())
    record = json.loads((take / "take.json").read_text())
    take_files = {entry["frame"]: take / entry["file"] for entry in record["frames"]}
    control = control_video(bundle, record["params"])
    writer = imageio.get_writer(str(output), fps=shot["fps"], codec="libx264", pixelformat="yuv420p", macro_block_size=2, quality=7)
    try:
        for index, frame_record in enumerate(shot["frames"]):
            generated = np.asarray(Image.open(take_files[frame_record["frame"]]).convert("RGB"))
            row = np.concatenate(bundle_frame_tiles(bundle, shot, frame_record) + [control(index), generated], axis=1)
            height, width = row.shape[0] // 2 * 2, row.shape[1] // 2 * 2
            writer.append_data(row[:height, :width])
    finally:
        writer.close()


def write_set_reference_picture(first: Path, second: Path, output: Path) -> Path:
    """Two frames of the second shot: the first shot's take | the second shot's take | its kept mask (README)."""
    import numpy as np
    from PIL import Image

    record = json.loads((second / "take.json").read_text())
    entries = record["plate_from"]["frames"]
    rows = []
    for entry in (entries[0], entries[-1]):
        name = f"{entry['frame']:04d}.png"
        tiles = [Image.open(first / "frames" / name).convert("RGB"), Image.open(second / "frames" / name).convert("RGB"),
                 Image.open(second / entry["kept"]).convert("RGB")]
        rows.append(np.concatenate([np.asarray(t) for t in tiles], axis=1))
    Image.fromarray(np.concatenate(rows, axis=0)).save(output, quality=85)
    return output


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="out", help="output folder")
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--width", type=int, default=832)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--model", help="force a model (default: the best found locally)")
    parser.add_argument("--steps", type=int, help="denoising steps (default: the model's; tiny-random uses 4)")
    args = parser.parse_args()
    out = Path(args.out).absolute()
    out.mkdir(parents=True, exist_ok=True)
    engine_python = os.environ.setdefault("NEURAL_PREVIS_PYTHON", sys.executable)

    model = args.model or best_model(engine_python)
    steps = args.steps or (4 if model == "tiny-random" else None)
    if model == "tiny-random":
        print("=" * 78)
        print("No real model weights (or no CUDA GPU) found: the demo uses 'tiny-random'.")
        print("Its weights are random, so THE GENERATED FRAMES ARE NOISE. The bundle, the engine,")
        print("the take and the timeline are all real; put Wan2.1-VACE weights in the Hugging Face")
        print("cache on a CUDA machine to see pictures.")
        print("=" * 78, flush=True)

    bpy = start_blender_with_extension()
    from demo.blockout import build_blockout, face_count
    from demo.contact_sheet import write_contact_sheet

    bpy.ops.wm.read_homefile(use_empty=True)
    scene = build_blockout(bpy.context.scene, frames=args.frames, width=args.width, height=args.height)
    blend = out / "demo.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    print(f"Blockout: {face_count(scene)} faces, frames {scene.frame_start}..{scene.frame_end}, {blend}", flush=True)

    takes = out / "neural_previs"
    if takes.exists():
        shutil.rmtree(takes)  # the demo's own output folder: a fresh demo each run
    settings = scene.neural_previs
    settings.prompt = "a cosy mid-century living room at dusk, warm lamps, film still"
    settings.model = model
    settings.seed = 1
    settings.output_directory = str(takes)
    bpy.data.objects["Hero"].neural_previs_control = "pose"  # the character shows the model its skeleton: depth + pose
    if steps:
        settings.steps = steps
    start = time.perf_counter()
    if bpy.ops.neural_previs.generate() != {"FINISHED"}:
        print("Generation failed", file=sys.stderr)
        return 1
    print(f"Generated with {model} in {time.perf_counter() - start:.1f} s", flush=True)
    bpy.ops.wm.save_mainfile()
    blend.with_suffix(".blend1").unlink(missing_ok=True)  # Blender's backup of the first save: not a demo output

    shot_folder = takes / scene.name
    bundle, take = shot_folder / "take_001_bundle", shot_folder / "take_001"
    write_side_by_side_video(bundle, take, out / "demo.mp4")
    sheet = write_contact_sheet(bundle, out / "demo_contact.png", take=take)
    print(f"Wrote {blend}, {out / 'demo.mp4'} (depth | masks | poses | control | take) and {sheet}")

    # Set consistency: a second shot of the same set keeps what the first take shows of it (issue 16 §4).
    from demo.blockout import add_second_camera

    first_camera = scene.camera
    scene.camera = add_second_camera(scene)
    assert bpy.ops.neural_previs.take_use_as_set_reference(strip=f"{scene.name}_take_001") == {"FINISHED"}
    start = time.perf_counter()
    if bpy.ops.neural_previs.generate() != {"FINISHED"}:
        print("Generation of the second shot failed", file=sys.stderr)
        return 1
    second = shot_folder / "take_002"
    kept = json.loads((second / "take.json").read_text())["plate_from"]["kept_fraction_mean"]
    print(f"Second shot (camera {scene.camera.name}) generated in {time.perf_counter() - start:.1f} s, "
          f"{kept:.0%} of its pixels kept exactly from take_001", flush=True)
    scene.camera = first_camera
    bpy.ops.wm.save_mainfile()
    blend.with_suffix(".blend1").unlink(missing_ok=True)
    sheet2 = write_contact_sheet(shot_folder / "take_002_bundle", out / "demo_shot2_contact.png", take=second)
    pair = write_set_reference_picture(take, second, out / "demo_set_reference.jpg")
    print(f"Wrote {sheet2} (depth | masks | poses | control | take | kept from take_001) and {pair}")
    if model == "tiny-random":
        print("Reminder: tiny-random frames are noise; the pipeline around them is what the demo shows.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
