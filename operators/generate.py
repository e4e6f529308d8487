"""`neural_previs.generate` and `neural_previs.cancel`: scene to take to strip.

From a button, generate is modal: a timer gives it a slice of work at a time (render a few frames,
read the engine's events), so Blender never waits on the engine; Esc or the Cancel button stops it in
any phase. Blender calls cancel() when another file is loaded or the window closes mid-run; the add-on's
unregister stops it through addon/running_jobs.py. With EXEC (scripts, background mode) it blocks.

A new take is one undo step ("Generate Take", pushed when the strip is placed): Ctrl-Z removes the
strip and keeps the take's files, Ctrl-Shift-Z brings it back. The operator itself has no UNDO flag:
a modal operator's own push would come at its end too, but a take that is cancelled or fails must
not leave an empty step behind.
"""

import bpy
from bpy.props import BoolProperty, EnumProperty, FloatProperty, IntProperty, StringProperty

from ..addon import engine_session, running_jobs
from ..addon.compat import BLEND_RELATIVE_PATH_OPTIONS
from ..addon.generation import Generation, GenerationError, GenerationRequest, cpu_warning_for
from ..addon.properties import MODE_ITEMS, PLATE_ITEMS, QUALITY_ITEMS, SCENE_OFFLOAD_ITEMS
from ..engine.formats.params import MAX_SEED
from .messages import failure_message

_TICK_S = 0.1
_TICK_BUDGET_S = 0.05
UNDO_MESSAGE = "Generate Take"

_OVERRIDABLE = (
    "prompt", "negative_prompt", "model", "steps", "seed", "random_seed", "guidance", "mode", "objects", "reference",
    "quality", "conditioning_scale", "offload", "plate_source", "plate_take", "plate_directory", "output_directory",
)


def _failure_message(error: BaseException) -> str:
    return failure_message(error, (GenerationError,), "Generation")


def push_undo_step() -> None:
    """One undo step for the new strip (a no-op where Blender keeps no undo stack)."""
    if bpy.ops.ed.undo_push.poll():
        bpy.ops.ed.undo_push(message=UNDO_MESSAGE)


