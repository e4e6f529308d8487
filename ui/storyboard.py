"""Storyboard control in the sidebar (issue 15): the Keyframes list, the objects' controls, and the
per-object choice in the Object properties."""

import bpy

from ..addon.storyboard import scene_controls
from .panel import SidebarSubpanel, draw_plate


class NEURAL_PREVIS_UL_keyframes(bpy.types.UIList):
    bl_idname = "NEURAL_PREVIS_UL_keyframes"

    def draw_item(self, context, layout, data, item, icon, active_data, active_property, index=0, flt_flag=0):
        row = layout.row(align=True)
        row.prop(item, "frame", text="")
        row.prop(item, "image", text="")
        row.prop(item, "mode", text="")


class NEURAL_PREVIS_PT_keyframes(SidebarSubpanel, bpy.types.Panel):
    bl_label = "Keyframes"
    bl_idname = "NEURAL_PREVIS_PT_keyframes"

    def draw(self, context):
        layout = self.layout
        settings = context.scene.neural_previs
        row = layout.row()
        row.template_list(NEURAL_PREVIS_UL_keyframes.bl_idname, "", settings, "keyframes", settings, "keyframe_index", rows=3)
        buttons = row.column(align=True)
        buttons.operator("neural_previs.keyframe_add", text="", icon="ADD")
        buttons.operator("neural_previs.keyframe_remove", text="", icon="REMOVE")
        row = layout.row(align=True)
        row.operator("neural_previs.keyframe_pin_render", icon="RENDER_STILL")
        row.operator("neural_previs.keyframe_pin_frame", icon="SEQUENCE")


class NEURAL_PREVIS_PT_object_controls(SidebarSubpanel, bpy.types.Panel):
    bl_label = "Object Controls"
    bl_idname = "NEURAL_PREVIS_PT_object_controls"

    def draw(self, context):
        layout = self.layout
        scene = context.scene
        # The objects with a control of their own, and the selected ones (to give them one); the rest are Depth.
        names = sorted(set(scene_controls(scene)) | {o.name_full for o in context.selected_objects or ()})
        if not names:
            layout.label(text="Every object is Depth; select one to change it", icon="INFO")
        column = layout.column(align=True)
        for name in names:
            obj = scene.objects.get(name)
            if obj is not None:
                column.prop(obj, "neural_previs_control", text=name)
        if "keep" in scene_controls(scene).values() and scene.neural_previs.mode != "selective":
            draw_plate(layout, scene, scene.neural_previs)


class NEURAL_PREVIS_PT_object_control(bpy.types.Panel):
    bl_label = "Neural Previs"
    bl_idname = "NEURAL_PREVIS_PT_object_control"
    bl_space_type = "PROPERTIES"
    bl_region_type = "WINDOW"
    bl_context = "object"
    bl_options = {"DEFAULT_CLOSED"}

    @classmethod
    def poll(cls, context):
        return context.object is not None

    def draw(self, context):
        self.layout.prop(context.object, "neural_previs_control", text="Control")


_CLASSES = (NEURAL_PREVIS_UL_keyframes, NEURAL_PREVIS_PT_keyframes, NEURAL_PREVIS_PT_object_controls, NEURAL_PREVIS_PT_object_control)

register, unregister = bpy.utils.register_classes_factory(_CLASSES)
