"""Cancel in every phase, through the operators' modal paths, with the real engine (tiny-random on CPU).

Esc mid-take; another file loaded mid-take (Blender calls the operator's cancel()); the add-on disabled
mid-take. Each leaves no strip, no take, no bundle and no "running" state. Phases that cannot stop in
time are made slow by tests/blender/slow_engine (on the engine worker's PYTHONPATH only): the operator
must then stop the worker, start a fresh one and say "Cancelled". How the modal path is driven in the
`bpy` module: tests/blender/modal_driver.py.
"""

import importlib
import os
from pathlib import Path

import bpy
import pytest

import scenes
from demo.blender_session import EXTENSION_MODULE
from engine_shot import ENGINE_PYTHON, engine_python, shot, strip_snapshot  # noqa: F401
from modal_driver import ESC, MOUSEMOVE, driven, pump

SLOW_ENGINE = Path(__file__).resolve().parent / "slow_engine"


def extension(name):
    return importlib.import_module(f"{EXTENSION_MODULE}.{name}")


@pytest.fixture(scope="module")
def slow_phase(tmp_path_factory, installed_extension):
    """A file naming the phase the engine worker hangs in (empty: none); the worker is restarted around the module."""
    phase_file = tmp_path_factory.mktemp("slow_engine") / "phase"
    phase_file.write_text("")
    engine_session = extension("addon.engine_session")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PYTHONPATH", os.pathsep.join(p for p in (str(SLOW_ENGINE), os.environ.get("PYTHONPATH")) if p))
        patch.setenv("SLOW_ENGINE_PHASE_FILE", str(phase_file))
        patch.setenv("NEURAL_PREVIS_PYTHON", ENGINE_PYTHON)
        engine_session.stop()
        engine_session.launch()  # warming up while the first test renders its conditioning
        yield phase_file
        engine_session.stop()


@pytest.fixture(scope="module")
def generate_op(installed_extension):
    operator = driven(extension("operators.generate").NEURAL_PREVIS_OT_generate, "generate")
    yield operator
    bpy.utils.unregister_class(operator)


