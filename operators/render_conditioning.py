"""`neural_previs.render_conditioning`: render the shot's conditioning bundle.

From a button it runs modally, a few frames per timer tick within a time budget, so Blender stays
responsive; Esc or the Cancel button cancels and leaves nothing behind, as do loading another file
or closing the window (Blender calls cancel()) and disabling the add-on (addon/running_jobs.py).
From a script or in background mode it blocks.
"""

import time
from dataclasses import dataclass, field

import bpy
from bpy.props import EnumProperty, StringProperty

from ..addon import running_jobs
from ..addon.compat import BLEND_RELATIVE_PATH_OPTIONS
from ..addon.conditioning import DEFAULT_DEPTH_COMPRESSION, ConditioningError, ConditioningRender
from ..addon.generation import Progress
from .messages import failure_message

_TICK_BUDGET_S = 0.1


def _scene_has_a_camera(scene) -> bool:
    return scene.camera is not None or any(m.camera is not None for m in scene.timeline_markers)


def _failure_message(error: BaseException) -> str:
    return failure_message(error, (ConditioningError,), "Conditioning render")


@dataclass
class ConditioningJob:
    """A modal conditioning render as addon/running_jobs.py sees it."""

    render: ConditioningRender
    progress: Progress = field(default_factory=lambda: Progress("conditioning", 0.0, "Rendering conditioning"))
    cancel_requested: bool = False

    def cancel(self) -> None:
        self.cancel_requested = True


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
        state = context.window_manager.neural_previs
        if state.conditioning_running or state.generation_running:
            cls.poll_message_set("A conditioning render or a take is already running; wait for it or press Cancel")
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
        return self.start_modal(context)

    def start_modal(self, context):
        """Begin the render and hand the frames to timer ticks."""
        try:
            render = ConditioningRender(context, self._directory(context), self.depth_compression)
            render.begin()
        except Exception as error:
            self.report({"ERROR"}, _failure_message(error))
            return {"CANCELLED"}
        wm = context.window_manager
        self._job = ConditioningJob(render)
        self._timer = wm.event_timer_add(0.01, window=context.window)
        job, timer = self._job, self._timer
        running_jobs.start(running_jobs.CONDITIONING, job, lambda: _stop(wm, job, timer))
        wm.progress_begin(0, len(render.frames))
        wm.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        job = self._job
        if self._timer is None:  # already stopped (the add-on's unregister)
            return {"CANCELLED"}
        if (event.type == "ESC" and event.value == "PRESS") or job.cancel_requested:
            job.render.abort()
            self._end(context)
            self.report({"WARNING"}, "Conditioning render cancelled; nothing was written")
            return {"CANCELLED"}
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        try:
            deadline = time.monotonic() + _TICK_BUDGET_S
            more = True
            while more and time.monotonic() < deadline:
                more = job.render.render_next_frame()
            done, total = job.render.progress
            self._show_progress(context, done, total)
            if more:
                return {"RUNNING_MODAL"}
            path = job.render.finish()
        except Exception as error:
            job.render.abort()
            self._end(context)
            self.report({"ERROR"}, _failure_message(error))
            return {"CANCELLED"}
        self._end(context)
        self.report({"INFO"}, f"Conditioning bundle of {total} frames written to {path}")
        return {"FINISHED"}

    def cancel(self, context):
        """Blender ends the operator (another file is loading, the window closes): nothing is written."""
        if getattr(self, "_timer", None) is not None:
            _stop(context.window_manager, self._job, self._timer)
            self._timer = None

    def _show_progress(self, context, done, total):
        self._job.progress = Progress("conditioning", done / max(total, 1), f"Conditioning frame {done}/{total}")
        context.window_manager.progress_update(done)
        if context.workspace:
            context.workspace.status_text_set(f"{self._job.progress.text} (Esc cancels)")
        for area in context.screen.areas if context.screen else ():
            area.tag_redraw()

    def _end(self, context):
        if self._timer is not None:
            _stop(context.window_manager, self._job, self._timer)
            self._timer = None
        if context.workspace:
            context.workspace.status_text_set(None)


def _stop(wm, job: ConditioningJob, timer) -> None:
    """End the render now: partial output removed, the scene's frame and camera restored."""
    job.render.abort()
    running_jobs.finish(running_jobs.CONDITIONING, job)
    wm.event_timer_remove(timer)
    wm.progress_end()


def register():
    bpy.utils.register_class(NEURAL_PREVIS_OT_render_conditioning)


def unregister():
    bpy.utils.unregister_class(NEURAL_PREVIS_OT_render_conditioning)
