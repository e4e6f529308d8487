"""Scene to strip with the real engine (tiny-random on CPU) driven by the installed extension."""

import importlib
import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import bpy
import pytest
from PIL import Image

from demo.blender_session import REPO
from engine_shot import engine_python, shot, strips_of  # noqa: F401


@pytest.fixture
def modules(installed_extension):
    def load(name):
        return importlib.import_module(f"{installed_extension}.addon.{name}")

    return load


def settings_fingerprint(scene):
    settings = scene.neural_previs
    return {p.identifier: str(getattr(settings, p.identifier)) for p in settings.bl_rna.properties if p.identifier != "rna_type"}


def all_strips(scene):
    return sorted((s.name, s.channel, s.frame_final_start, s.frame_final_end) for s in strips_of(scene))


def user_strips(scene):
    return sorted((s.name, s.channel, s.frame_final_start, s.frame_final_end) for s in strips_of(scene) if "_take_" not in s.name)


def test_generate_puts_frame_accurate_takes_on_the_timeline(shot, tmp_path):
    before_settings = settings_fingerprint(shot)
    before_strips = user_strips(shot)
    assert bpy.ops.neural_previs.generate() == {"FINISHED"}
    first = strips_of(shot)["Scene_take_001"]
    assert first.channel == 3
    assert (first.frame_final_start, first.frame_final_end) == (1001, 1006)
    for frame in range(1001, 1006):
        element = first.strip_elem_from_frame(frame)
        assert element.filename == f"{frame:04d}.png"
        with Image.open(os.path.join(bpy.path.abspath(first.directory), element.filename)) as image:
            assert image.size == (48, 32)
    assert first["neural_previs"]["params"]["prompt"] == "a rainy neon street"
    assert first["neural_previs"]["resolved"]["seed"] == 11
    first_state = (first.channel, first.frame_final_start, first.frame_final_end, first.directory)

    assert bpy.ops.neural_previs.generate(prompt="watercolour", seed=12) == {"FINISHED"}
    second = strips_of(shot)["Scene_take_002"]
    assert second.channel == 4
    assert second["neural_previs"]["params"]["prompt"] == "watercolour"
    first = strips_of(shot)["Scene_take_001"]
    assert (first.channel, first.frame_final_start, first.frame_final_end, first.directory) == first_state
    assert user_strips(shot) == before_strips
    assert settings_fingerprint(shot) == before_settings  # operator arguments never write back into the scene

    blend = tmp_path / "shot.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    bpy.ops.wm.open_mainfile(filepath=str(blend))
    reopened = strips_of(bpy.context.scene)
    assert reopened["Scene_take_001"]["neural_previs"]["params"]["prompt"] == "a rainy neon street"
    assert reopened["Scene_take_002"]["neural_previs"]["params"]["prompt"] == "watercolour"
    assert reopened["Scene_take_002"].strip_elem_from_frame(1004).filename == "1004.png"


def test_random_seed_take_lands_with_the_seed_it_used(shot):
    shot.neural_previs.random_seed = True
    assert bpy.ops.neural_previs.generate() == {"FINISHED"}
    strip = strips_of(shot)["Scene_take_001"]
    record = json.loads((Path(bpy.path.abspath(strip.directory)).parent / "take.json").read_text())
    assert strip["neural_previs"]["resolved"]["seed"] == record["resolved"]["seed"]
    assert 0 <= record["resolved"]["seed"] <= 2**31 - 1


def test_unsaved_file_uses_a_temporary_folder_and_warns(shot, capfd):
    shot.neural_previs.output_directory = "//neural_previs/"
    assert bpy.data.filepath == ""
    assert bpy.ops.neural_previs.generate() == {"FINISHED"}
    assert "The .blend is not saved" in capfd.readouterr().out
    (strip,) = [s for s in strips_of(shot) if "_take_" in s.name]
    assert Path(bpy.path.abspath(strip.directory)).resolve().is_relative_to(Path(tempfile.gettempdir()).resolve())


