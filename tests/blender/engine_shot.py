"""Fixtures of the tests that generate with the real engine (tiny-random on CPU): the engine's Python and a tiny shot.

Import the fixtures into a test module: `from engine_shot import engine_python, shot  # noqa: F401`.
"""

import os
import sys

import pytest
from PIL import Image

import scenes

# The engine's own Python: the main test venv has torch and diffusers. The Blender 4.2 run (whose venv has
# only bpy) points at it through NEURAL_PREVIS_TEST_ENGINE_PYTHON.
ENGINE_PYTHON = os.environ.get("NEURAL_PREVIS_TEST_ENGINE_PYTHON", sys.executable)


@pytest.fixture(autouse=True)
def engine_python(monkeypatch):
    monkeypatch.setenv("NEURAL_PREVIS_PYTHON", ENGINE_PYTHON)


def strips_of(scene):
    editor = scene.sequence_editor
    return editor.strips if hasattr(editor, "strips") else editor.sequences


def strip_snapshot(scene):
    return sorted((s.name, s.channel, s.frame_final_start, s.frame_final_end, s.mute) for s in strips_of(scene))


@pytest.fixture
def shot(empty_scene, tmp_path):
    """Frames 1001-1005 at 48x32: a crate and a ball on a floor, the user's own strips on channels 1 and 2."""
    scene = empty_scene
    scene.render.resolution_x, scene.render.resolution_y = 48, 32
    scene.frame_start, scene.frame_end = 1001, 1005
    scenes.floor(scene)
    scenes.box(scene, "Crate", (0, 0, 0.5))
    scenes.uv_sphere(scene, "Ball", (1.0, 0.5, 0.4), radius=0.4)
    scenes.add_camera(scene, location=(4, -4, 2.5), target=(0, 0, 0.4))
    settings = scene.neural_previs
    settings.prompt = "a rainy neon street"
    settings.model = "tiny-random"
    settings.steps = 2
    settings.seed = 11
    settings.random_seed = False
    settings.output_directory = str(tmp_path / "takes")
    scene.sequence_editor_create()
    plate = tmp_path / "user_plate.png"
    Image.new("RGB", (8, 8), (10, 120, 10)).save(plate)
    strips_of(scene).new_image(name="Plate", filepath=str(plate), channel=1, frame_start=990).frame_final_duration = 40
    strips_of(scene).new_image(name="Notes", filepath=str(plate), channel=2, frame_start=1003)
    return scene
