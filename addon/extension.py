"""Which extension this is, and its preferences: what every Blender-side module may need, importing nothing of ours."""

import bpy

EXTENSION_PACKAGE = __package__.rpartition(".")[0]


def get_preferences(context=None):
    """The add-on's preferences (`addon.preferences.NeuralPrevisPreferences`)."""
    context = context or bpy.context
    return context.preferences.addons[EXTENSION_PACKAGE].preferences
