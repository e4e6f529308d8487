"""Neural Previs settings: per-scene settings saved with the .blend, and transient per-session state on the WindowManager."""

import bpy
from bpy.props import BoolProperty, FloatProperty, PointerProperty, StringProperty

from .compat import BLEND_RELATIVE_PATH_OPTIONS


class NeuralPrevisSceneSettings(bpy.types.PropertyGroup):
    bundle_directory: StringProperty(
        name="Bundle Folder",
        description="Folder that receives the conditioning bundle (depth, object masks, camera path); '//' is the .blend's folder",
        subtype="DIR_PATH",
        default="//neural_previs/bundle/",
        options=BLEND_RELATIVE_PATH_OPTIONS,
    )


class NeuralPrevisRuntimeState(bpy.types.PropertyGroup):
    """Lives on the WindowManager: never saved, never part of the user's scene."""

    conditioning_running: BoolProperty(default=False)
    conditioning_progress: FloatProperty(default=0.0, min=0.0, max=1.0, subtype="FACTOR")
    conditioning_status: StringProperty(default="")


_CLASSES = (NeuralPrevisSceneSettings, NeuralPrevisRuntimeState)


def register():
    for cls in _CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.Scene.neural_previs = PointerProperty(type=NeuralPrevisSceneSettings)
    bpy.types.WindowManager.neural_previs = PointerProperty(type=NeuralPrevisRuntimeState)


def unregister():
    del bpy.types.WindowManager.neural_previs
    del bpy.types.Scene.neural_previs
    for cls in reversed(_CLASSES):
        bpy.utils.unregister_class(cls)
