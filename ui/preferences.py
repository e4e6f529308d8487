"""Drawing of the add-on preferences (the class itself lives in addon/preferences.py and gets its draw() here)."""

import os

from ..addon import engine_session
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
    row.operator("neural_previs.engine_setup", icon="IMPORT")
    row.operator("neural_previs.engine_start", icon="PLAY")
    row.operator("neural_previs.engine_stop", icon="PAUSE")
    box.label(text=f"Status: {state.engine_status}")
    box = layout.box()
    box.label(text="Models", icon="FILE_FOLDER")
    box.prop(preferences, "models_directory")
    box.prop(preferences, "default_model")
    box.prop(preferences, "device")
    box.prop(preferences, "offload")


def register():
    NeuralPrevisPreferences.draw = draw_preferences


def unregister():
    del NeuralPrevisPreferences.draw
