"""`make demo`: build a blockout scene, render its conditioning bundle, and write a contact sheet.

Writes out/demo.blend, out/bundle/ and out/demo_contact.png.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from demo.blender_session import start_blender_with_extension  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="out", help="output folder (replaced demo files only)")
    parser.add_argument("--frames", type=int, default=48)
    args = parser.parse_args()
    out = Path(args.out).absolute()
    out.mkdir(parents=True, exist_ok=True)

    bpy = start_blender_with_extension()
    from demo.blockout import build_blockout, face_count
    from demo.contact_sheet import write_contact_sheet

    bpy.ops.wm.read_homefile(use_empty=True)
    scene = build_blockout(bpy.context.scene, frames=args.frames)
    blend = out / "demo.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    print(f"Blockout: {face_count(scene)} faces, frames {scene.frame_start}..{scene.frame_end}, saved to {blend}")

    bundle = out / "bundle"
    start = time.perf_counter()
    result = bpy.ops.neural_previs.render_conditioning(directory=str(bundle))
    elapsed = time.perf_counter() - start
    if result != {"FINISHED"}:
        print("Conditioning render failed", file=sys.stderr)
        return 1
    frames = scene.frame_end - scene.frame_start + 1
    print(f"Conditioning bundle: {bundle} ({frames} frames in {elapsed:.2f} s, {elapsed / frames * 1000:.0f} ms/frame)")
    sheet = write_contact_sheet(bundle, out / "demo_contact.png")
    print(f"Contact sheet: {sheet}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
