"""Neural Previs settings: per-scene settings saved with the .blend, and transient per-session state on the WindowManager."""

import zlib

import bpy
from bpy.props import BoolProperty, CollectionProperty, EnumProperty, FloatProperty, IntProperty, PointerProperty, StringProperty

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

# Storyboard control (issue 15): keyframes pinned at frames, and a control per object. Item numbers are
# fixed so a saved choice keeps its meaning if items are added.
KEYFRAME_MODE_ITEMS = (
    ("exact", "Exact", "The take's frame is this image, pixel for pixel, and the frames around lead into and out of it", 0),
    ("guide", "Guide", "The take is steered towards this image at this frame, but the frame is the model's", 1),
)
CONTROL_ITEMS = (
    ("depth", "Depth", "The model follows this object's shape (depth), the default", 0),
    ("pose", "Pose", "A rigged character: the model follows its skeleton's pose instead of its proxy's depth", 1),
    ("keep", "Keep", "Keep this object's pixels from the plate, as Selective mode keeps what it does not regenerate", 2),
)


class NeuralPrevisKeyframe(bpy.types.PropertyGroup):
    """One image pinned at a scene frame of the shot (the Keyframes list)."""

    frame: IntProperty(name="Frame", description="The scene frame the image is pinned at")
    image: StringProperty(name="Image", description="The keyframe image (any size: scaled to cover the frame and centre-cropped)",
                          subtype="FILE_PATH", options=BLEND_RELATIVE_PATH_OPTIONS)
    mode: EnumProperty(name="Mode", items=KEYFRAME_MODE_ITEMS, default="exact")


class NeuralPrevisSetReference(bpy.types.PropertyGroup):
    """A take whose set the next takes keep (issue 16 §4, Use as Set Reference in the Sequencer tab)."""

    name: StringProperty(name="Take", description="The take's strip name when it was chosen")
    folder: StringProperty(name="Take Folder", description="The take's folder (absolute: it may belong to another shot)")


# -- LoRAs (engine/models/loras.py) --
class NeuralPrevisLora(bpy.types.PropertyGroup):
    """One LoRA of the scene's takes: a .safetensors file (or a Hugging Face repo id) and its weight."""

    path: StringProperty(
        name="LoRA File",
        description="A LoRA .safetensors file for Wan (ComfyUI, diffusers, Kohya/musubi or lightx2v format), "
                    "or a Hugging Face repo id such as org/name/file.safetensors",
        subtype="FILE_PATH",
        options=BLEND_RELATIVE_PATH_OPTIONS,
    )
    weight: FloatProperty(name="Weight", description="How strongly the LoRA changes the model; 0 turns it off",
                          default=1.0, soft_min=-2.0, soft_max=2.0, min=-10.0, max=10.0)
    enabled: BoolProperty(name="Use", description="Use this LoRA for the scene's takes", default=True)


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
    # issue 16 §4: takes whose surfaces the next takes keep exactly (Sequencer tab: Use as Set Reference)
    set_references: CollectionProperty(type=NeuralPrevisSetReference, name="Set References")
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
    # Storyboard control (issue 15)
    keyframes: CollectionProperty(type=NeuralPrevisKeyframe, name="Keyframes")
    keyframe_index: IntProperty(name="Active Keyframe", default=0, min=0)
    # -- LoRAs --
    loras: CollectionProperty(type=NeuralPrevisLora, name="LoRAs", description="LoRAs applied to the model for the scene's takes")
    lora_index: IntProperty(name="Active LoRA", default=0, min=0)


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
    engine_setup_running: BoolProperty(get=_running(running_jobs.SETUP))
    engine_setup_progress: FloatProperty(default=0.0, min=0.0, max=1.0, subtype="FACTOR")
    engine_setup_status: StringProperty(default="")


_CLASSES = (NeuralPrevisKeyframe, NeuralPrevisSetReference, NeuralPrevisLora, NeuralPrevisSceneSettings, NeuralPrevisRuntimeState)


def register():
    for cls in _CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.Scene.neural_previs = PointerProperty(type=NeuralPrevisSceneSettings)
    bpy.types.WindowManager.neural_previs = PointerProperty(type=NeuralPrevisRuntimeState)
    bpy.types.Object.neural_previs_control = EnumProperty(
        name="Neural Previs Control", items=CONTROL_ITEMS, default="depth",
        description="What the model is shown of this object: its depth, its skeleton (rigged characters) or the plate's pixels",
    )


def unregister():
    del bpy.types.Object.neural_previs_control
    del bpy.types.WindowManager.neural_previs
    del bpy.types.Scene.neural_previs
    for cls in reversed(_CLASSES):
        bpy.utils.unregister_class(cls)
