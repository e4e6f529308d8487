"""The artist's panel with the real engine (tiny-random on CPU): every setting reaches the take and its strip,
Apply Settings reproduces a take, the model list comes from the engine, a take is one undo step."""

import importlib
import json
from pathlib import Path

import bpy
import numpy as np
import pytest
from PIL import Image

from demo.blender_session import EXTENSION_MODULE
from engine_shot import engine_python, shot, strip_snapshot, strips_of  # noqa: F401
from modal_driver import driven, pump


def extension(name):
    return importlib.import_module(f"{EXTENSION_MODULE}.{name}")


@pytest.fixture(scope="module")
def generate_op(installed_extension):
    operator = driven(extension("operators.generate").NEURAL_PREVIS_OT_generate, "generate_controls")
    yield operator
    bpy.utils.unregister_class(operator)


def record_of(strip) -> dict:
    return strip["neural_previs"].to_dict()


def frames_of(strip) -> dict:
    folder = Path(bpy.path.abspath(strip.directory))
    return {p.name: np.asarray(Image.open(p)) for p in sorted(folder.glob("*.png"))}


def test_a_new_scene_draws_a_random_seed(empty_scene):
    assert bpy.data.scenes.new("Another").neural_previs.random_seed
    assert empty_scene.neural_previs.random_seed


def test_panel_settings_reach_the_take_and_strip_and_a_take_is_one_undo_step(shot, generate_op, tmp_path):
    settings = shot.neural_previs
    settings.quality, settings.conditioning_scale, settings.offload = "preview", 0.6, "none"
    settings.negative_prompt = "blurry"
    settings.weights = "fp8"  # Memory settings: FP8 weight storage
    bpy.ops.ed.undo_push(message="the artist's last edit")
    before = strip_snapshot(shot)
    assert bpy.ops.np_test.generate_controls() == {"RUNNING_MODAL"}  # as the Generate button does
    assert bpy.context.window_manager.neural_previs.generation_running
    assert pump(generate_op.runs[-1]) == {"FINISHED"}
    assert not bpy.context.window_manager.neural_previs.generation_running
    strip = strips_of(shot)["Scene_take_001"]
    params = record_of(strip)["params"]
    assert (params["quality"], params["conditioning_scale"], params["offload"], params["negative_prompt"]) == ("preview", 0.6, "none", "blurry")
    assert record_of(strip)["settings"]["offload"] == "none"
    assert params["weights"] == "fp8"
    assert record_of(strip)["seconds"] > 0
    take = Path(bpy.path.abspath(record_of(strip)["take"]))
    assert json.loads((take / "take.json").read_text())["params"]["quality"] == "preview"

    bpy.ops.ed.undo()
    assert strip_snapshot(bpy.context.scene) == before  # Ctrl-Z: the strip is gone...
    assert (take / "take.json").is_file()  # ...its files stay
    assert bpy.context.scene.objects.keys() == ["Floor", "Crate", "Ball", "Camera"]
    bpy.ops.ed.redo()
    assert strips_of(bpy.context.scene)["Scene_take_001"].frame_final_start == 1001  # Ctrl-Shift-Z: back again


def test_operator_arguments_are_recorded_and_leave_the_scene_alone(shot):
    settings = shot.neural_previs
    before = {p: str(getattr(settings, p)) for p in ("quality", "conditioning_scale", "offload", "seed", "random_seed", "prompt")}
    assert bpy.ops.neural_previs.generate(quality="preview", conditioning_scale=0.8, seed=5, prompt="dusk", offload="none") == {"FINISHED"}
    params = record_of(strips_of(shot)["Scene_take_001"])["params"]
    assert (params["quality"], params["conditioning_scale"], params["seed"], params["prompt"]) == ("preview", 0.8, 5, "dusk")
    assert {p: str(getattr(settings, p)) for p in before} == before