class NEURAL_PREVIS_OT_generate(bpy.types.Operator):
    bl_idname = "neural_previs.generate"
    bl_label = "Generate Take"
    bl_description = "Render the shot's conditioning, generate a take with the engine, and add it to the Sequencer"
    bl_options = {"REGISTER"}

    # Every setting of the panel, as an argument; each one given overrides the scene's for this take only.
    prompt: StringProperty(name="Prompt", options={"SKIP_SAVE"})
    negative_prompt: StringProperty(name="Negative Prompt", options={"SKIP_SAVE"})
    model: StringProperty(name="Model", options={"SKIP_SAVE"})
    steps: IntProperty(name="Steps", min=1, max=200, default=30, options={"SKIP_SAVE"})
    seed: IntProperty(name="Seed", min=0, max=MAX_SEED, options={"SKIP_SAVE"})
    random_seed: BoolProperty(name="Random Seed", options={"SKIP_SAVE"})
    guidance: FloatProperty(name="Guidance", min=0.0, max=30.0, default=5.0, options={"SKIP_SAVE"})
    mode: EnumProperty(name="Mode", items=MODE_ITEMS, options={"SKIP_SAVE"})
    objects: StringProperty(name="Objects to Regenerate", description="Selective mode: object names, separated by commas", options={"SKIP_SAVE"})
    reference: StringProperty(name="Reference", subtype="FILE_PATH", options={"SKIP_SAVE"} | BLEND_RELATIVE_PATH_OPTIONS)
    quality: EnumProperty(name="Quality", items=QUALITY_ITEMS, default="final", options={"SKIP_SAVE"})
    conditioning_scale: FloatProperty(name="Strength", min=0.0, max=10.0, default=1.0, options={"SKIP_SAVE"})
    offload: EnumProperty(name="Memory Profile", items=SCENE_OFFLOAD_ITEMS, options={"SKIP_SAVE"})
    plate_source: EnumProperty(name="Plate", items=PLATE_ITEMS, options={"SKIP_SAVE"})
    plate_take: StringProperty(name="Plate Take", options={"SKIP_SAVE"})
    plate_directory: StringProperty(name="Plate Folder", subtype="DIR_PATH", options={"SKIP_SAVE"} | BLEND_RELATIVE_PATH_OPTIONS)
    output_directory: StringProperty(name="Output Folder", subtype="DIR_PATH", options={"SKIP_SAVE"} | BLEND_RELATIVE_PATH_OPTIONS)
    allow_cpu: BoolProperty(
        name="Allow CPU", options={"SKIP_SAVE"},
        description="Run a real model even if the engine has no GPU (hours per take); from a button Blender asks first",
    )

    @classmethod
    def poll(cls, context):
        scene = context.scene
        if scene is None:
            return False
        state = context.window_manager.neural_previs
        if state.generation_running or state.conditioning_running:
            cls.poll_message_set("A take is being generated; wait for it or press Cancel")
            return False
        if scene.camera is None and not any(m.camera for m in scene.timeline_markers):
            cls.poll_message_set("The scene has no camera; add one and make it the scene camera")
            return False
        reason = engine_session.unavailable_reason()
        if reason:
            cls.poll_message_set(reason)
            return False
        return True

    def _request(self) -> GenerationRequest:
        given = {name: getattr(self, name) for name in _OVERRIDABLE if self.properties.is_property_set(name)}
        if "objects" in given:
            given["objects"] = [name.strip() for name in given["objects"].split(",") if name.strip()]
        return GenerationRequest(**given, allow_cpu=self.allow_cpu)

    def _begin(self, context) -> Generation:
        generation = Generation(context, self._request())
        generation.begin()
        for warning in generation.warnings:
            self.report({"WARNING"}, warning)
        return generation

    def _failed(self, context, error: BaseException):
        context.window_manager.neural_previs.last_error = _failure_message(error)
        self.report({"ERROR"}, context.window_manager.neural_previs.last_error)
        return {"CANCELLED"}

    def execute(self, context):
        if getattr(self, "_confirmed_cpu", False):  # Run on CPU pressed in invoke's dialog: go on as from the button
            return self.start_modal(context)
        try:
            generation = self._begin(context)
        except Exception as error:
            return self._failed(context, error)
        try:
            generation.run_blocking(on_progress=lambda progress: print(f"Neural Previs: {progress.text}", flush=True))
        except Exception as error:
            generation.abort()
            return self._failed(context, error)
        return self._finished(context, generation)

    def _finished(self, context, generation: Generation):
        if generation.cancelled:
            self.report({"WARNING"}, "Cancelled; no take was added")
            return {"CANCELLED"}
        push_undo_step()
        context.window_manager.neural_previs.last_error = ""
        self.report({"INFO"}, f"{generation.progress.text}; its files are in {generation.take_folder}")
        return {"FINISHED"}

    # -- the modal path (a button in the UI) --------------------------------------------------------

    def invoke(self, context, event):
        if bpy.app.background:
            return self.execute(context)
        warning = None if self.allow_cpu else cpu_warning_for(context, self._request(), engine_session.known_device())
        if warning:
            self.allow_cpu = self._confirmed_cpu = True
            return context.window_manager.invoke_confirm(
                self, event, title="Run on the CPU?", message=f"{warning}. Run it anyway?", confirm_text="Run on CPU", icon="WARNING")
        return self.start_modal(context)

    def start_modal(self, context):
        """Begin the take and hand the rest to timer ticks."""
        try:
            self._generation = self._begin(context)
        except Exception as error:
            return self._failed(context, error)
        wm = context.window_manager
        wm.neural_previs.last_error = ""
        self._timer = wm.event_timer_add(_TICK_S, window=context.window)
        generation, timer = self._generation, self._timer
        running_jobs.start(running_jobs.GENERATION, generation, lambda: _stop(wm, generation, timer, restart_engine=False))
        wm.modal_handler_add(self)
        self._show(context)
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        generation = self._generation
        if generation.done:  # already ended elsewhere (the add-on's unregister stopped it)
            return {"CANCELLED"}
        if event.type == "ESC" and event.value == "PRESS":
            generation.cancel()
        elif event.type != "TIMER":
            return {"PASS_THROUGH"}
        try:
            more = generation.tick(budget_s=_TICK_BUDGET_S)
        except Exception as error:
            generation.abort()
            self._end(context)
            return self._failed(context, error)
        self._show(context)
        if more and not generation.done:
            return {"RUNNING_MODAL"}
        self._end(context)
        return self._finished(context, generation)

    def cancel(self, context):
        """Blender ends the operator: another file is loading, or the window is closing. Nothing of the take stays."""
        if getattr(self, "_timer", None) is not None and not self._generation.done:
            _stop(context.window_manager, self._generation, self._timer, restart_engine=True)
            self._timer = None

    def _show(self, context):
        client = engine_session.current()
        if client is not None and client.hello is not None:
            context.window_manager.neural_previs.engine_status = f"Ready on {client.hello.device}"
        if context.workspace:
            context.workspace.status_text_set(f"Neural Previs: {self._generation.progress.text} (Esc cancels)")
        for area in context.screen.areas if context.screen else ():
            area.tag_redraw()

    def _end(self, context):
        if self._timer is not None:
            context.window_manager.event_timer_remove(self._timer)
            self._timer = None
        running_jobs.finish(running_jobs.GENERATION, self._generation)
        if context.workspace:
            context.workspace.status_text_set(None)


def _stop(wm, generation: Generation, timer, restart_engine: bool) -> None:
    """End a running take at once (file load, closed window, disabled add-on): cancelled, nothing left behind."""
    generation.stop_now(restart_engine=restart_engine)
    running_jobs.finish(running_jobs.GENERATION, generation)
    wm.event_timer_remove(timer)


class NEURAL_PREVIS_OT_cancel(bpy.types.Operator):
    bl_idname = "neural_previs.cancel"
    bl_label = "Cancel"
    bl_description = "Stop the running take or conditioning render; nothing of it is kept"

    @classmethod
    def poll(cls, context):
        if not (context.window_manager.neural_previs.generation_running or context.window_manager.neural_previs.conditioning_running):
            cls.poll_message_set("Nothing is running")
            return False
        return True

    def execute(self, context):
        for kind in (running_jobs.GENERATION, running_jobs.CONDITIONING):
            job = running_jobs.get(kind)
            if job is not None:
                job.cancel()
        return {"FINISHED"}


_CLASSES = (NEURAL_PREVIS_OT_generate, NEURAL_PREVIS_OT_cancel)


register, unregister = bpy.utils.register_classes_factory(_CLASSES)
