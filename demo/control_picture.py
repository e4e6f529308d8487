"""The picture of docs/engine.md's "A control per object": how the control video is composed, on the demo blockout.

    python demo/control_picture.py        # writes docs/images/object_controls.png (about a minute on 2 CPU cores)

Builds demo/blockout.py (480x272, 9 frames), gives its rigged proxy character `Hero` the `pose` control (as
`make demo` does), renders the bundle with the installed extension, and composes the middle frame with the
engine's own code (`engine.generation.shot`): depth | pose image | Hero's region (its geometry's ids and its
keypoints, grown by `POSE_MARGIN_PX`) | the control the model receives (pose there, depth elsewhere).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from demo.blender_session import start_blender_with_extension  # noqa: E402
from demo.picture_tiles import label, sheet  # noqa: E402

WIDTH, HEIGHT, FRAMES = 480, 272, 9



def compose(bundle_path: Path, output: Path) -> Path:
    import numpy as np

    from engine.formats.bundle import read_bundle
    from engine.formats.params import GenerateParams
    from engine.generation import controls
    from engine.generation.shot import build_shot_conditioning, model_view

    bundle = read_bundle(bundle_path)
    shot = build_shot_conditioning(bundle, GenerateParams(prompt="x", controls={"Hero": "pose"}))
    index = len(bundle.frames) // 2
    ids = bundle.read_mask(index)
    resolved = shot.controls
    keypoints = [s.array() for s in bundle.frames[index].skeletons if s.object in resolved.pose]
    region = controls.pose_region(ids, {i for v in resolved.pose.values() for i in v}, keypoints)
    tiles = [
        label(shot.depth[index], "depth (every object)", size=14),
        label(bundle.read_pose(index), "pose image", size=14),
        label(np.repeat((region * 255).astype(np.uint8)[..., None], 3, axis=2), f"Hero's region (+{controls.POSE_MARGIN_PX} px)", size=14),
        label(model_view(shot, index)[0], "control video: Hero = pose", size=14),
    ]
    output.parent.mkdir(parents=True, exist_ok=True)
    sheet(tiles, WIDTH, HEIGHT, columns=2).save(output)
    return output


def main() -> int:
    bpy = start_blender_with_extension()
    from demo.blockout import build_blockout

    bpy.ops.wm.read_homefile(use_empty=True)
    scene = build_blockout(bpy.context.scene, detail=0.3, frames=FRAMES, width=WIDTH, height=HEIGHT)
    with tempfile.TemporaryDirectory() as folder:
        bundle = Path(folder) / "bundle"
        if bpy.ops.neural_previs.render_conditioning(directory=str(bundle)) != {"FINISHED"}:
            print("Rendering the bundle failed", file=sys.stderr)
            return 1
        print(f"Wrote {compose(bundle, REPO / 'docs' / 'images' / 'object_controls.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
