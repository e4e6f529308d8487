"""A real model about to run on an engine without a GPU (this machine's): Generate says so before it
renders anything, and runs only when allowed (the operator's allow_cpu, the headless --allow-cpu, or
Device: CPU in the preferences). The engine is the real one, started from the installed extension."""

import importlib
import os
import sys

import bpy
import pytest

import scenes

ENGINE_PYTHON = os.environ.get("NEURAL_PREVIS_TEST_ENGINE_PYTHON", sys.executable)


@pytest.fixture(scope="module")
def engine_on_the_cpu(installed_extension, tmp_path_factory):
    """One engine for the module, started with an empty Models Folder (whatever this machine has
    downloaded must not matter)."""
    engine_session = importlib.import_module(f"{installed_extension}.addon.engine_session")
    preferences = importlib.import_module(f"{installed_extension}.addon.preferences").get_preferences()
    python_before = os.environ.get("NEURAL_PREVIS_PYTHON")
    os.environ["NEURAL_PREVIS_PYTHON"] = ENGINE_PYTHON
    before = preferences.models_directory, preferences.device
    preferences.models_directory = str(tmp_path_factory.mktemp("no models here"))
    engine_session.stop(timeout=20)
    try:
        assert bpy.ops.neural_previs.engine_start() == {"FINISHED"}
        if engine_session.current().hello.device_type != "cpu":
            pytest.skip("this machine has a GPU: the engine does not run on the CPU")
        yield engine_session, preferences
    finally:
        engine_session.stop(timeout=20)
        preferences.models_directory, preferences.device = before
        if python_before is None:
            os.environ.pop("NEURAL_PREVIS_PYTHON", None)
        else:
            os.environ["NEURAL_PREVIS_PYTHON"] = python_before


@pytest.fixture(autouse=True)
def automatic_device(engine_on_the_cpu):
    _, preferences = engine_on_the_cpu
    preferences.device = "auto"


@pytest.fixture
def shot(empty_scene, tmp_path):
    scene = empty_scene
    scene.render.resolution_x, scene.render.resolution_y = 832, 480
    scene.frame_start, scene.frame_end = 1001, 1081
    scenes.floor(scene)
    scenes.box(scene, "Crate", (0, 0, 0.5))
    scenes.add_camera(scene, location=(4, -4, 2.5), target=(0, 0, 0.4))
    scene.neural_previs.prompt = "a rainy neon street"
    scene.neural_previs.model = "wan-vace-1.3b"
    scene.neural_previs.output_directory = str(tmp_path / "takes")
    return scene


def test_a_real_model_on_the_cpu_is_refused_before_anything_renders(engine_on_the_cpu, shot, tmp_path):
    with pytest.raises(RuntimeError) as error:
        bpy.ops.neural_previs.generate()
    message = str(error.value)
    assert "No GPU: the engine runs on the CPU, where wan-vace-1.3b for 81 frames at 832x480 takes about " in message
    assert "hours" in message and "allow_cpu=True" in message and "--allow-cpu" in message and "Device to CPU" in message
    assert not (tmp_path / "takes").exists()  # no bundle was rendered, nothing was written


def test_allowed_it_goes_on_to_the_engine(engine_on_the_cpu, shot, tmp_path):
    shot.render.resolution_x, shot.render.resolution_y, shot.frame_end = 48, 32, 1005
    with pytest.raises(RuntimeError) as error:
        bpy.ops.neural_previs.generate(allow_cpu=True)
    message = str(error.value)
    # Past the warning, the next check answers: this machine has no weights for the real model.
    assert "No GPU" not in message and "(wan-vace-1.3b) is not downloaded: press Download" in message


def test_choosing_the_cpu_in_the_preferences_counts_as_allowing_it(engine_on_the_cpu, shot):
    _, preferences = engine_on_the_cpu
    preferences.device = "cpu"
    shot.render.resolution_x, shot.render.resolution_y, shot.frame_end = 48, 32, 1005
    with pytest.raises(RuntimeError) as error:
        bpy.ops.neural_previs.generate()
    assert "No GPU" not in str(error.value)


def test_the_headless_command_names_its_flag(engine_on_the_cpu, shot, installed_extension, capfd):
    cli = importlib.import_module(f"{installed_extension}.addon.cli")
    assert cli.run(["generate"]) == 1
    assert "--allow-cpu" in capfd.readouterr().err
