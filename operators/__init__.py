"""Blender operators of Neural Previs (`NEURAL_PREVIS_OT_name` is `bpy.ops.neural_previs.name`)."""

from . import engine, generate, import_take, models, render_conditioning

_MODULES = (render_conditioning, import_take, generate, engine, models)


def register():
    for module in _MODULES:
        module.register()


def unregister():
    for module in reversed(_MODULES):
        module.unregister()
