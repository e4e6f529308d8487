"""`neural_previs.import_take`: put a take folder (from this machine or a farm) on the scene's timeline."""

import bpy
from bpy.props import StringProperty

from ..addon.compat import BLEND_RELATIVE_PATH_OPTIONS
from ..addon.take_files import TakeFolderError, read_take
from ..addon.timeline import TimelineError, next_take_name_in_scene, place_take
from .messages import failure_message


class NEURAL_PREVIS_OT_import_take(bpy.types.Operator):
    bl_idname = "neural_previs.import_take"
    bl_label = "Import Take"
    bl_description = "Add a generated take folder to the Sequencer as a new strip, without moving any existing strip"
    bl_options = {"REGISTER", "UNDO"}

    directory: StringProperty(
        name="Take Folder",
        description="A take folder holding take.json and frames/",
        subtype="DIR_PATH",
        options={"SKIP_SAVE"} | BLEND_RELATIVE_PATH_OPTIONS,
    )

    @classmethod
    def poll(cls, context):
        return context.scene is not None

    def invoke(self, context, event):
        if self.directory:
            return self.execute(context)
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def execute(self, context):
        folder = bpy.path.abspath(self.directory) if self.directory.startswith("//") else self.directory
        try:
            take = read_take(folder)
            strip = place_take(context.scene, take, next_take_name_in_scene(context.scene))
        except Exception as error:
            self.report({"ERROR"}, failure_message(error, (TakeFolderError, TimelineError), "Importing the take"))
            return {"CANCELLED"}
        self.report({"INFO"}, f"Take placed as '{strip.name}' on channel {strip.channel}, frames {take.first_frame}..{take.last_frame}")
        return {"FINISHED"}


def register():
    bpy.utils.register_class(NEURAL_PREVIS_OT_import_take)


def unregister():
    bpy.utils.unregister_class(NEURAL_PREVIS_OT_import_take)
