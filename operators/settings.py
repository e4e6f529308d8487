"""Operators that fill in the scene's Neural Previs settings from the panel: the model, the prompt's text block, the LoRAs."""

import bpy
from bpy.props import IntProperty, StringProperty

from ..addon.compat import BLEND_RELATIVE_PATH_OPTIONS
from ..addon.generation import scene_prompt


class NEURAL_PREVIS_OT_model_choose(bpy.types.Operator):
    bl_idname = "neural_previs.model_choose"
    bl_label = "Choose Model"
    bl_description = "Use this model for the scene's takes; without a model name, choose a local diffusers folder"
    bl_options = {"REGISTER", "UNDO"}

    model: StringProperty(name="Model", description="A model name the engine knows; empty: choose a folder", options={"SKIP_SAVE"})
    directory: StringProperty(name="Model Folder", subtype="DIR_PATH", options={"SKIP_SAVE"} | BLEND_RELATIVE_PATH_OPTIONS)

    def invoke(self, context, event):
        if self.model or self.directory:
            return self.execute(context)
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def execute(self, context):
        chosen = self.model or self.directory
        if not chosen:
            self.report({"ERROR"}, "Choose a model from the list, or a folder holding a diffusers model (its model_index.json)")
            return {"CANCELLED"}
        context.scene.neural_previs.model = chosen
        return {"FINISHED"}


class NEURAL_PREVIS_OT_prompt_edit(bpy.types.Operator):
    bl_idname = "neural_previs.prompt_edit"
    bl_label = "Edit Prompt"
    bl_description = "Write the prompt on several lines in a text block (made from the current prompt if there is none), shown in a Text Editor window"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        settings = context.scene.neural_previs
        if settings.prompt_text is None:
            text = bpy.data.texts.new(f"{context.scene.name} prompt")
            text.from_string(scene_prompt(settings))
            settings.prompt_text = text
        if not bpy.app.background:
            _show_in_text_editor(context, settings.prompt_text)
        return {"FINISHED"}


class NEURAL_PREVIS_OT_lora_add(bpy.types.Operator):
    bl_idname = "neural_previs.lora_add"
    bl_label = "Add LoRA"
    bl_description = "Choose a LoRA .safetensors file to apply to the model for this scene's takes"
    bl_options = {"REGISTER", "UNDO"}

    filepath: StringProperty(name="LoRA File", subtype="FILE_PATH", options={"SKIP_SAVE"} | BLEND_RELATIVE_PATH_OPTIONS)
    filter_glob: StringProperty(default="*.safetensors", options={"HIDDEN", "SKIP_SAVE"})

    def invoke(self, context, event):
        if self.filepath:
            return self.execute(context)
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def execute(self, context):
        if not self.filepath:
            self.report({"ERROR"}, "Choose a LoRA .safetensors file")
            return {"CANCELLED"}
        settings = context.scene.neural_previs
        lora = settings.loras.add()
        lora.path = self.filepath
        settings.lora_index = len(settings.loras) - 1
        return {"FINISHED"}


class NEURAL_PREVIS_OT_lora_remove(bpy.types.Operator):
    bl_idname = "neural_previs.lora_remove"
    bl_label = "Remove LoRA"
    bl_description = "Remove the LoRA from this scene's list (the file stays where it is)"
    bl_options = {"REGISTER", "UNDO"}

    index: IntProperty(name="Index", default=-1, options={"SKIP_SAVE"})

    def execute(self, context):
        settings = context.scene.neural_previs
        index = self.index if self.index >= 0 else settings.lora_index
        if not 0 <= index < len(settings.loras):
            return {"CANCELLED"}
        settings.loras.remove(index)
        settings.lora_index = max(0, min(settings.lora_index, len(settings.loras) - 1))
        return {"FINISHED"}


def _show_in_text_editor(context, text) -> None:
    """A new window showing the text block: the artist's own layout is left as it is."""
    before = set(context.window_manager.windows[:])
    bpy.ops.wm.window_new()
    window = next((w for w in context.window_manager.windows if w not in before), None)
    if window is None:
        return
    area = window.screen.areas[0]
    area.type = "TEXT_EDITOR"
    area.spaces.active.text = text
    area.spaces.active.show_word_wrap = True


_CLASSES = (NEURAL_PREVIS_OT_model_choose, NEURAL_PREVIS_OT_prompt_edit, NEURAL_PREVIS_OT_lora_add, NEURAL_PREVIS_OT_lora_remove)


register, unregister = bpy.utils.register_classes_factory(_CLASSES)
