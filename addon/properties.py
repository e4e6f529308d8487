"""Neural Previs settings: per-scene settings saved with the .blend, and transient per-session state on the WindowManager."""

import zlib

import bpy
from bpy.props import BoolProperty, EnumProperty, FloatProperty, IntProperty, PointerProperty, StringProperty

from ..engine.formats.params import MAX_SEED, QUALITIES, QUALITY_DESCRIPTIONS
from . import running_jobs
from .compat import BLEND_RELATIVE_PATH_OPTIONS
from .preferences import OFFLOAD_ITEMS

MODE_ITEMS = (
    ("restyle", "Restyle", "Regenerate the whole frame from the layout's depth"),
    ("selective", "Selective", "Regenerate only the chosen objects and keep the rest of each frame from a plate"),
)
# The engine's qualities, whatever it knows (a new one in engine/formats/params.py shows up here). Each
# item's number comes from its name, so a saved choice means the same quality after the list changes.
QUALITY_ITEMS = tuple((q, q.capitalize(), QUALITY_DESCRIPTIONS.get(q, q), zlib.crc32(q.encode()) & 0x7FFFFFFF) for q in QUALITIES)
SCENE_OFFLOAD_ITEMS = (("preferences", "As in Preferences", "The memory profile chosen in the Neural Previs preferences"),) + OFFLOAD_ITEMS
# --- experts (issue 14 section 6): how the model's transformer stores its weights (--weights) ---
WEIGHT_ITEMS = (
    ("auto", "As Loaded", "The transformer's weights in the precision they load in"),
    ("fp8", "FP8", "Transformer weights stored in 8 bits and computed in 16: about half the GPU memory, slightly different pictures"),
)
PLATE_ITEMS = (
    ("TAKE", "Take", "A take on this scene's timeline"),
    ("FOLDER", "Folder", "A folder of frames named by scene frame (0001.png, ...)"),
    ("RENDER", "Render Plate", "Render the scene's own frames with its render engine and settings, then keep them"),
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
    prompt_text: PointerProperty(
        name="Prompt Text",
        type=bpy.types.Text,
        description="A text block holding a longer, multi-line prompt; when set it is used instead of the one-line prompt",
    )
    negative_prompt: StringProperty(name="Negative Prompt", description="What to steer away from")
    seed: IntProperty(name="Seed", description="Same seed, layout and settings give the same take", default=0, min=0, max=MAX_SEED)
    random_seed: BoolProperty(name="Random Seed", description="Draw a new seed for each take (it is recorded on the take)", default=True)
    steps: IntProperty(name="Steps", description="Denoising steps; 0 uses the model's default", default=0, min=0, max=200)
    guidance: FloatProperty(name="Guidance", description="Prompt guidance scale; 0 uses the model's default", default=0.0, min=0.0, max=30.0)
    model: StringProperty(
        name="Model",
        description="Model name (as listed by the engine), a local diffusers folder or a Hugging Face repo id; empty uses the preferences' default",
    )
    quality: EnumProperty(name="Quality", items=QUALITY_ITEMS, default="final", description="How much time the engine spends on the take")
    conditioning_scale: FloatProperty(
        name="Strength", description="How closely the take follows the layout's depth (the control strength)", default=1.0, min=0.0, max=10.0
    )
    offload: EnumProperty(
        name="Memory Profile", items=SCENE_OFFLOAD_ITEMS, default="preferences", description="GPU memory against speed, for this scene"
    )
    # --- experts (issue 14 section 6) ---
    weights: EnumProperty(name="Weights", items=WEIGHT_ITEMS, default="auto", description="How the model's transformer stores its weights on the GPU")
    mode: EnumProperty(name="Mode", items=MODE_ITEMS, default="restyle")
    selective_collection: PointerProperty(
        name="Collection to Regenerate", type=bpy.types.Collection, description="Selective mode: the objects of this collection are regenerated"
    )
    selective_objects: StringProperty(
        name="Objects to Regenerate", description="Selective mode: names of further objects to regenerate, separated by commas"
    )
    plate_source: EnumProperty(name="Plate", items=PLATE_ITEMS, default="TAKE", description="Selective mode: where the kept pixels come from")
    plate_take: StringProperty(name="Plate Take", description="Selective mode: the take strip whose frames are kept outside the regenerated objects")
    plate_directory: StringProperty(
        name="Plate Folder",
        description="Selective mode: a folder of frames named by scene frame, kept outside the regenerated objects",
        subtype="DIR_PATH",
        options=BLEND_RELATIVE_PATH_OPTIONS,
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


def _running(kind):
    return lambda self: running_jobs.get(kind) is not None


def _fraction(kind):
    return lambda self: job.progress.fraction if (job := running_jobs.get(kind)) is not None else 0.0


def _status(kind):
    return lambda self: f"{job.progress.text} (Esc cancels)" if (job := running_jobs.get(kind)) is not None else ""


class NeuralPrevisRuntimeState(bpy.types.PropertyGroup):
    """Lives on the WindowManager, never part of the user's scene. What runs is read from addon/running_jobs.py
    (read-only here), so no file load, window close or disabled add-on can leave a stale "running" behind."""

    conditioning_running: BoolProperty(get=_running(running_jobs.CONDITIONING))
    conditioning_progress: FloatProperty(get=_fraction(running_jobs.CONDITIONING), subtype="FACTOR")
    conditioning_status: StringProperty(get=_status(running_jobs.CONDITIONING))
    generation_running: BoolProperty(get=_running(running_jobs.GENERATION))
    generation_progress: FloatProperty(get=_fraction(running_jobs.GENERATION), subtype="FACTOR")
    generation_status: StringProperty(get=_status(running_jobs.GENERATION))
    last_error: StringProperty(default="")
    engine_status: StringProperty(default="Stopped")
    # Set Up Engine while it runs (operators/engine.py) and what it said last.
    engine_setup_running: BoolProperty(default=False)
    engine_setup_progress: FloatProperty(default=0.0, min=0.0, max=1.0, subtype="FACTOR")
    engine_setup_status: StringProperty(default="")


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