def test_missing_engine_is_one_clear_line_and_no_strip(shot, tmp_path, monkeypatch, modules):
    modules("engine_session").stop()
    monkeypatch.setenv("NEURAL_PREVIS_PYTHON", str(tmp_path / "no-such-python"))
    before = all_strips(shot)
    assert not bpy.ops.neural_previs.generate.poll()
    with pytest.raises(RuntimeError) as error:
        bpy.ops.neural_previs.generate("EXEC_DEFAULT")
    assert "does not exist" in str(error.value) and "\n" not in str(error.value).strip()
    assert all_strips(shot) == before  # no take strip added, the user's strips untouched
    assert not (tmp_path / "takes").exists()  # nothing at all was written


def run_until(generation, condition, limit=2000):
    for _ in range(limit):
        if condition():
            return
        generation.tick(budget_s=0.2, wait_s=0.2)
    raise AssertionError("condition never met")


def test_cancel_mid_denoising_adds_nothing(shot, tmp_path, modules):
    generation_module = modules("generation")
    generation = generation_module.Generation(bpy.context, generation_module.GenerationRequest(steps=40))
    generation.begin()
    run_until(generation, lambda: generation.progress.phase == "denoising")
    generation.cancel()
    run_until(generation, lambda: generation.done)
    assert generation.cancelled
    assert "Scene_take_001" not in strips_of(shot)
    assert not generation.take_folder.exists() and not generation.bundle_folder.exists()
    assert not [p for p in (tmp_path / "takes").rglob("*") if p.is_file()]  # the attempt left nothing behind


def test_engine_killed_mid_run_is_a_clean_error(shot, modules):
    generation_module = modules("generation")
    engine_session = modules("engine_session")
    generation = generation_module.Generation(bpy.context, generation_module.GenerationRequest(steps=40))
    generation.begin()
    run_until(generation, lambda: generation.progress.phase == "denoising")
    engine_session.current().process.kill()
    with pytest.raises(generation_module.GenerationError) as error:
        run_until(generation, lambda: generation.done)
    assert "engine" in str(error.value) and "\n" not in str(error.value)
    assert "engine.log" in str(error.value) and "Open Log Folder" in str(error.value)  # where the details are
    assert engine_session.current() is None
    assert "Scene_take_001" not in strips_of(shot)
    assert not generation.bundle_folder.exists()
    # The next generation starts a fresh engine.
    assert bpy.ops.neural_previs.generate() == {"FINISHED"}


def test_engine_is_gone_after_unregister(shot, modules, installed_extension):
    engine_session = modules("engine_session")
    if engine_session.current() is None:
        assert bpy.ops.neural_previs.engine_start() == {"FINISHED"}
    process = engine_session.current().process
    assert process.poll() is None
    bpy.ops.preferences.addon_disable(module=installed_extension)
    try:
        assert process.poll() is not None
    finally:
        bpy.ops.preferences.addon_enable(module=installed_extension)


HEADLESS_SCRIPT = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {repo!r})
    from demo.blender_session import start_blender_with_extension
    bpy = start_blender_with_extension()
    bpy.ops.wm.open_mainfile(filepath={blend!r})
    import importlib
    cli = importlib.import_module("bl_ext.user_default.neural_previs.addon.cli")
    sys.exit(cli.run({argv!r}))
    """
)


def run_headless(blend, argv):
    script = HEADLESS_SCRIPT.format(repo=str(REPO), blend=str(blend), argv=argv)
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)


def test_headless_command_exit_codes(shot, tmp_path):
    blend = tmp_path / "shot.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    done = run_headless(
        blend, ["generate", "--prompt", "dusk", "--model", "tiny-random", "--steps", "2", "--quality", "preview", "--conditioning-scale", "0.7", "--save"]
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "take 'Scene_take_001' added" in done.stdout
    bpy.ops.wm.open_mainfile(filepath=str(blend))
    params = strips_of(bpy.context.scene)["Scene_take_001"]["neural_previs"]["params"]
    assert (params["prompt"], params["quality"], params["conditioning_scale"]) == ("dusk", "preview", 0.7)

    bpy.context.scene.camera = None
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "no_camera.blend"))
    failed = run_headless(tmp_path / "no_camera.blend", ["generate", "--prompt", "dusk", "--model", "tiny-random"])
    assert failed.returncode == 1
    assert "no camera" in failed.stderr.strip().splitlines()[-1]

    unknown = run_headless(blend, ["generate", "--scene", "Nope", "--prompt", "x"])
    assert unknown.returncode == 2
