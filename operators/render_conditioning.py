"""`neural_previs.render_conditioning`: render the shot's conditioning bundle.

From a button it runs modally, a few frames per timer tick within a time budget, so Blender stays
responsive; Esc cancels and leaves nothing behind. From a script or in background mode it blocks.
"""

import time

import bpy
from bpy.props import EnumProperty, StringProperty

from ..addon.compat import BLEND_RELATIVE_PATH_OPTIONS
from ..addon.conditioning import DEFAULT_DEPTH_COMPRESSION, ConditioningError, ConditioningRender
from .messages import failure_message

_TICK_BUDGET_S = 0.1


def _scene_has_a_camera(scene) -> bool:
    return scene.camera is not None or any(m.camera is not None for m in scene.timeline_markers)


def _failure_message(error: BaseException) -> str:
    return failure_message(error, (ConditioningError,), "Conditioning render")


class NEURAL_PREVIS_OT_render_conditioning(bpy.types.Operator):
    bl_idname = "neural_previs.render_conditioning"
    bl_label = "Render Conditioning"
    bl_description = "Render depth, object masks and the camera path of the scene's frame range into a bundle folder"
    bl_options = {"REGISTER"}

    directory: StringProperty(
        name="Folder",
        description="Bundle folder; empty uses the scene's Neural Previs bundle folder",
        subtype="DIR_PATH",
        default="",
        options={"SKIP_SAVE"} | BLEND_RELATIVE_PATH_OPTIONS,
    )

    depth_compression: EnumProperty(
        name="Depth Compression",
        items=(
            ("zip", "ZIP", "Lossless ZIP: depth files about a third of the size, more time to write"),
            ("none", "None", "Uncompressed: fastest to write and read, larger files"),
        ),
        default=DEFAULT_DEPTH_COMPRESSION,
        options={"SKIP_SAVE"},
    )

    @classmethod
    def poll(cls, context):
        scene = context.scene
        if scene is None:
            return False
        if context.window_manager.neural_previs.conditioning_running:
            cls.poll_message_set("A conditioning render is already running")
            return False
        if not _scene_has_a_camera(scene):
            cls.poll_message_set("The scene has no camera; add one and make it the scene camera")
            return False
        return True

    def _directory(self, context) -> str:
        directory = self.directory or context.scene.neural_previs.bundle_directory
        if directory.startswith("//") and not bpy.data.filepath:
            raise ConditioningError("The .blend is not saved, so '//' has no folder; save it or choose an absolute bundle folder")
        return directory

    def execute(self, context):
        try:
            job = ConditioningRender(context, self._directory(context), self.depth_compression)
            job.begin()
        except Exception as error:
            self.report({"ERROR"}, _failure_message(error))
            return {"CANCELLED"}
        try:
            while job.render_next_frame():
                pass
            path = job.finish()
        except Exception as error:
            job.abort()
            self.report({"ERROR"}, _failure_message(error))
            return {"CANCELLED"}
        self.report({"INFO"}, f"Conditioning bundle of {len(job.frames)} frames written to {path}")
        return {"FINISHED"}

    def invoke(self, context, event):
        if bpy.app.background:
            return self.execute(context)
        try:
            self._job = ConditioningRender(context, self._directory(context), self.depth_compression)
            self._job.begin()
        except Exception as error:
            self.report({"ERROR"}, _failure_message(error))
            return {"CANCELLED"}
        wm = context.window_manager
        state = wm.neural_previs
        state.conditioning_running = True
        state.conditioning_progress = 0.0
        state.conditioning_status = "Rendering conditioning"
        self._timer = wm.event_timer_add(0.01, window=context.window)
        wm.progress_begin(0, len(self._job.frames))
        wm.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        if event.type == "ESC":
            self._job.abort()
            self._end(context)
            self.report({"WARNING"}, "Conditioning render cancelled; nothing was written")
            return {"CANCELLED"}
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        try:
            deadline = time.monotonic() + _TICK_BUDGET_S
            more = True
            while more and time.monotonic() < deadline:
                more = self._job.render_next_frame()
            done, total = self._job.progress
            self._show_progress(context, done, total)
            if more:
                return {"RUNNING_MODAL"}
            path = self._job.finish()
        except Exception as error:
            self._job.abort()
            self._end(context)
            self.report({"ERROR"}, _failure_message(error))
            return {"CANCELLED"}
        self._end(context)
        self.report({"INFO"}, f"Conditioning bundle of {total} frames written to {path}")
        return {"FINISHED"}

    def _show_progress(self, context, done, total):
        state = context.window_manager.neural_previs
        state.conditioning_progress = done / max(total, 1)
        state.conditioning_status = f"Conditioning frame {done}/{total} (Esc cancels)"
        context.window_manager.progress_update(done)
        if context.workspace:
            context.workspace.status_text_set(state.conditioning_status)
        for area in context.screen.areas if context.screen else ():
            area.tag_redraw()

    def _end(self, context):
        wm = context.window_manager
        wm.event_timer_remove(self._timer)
        wm.progress_end()
        wm.neural_previs.conditioning_running = False
        wm.neural_previs.conditioning_status = ""
        if context.workspace:
            context.workspace.status_text_set(None)


def register():
    bpy.utils.register_class(NEURAL_PREVIS_OT_render_conditioning)


def unregister():
    bpy.utils.unregister_class(NEURAL_PREVIS_OT_render_conditioning)
