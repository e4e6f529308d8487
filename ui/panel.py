"""The Neural Previs panel in the 3D View sidebar (N panel, "Neural Previs" tab)."""

import bpy

from ..addon import engine_session


class NEURAL_PREVIS_PT_main(bpy.types.Panel):
    bl_label = "Neural Previs"
    bl_idname = "NEURAL_PREVIS_PT_main"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Neural Previs"

    def draw(self, context):
        layout = self.layout
        settings = context.scene.neural_previs
        state = context.window_manager.neural_previs

        column = layout.column()
        column.prop(settings, "prompt", text="")
        column.prop(settings, "negative_prompt", text="Avoid")
        column.prop(settings, "model")
        row = column.row(align=True)
        row.prop(settings, "seed")
        row.prop(settings, "random_seed", text="", icon="FILE_REFRESH")
        row = column.row(align=True)
        row.prop(settings, "steps")
        row.prop(settings, "guidance")
        column.prop(settings, "mode", expand=True)
        if settings.mode == "selective":
            column.prop(settings, "selective_collection")
            column.prop(settings, "selective_objects")
        column.prop(settings, "reference_image")
        column.prop(settings, "output_directory")

        layout.separator()
        if state.generation_running:
            layout.progress(factor=state.generation_progress, text=state.generation_status)
            layout.operator("neural_previs.cancel", icon="CANCEL")
        elif state.conditioning_running:
            layout.progress(factor=state.conditioning_progress, text=state.conditioning_status)
        else:
            layout.operator("neural_previs.generate", icon="RENDER_ANIMATION")
        if state.last_error:
            layout.label(text=state.last_error, icon="ERROR")
        layout.label(text=engine_session.status_line(state), icon="SYSTEM")


class NEURAL_PREVIS_PT_conditioning(bpy.types.Panel):
    bl_label = "Conditioning"
    bl_idname = "NEURAL_PREVIS_PT_conditioning"
    bl_parent_id = "NEURAL_PREVIS_PT_main"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Neural Previs"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context):
        layout = self.layout
        settings = context.scene.neural_previs
        state = context.window_manager.neural_previs
        layout.prop(settings, "bundle_directory", text="Bundle")
        if not state.conditioning_running and not state.generation_running:
            layout.operator("neural_previs.render_conditioning", icon="RENDER_RESULT")
        layout.operator("neural_previs.import_take", icon="SEQUENCE")


_CLASSES = (NEURAL_PREVIS_PT_main, NEURAL_PREVIS_PT_conditioning)


register, unregister = bpy.utils.register_classes_factory(_CLASSES)
