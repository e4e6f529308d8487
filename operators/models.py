"""`neural_previs.model_download`, `neural_previs.model_download_cancel` and `neural_previs.model_delete`.

Download runs the engine's own `python -m engine download` (addon/model_download.py). In the UI it is
modal: a timer drains its progress into the preferences and the status bar, Esc or Cancel stops it, and
Blender's `cancel()` (file load, window closed, add-on disabled) stops it too, leaving a partial
download the next press resumes. In background mode it blocks and finishes only when the model is complete.
"""

import os

import bpy
from bpy.props import StringProperty

from ..addon import engine_session, model_download, model_store
from ..addon.model_store import PREFERENCES_PLACE
from ..addon.extension import get_preferences

_TICK_S = 0.25
_OFFLINE = ("Online access is off, so nothing is downloaded: turn on Allow Online Access in "
            "Preferences > System > Network, then press Download again")


def _redraw_everywhere(context) -> None:
    for window in context.window_manager.windows:
        for area in window.screen.areas:
            area.tag_redraw()


class NEURAL_PREVIS_OT_model_download(bpy.types.Operator):
    bl_idname = "neural_previs.model_download"
    bl_label = "Download"
    bl_description = "Download this model's weights from the Hugging Face Hub into the Models Folder (only what the pipeline loads; resumes an interrupted download)"

    model: StringProperty(name="Model", description="A known model name (wan-vace-1.3b, ...) or a Hugging Face repo id (org/name)")

    @classmethod
    def poll(cls, context):
        job = model_download.active()
        if job is not None:
            cls.poll_message_set(f"{job.model} is downloading; wait for it or cancel it")
            return False
        reason = engine_session.unavailable_reason()
        if reason:
            cls.poll_message_set(reason)
            return False
        return True

    def _checked(self) -> str | None:
        """Why nothing can be downloaded, or None."""
        if not bpy.app.online_access:
            return _OFFLINE
        if model_store.can_download(self.model):
            return None
        if model_store.title_of(self.model) != self.model or os.path.isdir(bpy.path.abspath(self.model)):
            return f"{model_store.title_of(self.model)} has nothing to download (it is built on this machine, or a folder)"
        return f"'{self.model}' is neither a known model nor a Hugging Face repo id (org/name)"

    def execute(self, context):
        refused = self._begin(context)
        if refused:
            return refused
        if bpy.app.background:  # no event loop: block until the model is complete
            return self._run_blocking()
        return self._run_modal(context)

    def invoke(self, context, event):
        return self.execute(context)

    def _begin(self, context):
        """Check, then start the engine's download process; ``{'CANCELLED'}`` when it cannot start."""
        problem = self._checked()
        if problem:
            self.report({"ERROR"}, problem)
            return {"CANCELLED"}
        try:
            self._job = model_download.begin(self.model, context)
        except (engine_session.EngineNotConfigured, OSError) as error:
            self.report({"ERROR"}, f"The download could not start: {error}")
            return {"CANCELLED"}
        return None

    def _run_modal(self, context):
        self._timer = context.window_manager.event_timer_add(_TICK_S, window=context.window)
        context.window_manager.modal_handler_add(self)
        self._show(context)
        return {"RUNNING_MODAL"}

    def _run_blocking(self):
        job, shown = self._job, -1.0
        while job.poll(wait_s=0.5):
            if job.state.total and job.state.fraction - shown >= 0.05:
                shown = job.state.fraction
                print(f"Neural Previs: downloading {job.model}: {job.state.text()}", flush=True)
        return self._ended(job)

    def _ended(self, job):
        if job.outcome == "finished" and not model_store.needs_download(job.model, job.models_folder):
            self.report({"INFO"}, job.message)
            return {"FINISHED"}
        if job.outcome == "cancelled":
            self.report({"WARNING"}, job.message)
        else:
            self.report({"ERROR"}, job.message or f"{job.model} is not complete; press Download again")
        return {"CANCELLED"}

    def modal(self, context, event):
        job = self._job
        if (event.type == "ESC" and event.value == "PRESS") or job.cancel_requested:
            job.cancel()
        elif event.type != "TIMER":
            return {"PASS_THROUGH"}
        if job.poll():
            self._show(context)
            return {"RUNNING_MODAL"}
        self._clear(context)
        return self._ended(job)

    def cancel(self, context):
        """Blender ends the operator (a file is loaded, the window closes, the add-on is disabled)."""
        self._job.cancel()
        self._clear(context)

    def _show(self, context):
        if context.workspace:
            context.workspace.status_text_set(f"Neural Previs: downloading {self._job.model}: {self._job.state.text()} (Esc cancels)")
        _redraw_everywhere(context)

    def _clear(self, context):
        if self._timer is not None:
            context.window_manager.event_timer_remove(self._timer)
            self._timer = None
        if context.workspace:
            context.workspace.status_text_set(None)
        _redraw_everywhere(context)


class NEURAL_PREVIS_OT_model_download_cancel(bpy.types.Operator):
    bl_idname = "neural_previs.model_download_cancel"
    bl_label = "Cancel Download"
    bl_description = "Stop the download; what arrived is kept and the next Download resumes it"

    @classmethod
    def poll(cls, context):
        if model_download.active() is None:
            cls.poll_message_set("No download is running")
            return False
        return True

    def execute(self, context):
        model_download.active().cancel_requested = True  # the modal operator stops it on its next tick
        return {"FINISHED"}


class NEURAL_PREVIS_OT_model_delete(bpy.types.Operator):
    bl_idname = "neural_previs.model_delete"
    bl_label = "Delete"
    bl_description = "Delete this model's downloaded weights from the Models Folder (a partial download too)"

    model: StringProperty(name="Model")

    @classmethod
    def poll(cls, context):
        job = model_download.active()
        if job is not None:
            cls.poll_message_set(f"{job.model} is downloading; wait for it or cancel it")
            return False
        if context.window_manager.neural_previs.generation_running:
            cls.poll_message_set("A generation is running; wait for it or cancel it")
            return False
        return True

    def invoke(self, context, event):
        return context.window_manager.invoke_confirm(
            self, event, title=f"Delete {model_store.title_of(self.model)}?", message="Its weights are removed from the Models Folder",
            confirm_text="Delete", icon="WARNING",
        )

    def execute(self, context):
        folder = model_download.models_folder_of(get_preferences(context))
        try:
            removed = model_store.delete_model(self.model, folder)
        except OSError as error:
            self.report({"ERROR"}, f"{model_store.title_of(self.model)} could not be deleted ({error.strerror or error}): "
                                   f"press Stop Engine in {PREFERENCES_PLACE} and try again")
            return {"CANCELLED"}
        if not removed:
            self.report({"INFO"}, f"{model_store.title_of(self.model)} has nothing downloaded in the Models Folder")
            return {"CANCELLED"}
        self.report({"INFO"}, f"Deleted {model_store.title_of(self.model)} ({', '.join(str(p) for p in removed)})")
        _redraw_everywhere(context)
        return {"FINISHED"}


_CLASSES = (NEURAL_PREVIS_OT_model_download, NEURAL_PREVIS_OT_model_download_cancel, NEURAL_PREVIS_OT_model_delete)


register, unregister = bpy.utils.register_classes_factory(_CLASSES)
