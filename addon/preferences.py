"""Add-on preferences: where the engine's Python and the models are, and the defaults for new takes.

The class holds the settings only; ui/preferences.py gives it its draw() when it registers.
"""

import bpy
from bpy.props import EnumProperty, StringProperty

from .extension import EXTENSION_PACKAGE, get_preferences  # noqa: F401 (get_preferences: imported from here too)

DEVICE_ITEMS = (
    ("auto", "Automatic", "The first NVIDIA GPU, else Apple's GPU, else the CPU (a real model on the CPU asks first)"),
    ("cuda", "NVIDIA GPU", "The first CUDA GPU"),
    ("mps", "Apple GPU", "The GPU of an Apple-silicon Mac (MPS)"),
    ("cpu", "CPU", "The CPU, chosen knowingly: real models take hours, only the tiny-random test model is quick"),
)
OFFLOAD_ITEMS = (
    ("none", "Fastest", "Everything stays on the GPU"),
    ("model", "Less Memory", "One model on the GPU at a time"),
    ("group", "Least Memory", "Layers streamed to the GPU in groups; slowest"),
)


class NeuralPrevisPreferences(bpy.types.AddonPreferences):
    bl_idname = EXTENSION_PACKAGE

    engine_python: StringProperty(
        name="Engine Python",
        description="Python interpreter of the engine's own environment (with torch and diffusers); empty uses the one 'Set Up Engine' made. "
        "The NEURAL_PREVIS_PYTHON environment variable overrides it",
        subtype="FILE_PATH",
    )
    models_directory: StringProperty(
        name="Models Folder",
        description="A Hugging Face home folder holding the models (its hub/ cache); empty uses the standard Hugging Face cache",
        subtype="DIR_PATH",
    )
    default_model: StringProperty(
        name="Default Model",
        description="Model for scenes that name none: wan-vace-1.3b, wan-vace-14b, animatediff-controlnet, tiny-random, a folder or a repo id",
        default="wan-vace-1.3b",
    )
    device: EnumProperty(name="Device", items=DEVICE_ITEMS, default="auto")
    offload: EnumProperty(name="Memory Profile", items=OFFLOAD_ITEMS, default="none")


def register():
    bpy.utils.register_class(NeuralPrevisPreferences)


def unregister():
    bpy.utils.unregister_class(NeuralPrevisPreferences)
