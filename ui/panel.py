"""The Neural Previs panel in the 3D View sidebar (N panel, "Neural Previs" tab)."""

import bpy


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
        column.prop(settings, "bundle_directory", text="Bundle")
        if state.conditioning_running:
            column.progress(factor=state.conditioning_progress, text=state.conditioning_status)
        else:
            column.operator("neural_previs.render_conditioning", icon="RENDER_ANIMATION")


def register():
    bpy.utils.register_class(NEURAL_PREVIS_PT_main)


def unregister():
    bpy.utils.unregister_class(NEURAL_PREVIS_PT_main)
