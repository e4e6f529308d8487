"""The Keyframes list's buttons (issue 15): add and remove rows, Pin Current Frame (the take under the
playhead, from the Sequencer's Neural Previs tab) and Pin Render (the scene's own render of this frame).

Pinned images are written under the output folder (`<output>/<shot>/keyframes/`), never over a file."""

import bpy
from bpy.props import IntProperty

from ..addon import storyboard
from ..addon.generation import GenerationRequest, _output_root


def _folder(operator, context):
    request = GenerationRequest()
    folder = storyboard.keyframes_folder(_output_root(context.scene.neural_previs, request), context.scene)
    for warning in request.warnings:
        operator.report({"WARNING"}, warning)
    return folder


class NEURAL_PREVIS_OT_keyframe_add(bpy.types.Operator):
    bl_idname = "neural_previs.keyframe_add"
    bl_label = "Add Keyframe"
    bl_description = "Pin an image at the current frame (choose its Image in the list)"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        settings = context.scene.neural_previs
        if any(k.frame == context.scene.frame_current for k in settings.keyframes):
            self.report({"ERROR"}, f"A keyframe is already pinned at frame {context.scene.frame_current}; change its Image instead")
            return {"CANCELLED"}
        storyboard.add_keyframe(settings, context.scene.frame_current, "")
        return {"FINISHED"}


class NEURAL_PREVIS_OT_keyframe_remove(bpy.types.Operator):
    bl_idname = "neural_previs.keyframe_remove"
    bl_label = "Remove Keyframe"
    bl_description = "Remove the selected keyframe from the list (its image file is kept)"
    bl_options = {"REGISTER", "UNDO"}

    index: IntProperty(default=-1, options={"SKIP_SAVE"})

    def execute(self, context):
        settings = context.scene.neural_previs
        index = self.index if self.index >= 0 else settings.keyframe_index
        if not 0 <= index < len(settings.keyframes):
            self.report({"ERROR"}, "No keyframe is selected in the Keyframes list")
            return {"CANCELLED"}
        settings.keyframes.remove(index)
        settings.keyframe_index = max(0, min(index, len(settings.keyframes) - 1))
        return {"FINISHED"}


class _PinKeyframe:
    """Pin an image made by ``pin(scene, folder)`` at the current frame; ``done`` words the report."""

    bl_options = {"REGISTER", "UNDO"}
    done = "pinned"

    @classmethod
    def poll(cls, context):
        return context.scene is not None

    def execute(self, context):
        try:
            path = self.pin(context.scene, _folder(self, context))
        except (storyboard.StoryboardError, OSError) as error:
            self.report({"ERROR"}, str(error))
            return {"CANCELLED"}
        self.report({"INFO"}, f"Keyframe {self.done} at frame {context.scene.frame_current}: {path.name}")
        return {"FINISHED"}


class NEURAL_PREVIS_OT_keyframe_pin_frame(_PinKeyframe, bpy.types.Operator):
    bl_idname = "neural_previs.keyframe_pin_frame"
    bl_label = "Pin Current Frame"
    bl_description = "Pin the image of the take under the playhead, at the current frame, as a keyframe of the next take"
    pin = staticmethod(storyboard.pin_current_frame)


class NEURAL_PREVIS_OT_keyframe_pin_render(_PinKeyframe, bpy.types.Operator):
    bl_idname = "neural_previs.keyframe_pin_render"
    bl_label = "Pin Render"
    bl_description = "Render the current frame with the scene's own render engine and settings and pin it as a keyframe"
    done = "rendered"
    pin = staticmethod(storyboard.pin_render)


_CLASSES = (NEURAL_PREVIS_OT_keyframe_add, NEURAL_PREVIS_OT_keyframe_remove, NEURAL_PREVIS_OT_keyframe_pin_frame,
            NEURAL_PREVIS_OT_keyframe_pin_render)

register, unregister = bpy.utils.register_classes_factory(_CLASSES)
