"""Batch tests: .blend files made by a bpy subprocess, shot lists written by the tests, `python -m engine batch` as a TD runs it."""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

_MAKE_BLENDS = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {scenes!r})
    import bpy, scenes

    def fill(scene, start, end, markers=(), camera=True):
        scene.render.resolution_x, scene.render.resolution_y = 40, 24
        scene.render.fps, scene.render.fps_base = 24000, 1001
        scene.frame_start, scene.frame_end = start, end
        scenes.floor(scene)
        scenes.box(scene, "Crate", (0, 0, 0.5))
        if camera:
            scenes.add_camera(scene)
        for name, frame in markers:
            scene.timeline_markers.new(name, frame=frame)

    bpy.ops.wm.read_homefile(use_empty=True)
    fill(bpy.context.scene, 1001, 1005)
    bpy.ops.wm.save_as_mainfile(filepath={seq01!r})

    bpy.ops.wm.read_homefile(use_empty=True)
    fill(bpy.context.scene, 1, 30, markers=[("sh020_in", 3), ("sh020_out", 7)])
    fill(bpy.data.scenes.new("NoCamera"), 1, 5, camera=False)  # a second scene, broken: no camera
    bpy.ops.wm.save_as_mainfile(filepath={seq02!r})
    """
)


@pytest.fixture(scope="session")
def blends(tmp_path_factory):
    folder = tmp_path_factory.mktemp("blends")
    paths = {name: folder / f"{name}.blend" for name in ("seq01", "seq02")}
    script = _MAKE_BLENDS.format(scenes=str(REPO / "tests" / "blender"), **{k: str(v) for k, v in paths.items()})
    subprocess.run([sys.executable, "-c", script], check=True, capture_output=True)
    return paths


def run_batch(*arguments, timeout=600, env=None):
    return subprocess.run([sys.executable, "-m", "engine", "batch", *map(str, arguments)], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, env=env)
