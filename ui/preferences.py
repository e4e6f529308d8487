"""Drawing of the add-on preferences (the class itself lives in addon/preferences.py and gets its draw() here)."""

import os

from ..addon import engine_session
from .models import draw_models
from ..addon.device_label import describe_device
from ..addon.engine_setup import plan_for
from ..addon.machine import probed_machine
from ..addon.preferences import NeuralPrevisPreferences


def draw_preferences(preferences, context):
    layout = preferences.layout
    state = context.window_manager.neural_previs
    box = layout.box()
    box.label(text="Engine", icon="SYSTEM")
    box.prop(preferences, "engine_python")
    if os.environ.get(engine_session.PYTHON_VARIABLE):
        box.label(text=f"{engine_session.PYTHON_VARIABLE} overrides it: {os.environ[engine_session.PYTHON_VARIABLE]}", icon="INFO")
    try:
        box.label(text=f"Using {engine_session.resolve_engine_python(preferences)}", icon="CHECKMARK")
    except engine_session.EngineNotConfigured as error:
        box.label(text=str(error), icon="ERROR")
    row = box.row()
    row.operator("neural_previs.engine_start", icon="PLAY")
    row.operator("neural_previs.engine_stop", icon="PAUSE")
    box.label(text=f"Status: {state.engine_status}")
    draw_engine_device(box)
    draw_engine_setup(layout.box(), state)
    draw_models(preferences, context, layout)


def draw_engine_device(layout):
    """What the engine runs on (now, or the last time it ran), and a word when that is the CPU."""
    device = engine_session.known_device()
    if device is None:
        layout.label(text="Device: found when the engine first starts", icon="QUESTION")
        return
    running = engine_session.current() is not None
    layout.label(text=f"Device{'' if running else ' (last run)'}: {describe_device(device)}", icon="MEMORY")
    if device.get("device_type") == "cpu":
        layout.label(text="On the CPU only tiny-random (the test model) is practical; real models take hours", icon="ERROR")


def draw_engine_setup(box, state):
    """Set Up Engine: the plan before it runs, the progress while it runs, Repair and the logs after."""
    box.label(text="Set Up Engine", icon="IMPORT")
    if state.engine_setup_running:
        box.progress(factor=state.engine_setup_progress, text=state.engine_setup_status)
        box.operator("neural_previs.engine_setup_cancel", icon="CANCEL")
        box.label(text="Cancel Set-Up (or Esc) stops it; pressing Set Up Engine again later resumes where it stopped", icon="INFO")
    else:
        machine = probed_machine()
        if machine is None:
            box.label(text="Looking at this machine's GPU...", icon="TIME")
        else:
            plan = plan_for(machine)
            column = box.column(align=True)
            column.label(text=plan.summary() if plan.ok else "Cannot set up the engine here:", icon="CHECKMARK" if plan.ok else "ERROR")
            if not plan.ok:
                column.label(text=plan.refusal)
            for warning in plan.warnings:
                column.label(text=warning, icon="ERROR")
        if state.engine_setup_status:
            box.label(text=state.engine_setup_status, icon="INFO")
    row = box.row()
    row.operator("neural_previs.engine_setup", icon="IMPORT")
    row.operator("neural_previs.engine_setup", text="Repair", icon="TOOL_SETTINGS").repair = True
    row.operator("neural_previs.open_log_folder", icon="FILEBROWSER")


def register():
    NeuralPrevisPreferences.draw = draw_preferences


def unregister():
    del NeuralPrevisPreferences.draw
