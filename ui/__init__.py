"""Panels and preferences drawing of Neural Previs."""

from . import panel, preferences, sequencer, storyboard

_MODULES = (panel, storyboard, sequencer, preferences)


def register():
    for module in _MODULES:
        module.register()


def unregister():
    for module in reversed(_MODULES):
        module.unregister()
