"""The Neural Previs panel in the 3D View sidebar (N panel, "Neural Previs" tab): the take's settings, Generate, progress, errors."""

import bpy

from ..addon import engine_session, takes
from ..addon.compat import all_strips_property
from ..addon.extension import get_preferences
from ..addon.text_lines import wrap

DOWNLOAD_OPERATOR = "NEURAL_PREVIS_OT_model_download"  # `neural_previs.model_download(model=...)`, where installed


def region_lines(context, text: str, indent_px: float = 0.0) -> list[str]:
    width = context.region.width if context.region else 300
    return wrap(text, width, context.preferences.system.ui_scale, indent_px)


def draw_wrapped(layout, context, text: str, icon: str = "NONE") -> None:
    """Every word of `text`, on as many lines as the sidebar needs; the first line carries the icon."""
    column = layout.column(align=True)
    for index, line in enumerate(region_lines(context, text, indent_px=20 if icon != "NONE" else 0)):
        column.label(text=line, icon=icon if index == 0 else "BLANK1" if icon != "NONE" else "NONE")


def known_models() -> list[dict]:
    """The models of the engine's hello (its latest, kept after it stops), each with `name` and `available`."""
    hello = engine_session.last_hello()
    return list(hello.models) if hello is not None else []


class NEURAL_PREVIS_MT_models(bpy.types.Menu):
    bl_idname = "NEURAL_PREVIS_MT_models"
    bl_label = "Model"

    def draw(self, context):
        layout = self.layout
        models = known_models()
        if not models:
            layout.label(text="Start the engine to list its models", icon="INFO")
            layout.operator("neural_previs.engine_start", icon="PLAY")
        for model in models:
            installed = bool(model.get("available"))
            text = model["name"] if installed else f"{model['name']} (not installed)"
            layout.operator("neural_previs.model_choose", text=text, icon="CHECKMARK" if installed else "IMPORT").model = model["name"]
        layout.separator()
        layout.operator("neural_previs.model_choose", text="Folder…", icon="FILE_FOLDER")


def _draw_model(layout, context, settings) -> None:
    chosen = settings.model or get_preferences(context).default_model
    row = layout.row(align=True)
    row.label(text="Model")
    row.menu(NEURAL_PREVIS_MT_models.bl_idname, text=chosen if settings.model else f"{chosen} (default)")
    entry = next((m for m in known_models() if m["name"] == chosen), None)
    if entry is not None and not entry.get("available"):
        box = layout.box()
        box.label(text=f"{chosen} is not installed on this machine", icon="ERROR")
        if hasattr(bpy.types, DOWNLOAD_OPERATOR):
            box.operator("neural_previs.model_download", text="Download", icon="IMPORT").model = chosen
        else:
            draw_wrapped(box, context, "This version cannot download models from Blender; pick an installed model, or a folder")


def _draw_prompt(layout, context, settings) -> None:
    row = layout.row(align=True)
    if settings.prompt_text is None:
        row.prop(settings, "prompt", text="")
        row.operator("neural_previs.prompt_edit", text="", icon="TEXT")
        return
    row.prop(settings, "prompt_text", text="")
    row.operator("neural_previs.prompt_edit", text="", icon="WINDOW")
    box = layout.box()
    for line in region_lines(context, settings.prompt_text.as_string().strip() or "(the prompt text is empty)")[:8]:
        box.label(text=line)


def _draw_seed(layout, scene, settings) -> None:
    row = layout.row(align=True)
    row.prop(settings, "seed")
    row.prop(settings, "random_seed", text="", icon="FILE_REFRESH")
    newest = next(iter(takes.take_strips(scene)), None)
    if newest is not None:
        seed = takes.take_row(newest).seed
        row = layout.row(align=True)
        row.label(text=f"Last take's seed: {seed}")
        row.operator("neural_previs.take_use_seed", text="Use", icon="PINNED").strip = newest.name


def _draw_selective(layout, scene, settings) -> None:
    box = layout.box()
    box.prop(settings, "selective_collection")
    box.prop(settings, "selective_objects")
    _draw_plate_fields(box, scene, settings)


def draw_plate(layout, scene, settings) -> None:
    """The plate on its own: objects kept from it by their control outside Selective mode (ui/storyboard.py)."""
    _draw_plate_fields(layout.box(), scene, settings)


def _draw_plate_fields(box, scene, settings) -> None:
    box.prop(settings, "plate_source", expand=True)
    if settings.plate_source == "TAKE":
        if scene.sequence_editor is not None:
            box.prop_search(settings, "plate_take", scene.sequence_editor, all_strips_property(scene.sequence_editor), text="Take")
        else:
            box.label(text="No takes on the timeline yet", icon="INFO")
    elif settings.plate_source == "FOLDER":
        box.prop(settings, "plate_directory", text="Folder")
    else:
        box.label(text=f"Rendered first with {scene.render.engine.replace('BLENDER_', '').title()}", icon="RENDER_STILL")