def files_under(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*")] if folder.exists() else []


def nothing_runs() -> bool:
    state = bpy.context.window_manager.neural_previs
    return not state.generation_running and not state.conditioning_running and extension("addon.running_jobs").get("generation") is None


PHASES = {
    "loading": lambda text: text.startswith("Loading"),
    "encoding": lambda text: text.startswith("Encoding"),
    "compiling": lambda text: "compiling" in text,
    "decoding": lambda text: text.startswith("Decoding"),
    "denoising": lambda text: text.startswith("Denoising step ") and not text.startswith("Denoising step 0/"),
}


# Stopping and restarting a worker that cannot stop in time is the engine's and the add-on's own logic, the same on
# every Blender: those four phases (a worker start each) run on the newest Blender only, to keep the Blender 4.2 run
# short; it runs the modal path through the denoising phase and the file-load and add-on-disable cancels.
ON_NEWEST_BLENDER_ONLY = pytest.mark.skipif(bpy.app.version < (5, 0, 0), reason="restart path checked on Blender 5.0")


@pytest.mark.parametrize(
    "phase", [pytest.param(phase, marks=() if phase == "denoising" else ON_NEWEST_BLENDER_ONLY) for phase in PHASES]
)
def test_esc_cancels_in_every_phase(shot, tmp_path, slow_phase, generate_op, phase):
    """Denoising stops within one step and keeps its worker; the other phases hang here, so the worker is restarted."""
    slow_phase.write_text("" if phase == "denoising" else phase)
    engine_session = extension("addon.engine_session")
    before = strip_snapshot(shot)
    assert bpy.ops.np_test.generate(steps=200 if phase == "denoising" else 2) == {"RUNNING_MODAL"}
    operator = generate_op.runs[-1]
    generation = operator._generation
    pump(operator, until=lambda result: PHASES[phase](generation.progress.text))
    assert operator.modal(bpy.context, MOUSEMOVE) == {"PASS_THROUGH"}  # other events go on to Blender
    worker = engine_session.current().process
    assert operator.modal(bpy.context, ESC) == {"RUNNING_MODAL"}
    assert generation.progress.text == "Cancelling"
    assert pump(operator) == {"CANCELLED"}
    assert generation.progress.text == "Cancelled"
    assert nothing_runs() and strip_snapshot(shot) == before
    assert files_under(tmp_path / "takes") == []  # no take, no bundle, no half-written take
    if phase == "denoising":
        assert worker.poll() is None and engine_session.current().process is worker  # the warm worker stopped in time
    else:
        assert worker.poll() is not None  # stopped...
        assert engine_session.current() is not None and engine_session.current().process.pid != worker.pid  # ...and started afresh


def test_the_cancel_button_stops_a_take_mid_denoising(shot, tmp_path, slow_phase, generate_op):
    """The panel's Cancel (neural_previs.cancel), pressed while the take denoises: the same clean stop as Esc."""
    slow_phase.write_text("")
    engine_session = extension("addon.engine_session")
    before = strip_snapshot(shot)
    assert not bpy.ops.neural_previs.cancel.poll()  # nothing to cancel yet
    assert bpy.ops.np_test.generate(steps=200) == {"RUNNING_MODAL"}
    operator = generate_op.runs[-1]
    generation = operator._generation
    pump(operator, until=lambda result: PHASES["denoising"](generation.progress.text))
    worker = engine_session.current().process
    assert bpy.ops.neural_previs.cancel() == {"FINISHED"}
    assert pump(operator) == {"CANCELLED"}
    assert generation.progress.text == "Cancelled" and nothing_runs() and strip_snapshot(shot) == before
    assert files_under(tmp_path / "takes") == []
    assert worker.poll() is None and engine_session.current().process is worker  # stopped within a step, still warm


def test_loading_another_file_mid_take_cancels_it(shot, tmp_path, slow_phase, generate_op):
    slow_phase.write_text("")
    engine_session = extension("addon.engine_session")
    assert bpy.ops.np_test.generate(steps=200) == {"RUNNING_MODAL"}
    operator = generate_op.runs[-1]
    generation = operator._generation
    pump(operator, until=lambda result: PHASES["denoising"](generation.progress.text))
    worker = engine_session.current().process
    bpy.ops.wm.read_homefile(use_empty=True)  # Blender removes the window's handlers: the operator's cancel() runs
    assert generation.cancelled and nothing_runs()
    assert files_under(tmp_path / "takes") == []
    assert worker.poll() is None  # the engine stopped the request within a step and stays warm
    scenes.add_camera(bpy.context.scene)
    assert bpy.ops.neural_previs.generate.poll()  # nothing stale stands in the way of the next take


def test_loading_another_file_mid_conditioning_cancels_it(shot, tmp_path, slow_phase, generate_op):
    shot.frame_end = 1600  # enough frames that the conditioning spans many timer ticks
    assert bpy.ops.np_test.generate() == {"RUNNING_MODAL"}
    operator = generate_op.runs[-1]
    generation = operator._generation
    pump(operator, until=lambda result: generation.progress.text.startswith("Conditioning frame"), limit_s=30)
    assert generation.progress.phase == "conditioning"
    bpy.ops.wm.read_homefile(use_empty=True)
    assert generation.cancelled and nothing_runs()
    assert files_under(tmp_path / "takes") == []  # the bundle's staging folder went with it


def test_esc_while_rendering_the_plate_cancels_and_restores_the_scene(shot, tmp_path, generate_op):
    shot.frame_end = 1040  # enough frames that the plate spans several timer ticks
    shot.render.engine = "BLENDER_WORKBENCH"
    shot.render.filepath = "/tmp/the_artists_own_output_"
    shot.frame_set(1002)
    settings = shot.neural_previs
    settings.mode, settings.selective_objects, settings.plate_source = "selective", "Crate", "RENDER"
    assert bpy.ops.np_test.generate() == {"RUNNING_MODAL"}
    operator = generate_op.runs[-1]
    generation = operator._generation
    pump(operator, until=lambda result: generation.progress.text.startswith("Rendering the plate, frame 2/"), limit_s=60)
    assert operator.modal(bpy.context, ESC) == {"CANCELLED"}
    assert generation.progress.text == "Cancelled" and nothing_runs()
    assert files_under(tmp_path / "takes") == []  # neither the bundle nor the half-rendered plate
    assert (shot.frame_current, shot.render.filepath, shot.render.image_settings.file_format) == (1002, "/tmp/the_artists_own_output_", "PNG")


def test_disabling_the_addon_mid_take_cancels_it(shot, tmp_path, slow_phase, generate_op):
    slow_phase.write_text("")
    assert bpy.ops.np_test.generate(steps=200) == {"RUNNING_MODAL"}
    operator = generate_op.runs[-1]
    generation = operator._generation
    pump(operator, until=lambda result: PHASES["denoising"](generation.progress.text))
    worker = extension("addon.engine_session").current().process
    bpy.ops.preferences.addon_disable(module=EXTENSION_MODULE)
    try:
        assert generation.cancelled and generation.progress.text == "Cancelled"
        assert files_under(tmp_path / "takes") == []
        assert worker.poll() is not None  # the add-on's engine went with it
    finally:
        bpy.ops.preferences.addon_enable(module=EXTENSION_MODULE)
    assert nothing_runs()
    assert bpy.ops.neural_previs.generate.poll()


def test_conditioning_render_cancels_with_esc_and_on_file_load(shot, tmp_path, installed_extension):
    operator_class = driven(extension("operators.render_conditioning").NEURAL_PREVIS_OT_render_conditioning, "render_conditioning")
    try:
        shot.frame_end = 1600  # enough frames that the render spans many timer ticks
        shot.frame_set(1003)
        for stop in ("esc", "file"):
            assert bpy.ops.np_test.render_conditioning(directory=str(tmp_path / stop)) == {"RUNNING_MODAL"}
            operator = operator_class.runs[-1]
            assert pump(operator, until=lambda result: operator._job.render.progress[0] > 0, limit_s=30) == {"RUNNING_MODAL"}
            assert bpy.context.window_manager.neural_previs.conditioning_running
            if stop == "esc":
                assert operator.modal(bpy.context, ESC) == {"CANCELLED"}
                assert bpy.context.scene.frame_current == 1003
            else:
                bpy.ops.wm.read_homefile(use_empty=True)
            assert nothing_runs()
            assert not (tmp_path / stop).exists() and list(tmp_path.glob(f".{stop}*")) == []
    finally:
        bpy.utils.unregister_class(operator_class)
