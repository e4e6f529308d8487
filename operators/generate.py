"""`neural_previs.generate` and `neural_previs.cancel`: scene to take to strip.

From a button, generate is modal: a timer gives it a slice of work at a time (render a few frames,
read the engine's events), so Blender never waits on the engine; Esc or the Cancel button stops it.
From a script in the UI it is modal too when invoked; with EXEC it blocks, as it does in background mode.
"""

import bpy
from bpy.props import EnumProperty, FloatProperty, IntProperty, StringProperty

from ..addon import engine_session
from ..addon.compat import BLEND_RELATIVE_PATH_OPTIONS
from ..addon.generation import Generation, GenerationError, GenerationRequest
from ..addon.properties import MODE_ITEMS
from ..engine.formats.params import MAX_SEED
from .messages import failure_message

_TICK_S = 0.1
_TICK_BUDGET_S = 0.05

_OVERRIDABLE = ("prompt", "negative_prompt", "model", "steps", "seed", "guidance", "mode", "objects", "reference", "output_directory")


def _failure_message(error: BaseException) -> str:
    return failure_message(error, (GenerationError,), "Generation")


class NEURAL_PREVIS_OT_generate(bpy.types.Operator):
    bl_idname = "neural_previs.generate"
    bl_label = "Generate Take"
    bl_description = "Render the shot's conditioning, generate a take with the engine, and add it to the Sequencer"
    bl_options = {"REGISTER"}

    prompt: StringProperty(name="Prompt", options={"SKIP_SAVE"})
    negative_prompt: StringProperty(name="Negative Prompt", options={"SKIP_SAVE"})
    model: StringProperty(name="Model", options={"SKIP_SAVE"})
    steps: IntProperty(name="Steps", min=1, max=200, default=30, options={"SKIP_SAVE"})
    seed: IntProperty(name="Seed", min=0, max=MAX_SEED, options={"SKIP_SAVE"})
    guidance: FloatProperty(name="Guidance", min=0.0, max=30.0, default=5.0, options={"SKIP_SAVE"})
    mode: EnumProperty(name="Mode", items=MODE_ITEMS, options={"SKIP_SAVE"})
    objects: StringProperty(name="Objects", description="Selective mode: object names, separated by commas", options={"SKIP_SAVE"})
    reference: StringProperty(name="Reference", subtype="FILE_PATH", options={"SKIP_SAVE"} | BLEND_RELATIVE_PATH_OPTIONS)
    output_directory: StringProperty(name="Output Folder", subtype="DIR_PATH", options={"SKIP_SAVE"} | BLEND_RELATIVE_PATH_OPTIONS)

    @classmethod
    def poll(cls, context):
        scene = context.scene
        if scene is None:
            return False
        state = context.window_manager.neural_previs
        if state.generation_running or state.conditioning_running:
            cls.poll_message_set("A generation is already running; wait for it or cancel it")
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
        return GenerationRequest(**given)

    def _begin(self, context) -> Generation:
        generation = Generation(context, self._request())
        generation.begin()
        for warning in generation.warnings:
            self.report({"WARNING"}, warning)
        return generation

    def execute(self, context):
        state = context.window_manager.neural_previs
        try:
            generation = self._begin(context)
        except Exception as error:
            state.last_error = _failure_message(error)
            self.report({"ERROR"}, state.last_error)
            return {"CANCELLED"}
        try:
            generation.run_blocking(on_progress=lambda progress: print(f"Neural Previs: {progress.text}", flush=True))
        except Exception as error:
            generation.abort()
            state.last_error = _failure_message(error)
            self.report({"ERROR"}, state.last_error)
            return {"CANCELLED"}
        return self._finished(generation, state)

    def _finished(self, generation: Generation, state):
        if generation.cancelled:
            self.report({"WARNING"}, "Generation cancelled; no take was added")
            return {"CANCELLED"}
        state.last_error = ""
        self.report({"INFO"}, f"Take '{generation.strip_name}' added to the Sequencer ({generation.take_folder})")
        return {"FINISHED"}

    def invoke(self, context, event):
        if bpy.app.background:
            return self.execute(context)
        state = context.window_manager.neural_previs
        try:
            self._generation = self._begin(context)
        except Exception as error:
            state.last_error = _failure_message(error)
            self.report({"ERROR"}, state.last_error)
            return {"CANCELLED"}
        state.generation_running = True
        state.cancel_requested = False
        state.last_error = ""
        self._show(context)
        self._timer = context.window_manager.event_timer_add(_TICK_S, window=context.window)
        context.window_manager.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        state = context.window_manager.neural_previs
        generation = self._generation
        if (event.type == "ESC" and event.value == "PRESS") or state.cancel_requested:
            state.cancel_requested = False
            generation.cancel()
        if event.type != "TIMER" and not generation.done:
            return {"PASS_THROUGH"}
        try:
            more = generation.tick(budget_s=_TICK_BUDGET_S)
        except Exception as error:
            generation.abort()
            self._end(context)
            state.last_error = _failure_message(error)
            self.report({"ERROR"}, state.last_error)
            return {"CANCELLED"}
        self._show(context)
        if more and not generation.done:
            return {"RUNNING_MODAL"}
        self._end(context)
        return self._finished(generation, state)

    def _show(self, context):
        state = context.window_manager.neural_previs
        progress = self._generation.progress
        state.generation_progress = progress.fraction
        state.generation_status = f"{progress.text} (Esc cancels)"
        if context.workspace:
            context.workspace.status_text_set(f"Neural Previs: {state.generation_status}")
        for area in context.screen.areas if context.screen else ():
            area.tag_redraw()

    def _end(self, context):
        wm = context.window_manager
        wm.event_timer_remove(self._timer)
        wm.neural_previs.generation_running = False
        wm.neural_previs.generation_status = ""
        if context.workspace:
            context.workspace.status_text_set(None)


class NEURAL_PREVIS_OT_cancel(bpy.types.Operator):
    bl_idname = "neural_previs.cancel"
    bl_label = "Cancel Generation"
    bl_description = "Stop the running generation; the engine stops within one denoising step and no take is added"

    @classmethod
    def poll(cls, context):
        if not context.window_manager.neural_previs.generation_running:
            cls.poll_message_set("No generation is running")
            return False
        return True

    def execute(self, context):
        context.window_manager.neural_previs.cancel_requested = True
        return {"FINISHED"}


_CLASSES = (NEURAL_PREVIS_OT_generate, NEURAL_PREVIS_OT_cancel)


register, unregister = bpy.utils.register_classes_factory(_CLASSES)