def draw_set_references(layout, scene) -> None:
    """The takes whose set the next takes keep, each removable (the 3D View's panel and the Sequencer tab)."""
    rows = takes.set_reference_rows(scene)
    if not rows:
        return
    box = layout.box()
    box.label(text="Set Reference: the next takes keep the set these takes show", icon="WORLD")
    for index, (name, folder, missing) in enumerate(rows):
        line = box.row(align=True)
        line.label(text=name if not missing else f"{name}: folder missing", icon="ERROR" if missing else "SEQUENCE")
        line.operator("neural_previs.set_reference_remove", text="", icon="X").index = index
# -- LoRAs --
class NEURAL_PREVIS_UL_loras(bpy.types.UIList):
    """One row per LoRA: used, file (with its file browser), weight."""

    bl_idname = "NEURAL_PREVIS_UL_loras"

    def draw_item(self, context, layout, data, item, icon, active_data, active_propname, index):
        row = layout.row(align=True)
        row.prop(item, "enabled", text="")
        row.prop(item, "path", text="")
        row.prop(item, "weight", text="")


def _draw_loras(layout, settings) -> None:
    header = layout.row(align=True)
    header.label(text="LoRAs", icon="MODIFIER")
    header.operator("neural_previs.lora_add", text="", icon="ADD")
    if len(settings.loras):
        header.operator("neural_previs.lora_remove", text="", icon="REMOVE")
        layout.template_list("NEURAL_PREVIS_UL_loras", "", settings, "loras", settings, "lora_index", rows=2)


class NEURAL_PREVIS_PT_main(bpy.types.Panel):
    bl_label = "Neural Previs"
    bl_idname = "NEURAL_PREVIS_PT_main"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Neural Previs"

    def draw(self, context):
        layout = self.layout
        scene = context.scene
        settings = scene.neural_previs
        state = context.window_manager.neural_previs

        column = layout.column()
        _draw_prompt(column, context, settings)
        column.prop(settings, "negative_prompt", text="Avoid")
        _draw_model(column, context, settings)
        column.prop(settings, "quality", expand=True)
        _draw_loras(column, settings)
        column.prop(settings, "conditioning_scale", slider=True)
        _draw_seed(column, scene, settings)
        row = column.row(align=True)
        row.prop(settings, "steps")
        row.prop(settings, "guidance")
        column.prop(settings, "mode", expand=True)
        if settings.mode == "selective":
            _draw_selective(column, scene, settings)
        draw_set_references(column, scene)  # issue 16 §4: Use as Set Reference (Sequencer tab)
        column.prop(settings, "reference_image")
        column.prop(settings, "offload")
        column.prop(settings, "weights")  # memory settings: FP8 weight storage (issue 14 section 6)
        column.prop(settings, "output_directory")

        layout.separator()
        if state.generation_running:
            layout.progress(factor=state.generation_progress, text=state.generation_status)
            layout.operator("neural_previs.cancel", icon="CANCEL")
        elif state.conditioning_running:
            layout.progress(factor=state.conditioning_progress, text=state.conditioning_status)
            layout.operator("neural_previs.cancel", icon="CANCEL")
        else:
            layout.operator("neural_previs.generate", icon="RENDER_ANIMATION")
        if state.last_error:
            draw_wrapped(layout, context, state.last_error, icon="ERROR")
        layout.label(text=engine_session.status_line(state), icon="SYSTEM")


class SidebarSubpanel:
    """A closed-by-default sub-panel of the 3D View sidebar's Neural Previs panel."""

    bl_parent_id = "NEURAL_PREVIS_PT_main"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Neural Previs"
    bl_options = {"DEFAULT_CLOSED"}


class NEURAL_PREVIS_PT_conditioning(SidebarSubpanel, bpy.types.Panel):
    bl_label = "Conditioning"
    bl_idname = "NEURAL_PREVIS_PT_conditioning"

    def draw(self, context):
        layout = self.layout
        settings = context.scene.neural_previs
        state = context.window_manager.neural_previs
        layout.prop(settings, "bundle_directory", text="Bundle")
        if not state.conditioning_running and not state.generation_running:
            layout.operator("neural_previs.render_conditioning", icon="RENDER_RESULT")
        layout.operator("neural_previs.import_take", icon="SEQUENCE")


_CLASSES = (NEURAL_PREVIS_MT_models, NEURAL_PREVIS_UL_loras, NEURAL_PREVIS_PT_main, NEURAL_PREVIS_PT_conditioning)


register, unregister = bpy.utils.register_classes_factory(_CLASSES)
