"""Blender operators of Neural Previs (`NEURAL_PREVIS_OT_name` is `bpy.ops.neural_previs.name`)."""

from ..addon import running_jobs
from . import engine, generate, import_take, keyframes, models, render_conditioning, settings, takes

_MODULES = (render_conditioning, import_take, generate, engine, models, settings, takes, keyframes)


def register():
    for module in _MODULES:
        module.register()


def unregister():
    # Blender frees a running modal operator without calling its cancel() when its class goes: stop the jobs first.
    running_jobs.stop_all()
    for module in reversed(_MODULES):
        module.unregister()
