"""The textured set (demo/textured_set.py) rendered for the tests: bundle, true frames and a visibility oracle."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import bpy
import numpy as np

import oracle
from demo import textured_set

# (source frame, target frame) pairs whose visibility the oracle works out.
ORACLE_PAIRS = [(1001, 1004), (1002, 1005)]


@dataclass
class RenderedSet:
    bundle: Path
    frames: dict[int, Path]
    """Cycles render of every frame."""
    names: dict[int, np.ndarray]
    """Per frame, the name of the object a ray through each pixel centre hits first ('' for none)."""
    seen: dict[tuple[int, int], np.ndarray] = field(default_factory=dict)
    """Per (source, target) pair: target pixels whose surface point the source camera sees on the source frame."""
    other_bundle: Path | None = None
    """A bundle of the same scene, last frame only, with one more object (behind the camera) so ids differ."""


def _motion_of(obj, frame_from, frame_to, scene):
    scene.frame_set(frame_from)
    start = np.array(obj.matrix_world)
    scene.frame_set(frame_to)
    return np.array(obj.matrix_world) @ np.linalg.inv(start)


def render(folder: Path) -> RenderedSet:
    bpy.ops.wm.read_homefile(use_empty=True)
    scene = textured_set.build_textured_set(bpy.context.scene)
    bundle = folder / "bundle"
    assert bpy.ops.neural_previs.render_conditioning(directory=str(bundle)) == {"FINISHED"}
    frames = textured_set.render_true_frames(scene, folder / "renders")
    width, height = scene.render.resolution_x, scene.render.resolution_y
    camera = scene.camera
    hits, names = {}, {}
    for frame in frames:
        scene.frame_set(frame)
        hits[frame], names[frame] = oracle.first_hits(scene, *oracle.pixel_centre_rays(scene, camera, width, height))
    result = RenderedSet(bundle=bundle, frames=frames, names=names)
    mover = scene.objects[textured_set.RIGID_MOVER]
    for source, target in ORACLE_PAIRS:
        points, on = hits[target].copy(), names[target].copy()
        moving = on == textured_set.RIGID_MOVER
        back = _motion_of(mover, target, source, scene)
        points[moving] = points[moving] @ back[:3, :3].T + back[:3, 3]
        on[on == textured_set.DEFORMING] = ""  # where a deforming surface point goes is nobody's business here
        scene.frame_set(source)
        result.seen[(source, target)] = oracle.seen_from(scene, camera, points, on, width, height)

    extra = textured_set.box(scene, "AAA_BehindCamera", (-2.2, -9.0, 2.4), (0.5, 0.5, 0.5), scene.objects["Floor"].data.materials[0])
    assert extra.name < min(o.name for o in scene.objects if o.type == "MESH" and o != extra)
    scene.frame_start = textured_set.LAST_FRAME
    result.other_bundle = folder / "other_bundle"
    assert bpy.ops.neural_previs.render_conditioning(directory=str(result.other_bundle)) == {"FINISHED"}
    return result
