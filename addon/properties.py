"""Neural Previs settings: per-scene settings saved with the .blend, and transient per-session state on the WindowManager."""

import bpy
from bpy.props import BoolProperty, EnumProperty, FloatProperty, IntProperty, PointerProperty, StringProperty

from ..engine.formats.params import MAX_SEED
from .compat import BLEND_RELATIVE_PATH_OPTIONS

MODE_ITEMS = (
    ("restyle", "Restyle", "Regenerate the whole frame from the layout's depth"),
    ("selective", "Selective", "Regenerate only the chosen objects and keep the rest"),
)


class NeuralPrevisSceneSettings(bpy.types.PropertyGroup):
    """Everything that decides a take, saved with the scene. Operator arguments override each field."""

    bundle_directory: StringProperty(
        name="Bundle Folder",
        description="Folder that receives the conditioning bundle (depth, object masks, camera path); '//' is the .blend's folder",
        subtype="DIR_PATH",
        default="//neural_previs/bundle/",
        options=BLEND_RELATIVE_PATH_OPTIONS,
    )
    prompt: StringProperty(name="Prompt", description="What the shot should look like, e.g. 'a rainy neon street at night'")
    negative_prompt: StringProperty(name="Negative Prompt", description="What to steer away from")
    seed: IntProperty(name="Seed", description="Same seed, layout and settings give the same take", default=0, min=0, max=MAX_SEED)
    random_seed: BoolProperty(name="Random Seed", description="Draw a new seed for each take (it is recorded on the take)", default=False)
    steps: IntProperty(name="Steps", description="Denoising steps; 0 uses the model's default", default=0, min=0, max=200)
    guidance: FloatProperty(name="Guidance", description="Prompt guidance scale; 0 uses the model's default", default=0.0, min=0.0, max=30.0)
    model: StringProperty(
        name="Model",
        description="Model name (wan-vace-1.3b, wan-vace-14b, animatediff-controlnet, tiny-random), a local folder or a Hugging Face repo id; empty uses the preferences' default",
    )
    mode: EnumProperty(name="Mode", items=MODE_ITEMS, default="restyle")
    selective_collection: PointerProperty(
        name="Restyle Collection", type=bpy.types.Collection, description="Selective mode: the objects of this collection are regenerated"
    )
    selective_objects: StringProperty(
        name="Restyle Objects", description="Selective mode: names of further objects to regenerate, separated by commas"
    )
    reference_image: StringProperty(
        name="Reference", description="Optional style reference image", subtype="FILE_PATH", options=BLEND_RELATIVE_PATH_OPTIONS
    )
    output_directory: StringProperty(
        name="Output Folder",
        description="Where bundles and takes are written; '//' is the .blend's folder",
        subtype="DIR_PATH",
        default="//neural_previs/",
        options=BLEND_RELATIVE_PATH_OPTIONS,
    )


class NeuralPrevisRuntimeState(bpy.types.PropertyGroup):
    """Lives on the WindowManager: never saved, never part of the user's scene."""

    conditioning_running: BoolProperty(default=False)
    conditioning_progress: FloatProperty(default=0.0, min=0.0, max=1.0, subtype="FACTOR")
    conditioning_status: StringProperty(default="")
    generation_running: BoolProperty(default=False)
    generation_progress: FloatProperty(default=0.0, min=0.0, max=1.0, subtype="FACTOR")
    generation_status: StringProperty(default="")
    cancel_requested: BoolProperty(default=False)
    last_error: StringProperty(default="")
    engine_status: StringProperty(default="Stopped")


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
