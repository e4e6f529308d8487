"""Blender operators of Neural Previs (`NEURAL_PREVIS_OT_name` is `bpy.ops.neural_previs.name`)."""

from . import render_conditioning

_MODULES = (render_conditioning,)


def register():
    for module in _MODULES:
        module.register()


def unregister():
    for module in reversed(_MODULES):
        module.unregister()