def test_apply_settings_then_generate_makes_the_same_frames(shot):
    settings = shot.neural_previs
    settings.random_seed = True
    settings.quality = "preview"
    settings.negative_prompt = "fog"
    assert bpy.ops.neural_previs.generate() == {"FINISHED"}
    first = strips_of(shot)["Scene_take_001"]
    seed = record_of(first)["resolved"]["seed"]
    settings.prompt, settings.negative_prompt, settings.quality, settings.steps = "something else", "", "final", 3
    settings.conditioning_scale = 0.3

    assert bpy.ops.neural_previs.take_apply_settings(strip="Scene_take_001") == {"FINISHED"}
    assert (settings.prompt, settings.negative_prompt, settings.seed, settings.random_seed) == ("a rainy neon street", "fog", seed, False)
    assert (settings.quality, settings.steps, settings.conditioning_scale) == ("preview", 2, 1.0)
    assert bpy.ops.neural_previs.generate() == {"FINISHED"}
    second = strips_of(shot)["Scene_take_002"]
    assert record_of(second)["resolved"]["seed"] == seed
    first_frames, second_frames = frames_of(strips_of(shot)["Scene_take_001"]), frames_of(second)
    assert first_frames.keys() == second_frames.keys() and len(first_frames) == 5
    assert all(np.array_equal(first_frames[name], second_frames[name]) for name in first_frames)


def test_use_seed_fixes_the_last_takes_seed(shot):
    shot.neural_previs.random_seed = True
    assert bpy.ops.neural_previs.generate() == {"FINISHED"}
    seed = record_of(strips_of(shot)["Scene_take_001"])["resolved"]["seed"]
    assert bpy.ops.neural_previs.take_use_seed(strip="Scene_take_001") == {"FINISHED"}
    assert shot.neural_previs.seed == seed and not shot.neural_previs.random_seed


def test_memory_profile_of_the_scene_overrides_the_preferences(shot):
    preferences = extension("addon.extension").get_preferences()
    preferences.offload = "model"  # streams to a GPU: refused on this CPU-only machine
    try:
        shot.neural_previs.offload = "none"
        assert bpy.ops.neural_previs.generate() == {"FINISHED"}
        assert record_of(strips_of(shot)["Scene_take_001"])["params"]["offload"] == "none"
        shot.neural_previs.offload = "preferences"
        with pytest.raises(RuntimeError) as error:
            bpy.ops.neural_previs.generate()
    finally:
        preferences.offload = "none"
    message = str(error.value).strip()
    assert "Memory Profile 'Less Memory'" in message and "Memory Profile 'Fastest'" in message
    assert "--" not in message and "\n" not in message  # the artist's words, never a command-line flag
    assert bpy.context.window_manager.neural_previs.last_error == message.removeprefix("Error: ")


def test_a_multi_line_prompt_from_its_text_block_reaches_the_take(shot):
    assert bpy.ops.neural_previs.prompt_edit() == {"FINISHED"}
    text = shot.neural_previs.prompt_text
    assert text is not None and text.as_string() == "a rainy neon street"
    text.from_string("a rainy neon street\nat night, wet asphalt\n")
    assert bpy.ops.neural_previs.generate() == {"FINISHED"}
    assert record_of(strips_of(shot)["Scene_take_001"])["params"]["prompt"] == "a rainy neon street\nat night, wet asphalt"


def test_preferences_draw_comes_from_the_ui(installed_extension):
    preferences = extension("addon.extension").get_preferences()
    assert type(preferences).draw is extension("ui.preferences").draw_preferences


def test_model_list_comes_from_the_engine(shot, tmp_path):  # last: it stops the engine
    engine_session = extension("addon.engine_session")
    if engine_session.current() is None or engine_session.current().hello is None:
        engine_session.stop()
        assert bpy.ops.neural_previs.engine_start() == {"FINISHED"}
    models = extension("ui.panel").known_models()
    assert {"name": "tiny-random", "available": True}.items() <= next(m for m in models if m["name"] == "tiny-random").items()
    assert {m["name"] for m in models} >= {"wan-vace-1.3b", "wan-vace-14b"}
    engine_session.stop()
    assert extension("ui.panel").known_models() == models  # still listed while the engine is stopped
    shot.neural_previs.model = ""
    assert bpy.ops.neural_previs.model_choose(model="wan-vace-1.3b") == {"FINISHED"}
    assert shot.neural_previs.model == "wan-vace-1.3b"
    assert bpy.ops.neural_previs.model_choose(directory=str(tmp_path)) == {"FINISHED"}
    assert shot.neural_previs.model == str(tmp_path)
