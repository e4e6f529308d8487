"""Engine lifecycle operators: start and stop the warm worker, set up (or repair) its environment,
open the folder of its logs."""

import subprocess
import sys
import time
from pathlib import Path

import bpy

from ..addon import engine_session, running_jobs
from ..addon.device_label import describe_device
from ..addon.engine_setup import ENGINE_REQUIREMENTS, EngineSetup, SetupError, plan_for
from ..addon.machine import this_machine
from ..engine.worker import protocol

_HELLO_TIMEOUT_S = 600.0


def _describe(hello: protocol.Hello) -> str:
    return f"Ready on {describe_device(hello)}"


def _poll_for_hello():
    """A timer: accept the worker's hello in the UI, unless a generation (which reads events itself) runs."""
    state = bpy.context.window_manager.neural_previs
    client = engine_session.current()
    if client is None:
        state.engine_status = "Stopped"
        return None
    if client.hello is not None or state.generation_running:
        return None
    event = client.next_event(timeout=0)
    if isinstance(event, protocol.Hello):
        try:
            engine_session.accept_hello(client, event)
        except engine_session.WorkerError as error:
            state.engine_status = engine_session.with_log(f"Failed to start: {error}")
            engine_session.forget(client)
            return None
        state.engine_status = _describe(event)
        return None
    if isinstance(event, protocol.Error):
        state.engine_status = engine_session.with_log(f"Failed to start: {event.message} {engine_session.stderr_tail(client)}")
        engine_session.forget(client)
        return None
    return 0.25


class NEURAL_PREVIS_OT_engine_start(bpy.types.Operator):
    bl_idname = "neural_previs.engine_start"
    bl_label = "Start Engine"
    bl_description = "Start the engine in its own Python and keep it warm for the next generations"

    @classmethod
    def poll(cls, context):
        if engine_session.current() is not None:
            cls.poll_message_set("The engine is already running")
            return False
        if context.window_manager.neural_previs.engine_setup_running:
            cls.poll_message_set("Set Up Engine is running; wait for it or press Cancel Set-Up")
            return False
        reason = engine_session.unavailable_reason()
        if reason:
            cls.poll_message_set(reason)
            return False
        return True

    def execute(self, context):
        state = context.window_manager.neural_previs
        try:
            client = engine_session.launch()
        except engine_session.EngineNotConfigured as error:
            self.report({"ERROR"}, str(error))
            return {"CANCELLED"}
        if not bpy.app.background:
            state.engine_status = "Starting"
            bpy.app.timers.register(_poll_for_hello, first_interval=0.25)
            return {"FINISHED"}
        event = client.next_event(timeout=_HELLO_TIMEOUT_S)
        if isinstance(event, protocol.Hello):
            try:
                engine_session.accept_hello(client, event)
            except engine_session.WorkerError as error:
                engine_session.forget(client)
                self.report({"ERROR"}, engine_session.with_log(f"The engine did not start: {error}"))
                return {"CANCELLED"}
            state.engine_status = _describe(event)
            self.report({"INFO"}, f"Engine {state.engine_status[0].lower()}{state.engine_status[1:]}")
            return {"FINISHED"}
        message = event.message if isinstance(event, protocol.Error) else f"no answer within {_HELLO_TIMEOUT_S:.0f} s"
        tail = engine_session.stderr_tail(client)
        engine_session.forget(client)
        self.report({"ERROR"}, engine_session.with_log(f"The engine did not start: {message}" + (f" ({tail})" if tail else "")))
        return {"CANCELLED"}


class NEURAL_PREVIS_OT_engine_stop(bpy.types.Operator):
    bl_idname = "neural_previs.engine_stop"
    bl_label = "Stop Engine"
    bl_description = "Stop the engine and free its GPU memory"

    @classmethod
    def poll(cls, context):
        if engine_session.current() is None:
            cls.poll_message_set("The engine is not running")
            return False
        if context.window_manager.neural_previs.generation_running:
            cls.poll_message_set("A generation is running; cancel it first")
            return False
        return True

    def execute(self, context):
        engine_session.stop(timeout=5.0)
        context.window_manager.neural_previs.engine_status = "Stopped"
        self.report({"INFO"}, "Engine stopped")
        return {"FINISHED"}


def _setup_for(requirements: Path, repair: bool) -> EngineSetup:
    return EngineSetup(
        base_python=sys.executable, environment=engine_session.setup_environment_folder(), requirements=requirements,
        package_root=engine_session.PACKAGE_ROOT, plan=plan_for(this_machine(), requirements),
        log_path=engine_session.setup_log(), repair=repair,
    )


def _by_hand(setup: EngineSetup) -> str:
    """The commands a user can run in a terminal instead (flags that only matter to us left out)."""
    quiet = {"--disable-pip-version-check", "--no-input"}
    commands = [[part for part in step.command if part not in quiet] for step in setup._plan_steps()]
    return " ; ".join(subprocess.list2cmdline(command) for command in commands)


class NEURAL_PREVIS_OT_engine_setup(bpy.types.Operator):
    bl_idname = "neural_previs.engine_setup"
    bl_label = "Set Up Engine"
    bl_description = ("Create the engine's own Python environment in Blender's user data and install the torch build for this "
                      "machine, diffusers and the rest (needs online access); Esc cancels, running it again resumes")

    requirements: bpy.props.StringProperty(options={"HIDDEN", "SKIP_SAVE"}, description="Requirements file (tests use a small one)")
    repair: bpy.props.BoolProperty(
        name="Repair", options={"SKIP_SAVE"},
        description="Re-create the engine's environment in place and reinstall everything (pip's cache saves downloading again)",
    )

    @classmethod
    def poll(cls, context):
        state = context.window_manager.neural_previs
        if state.engine_setup_running:
            cls.poll_message_set("Set Up Engine is running; Cancel Set-Up (or Esc) stops it")
            return False
        if state.generation_running:
            cls.poll_message_set("A generation is running; cancel it first")
            return False
        return True

    def _begin(self, context):
        """Plan and start the first step; a set of the operator's result where it cannot start, else None."""
        requirements = Path(self.requirements) if self.requirements else ENGINE_REQUIREMENTS
        self._setup = _setup_for(requirements, self.repair)
        self._timer = None
        if not bpy.app.online_access:
            self.report({"ERROR"}, "Online access is off, so nothing is downloaded; allow it in Preferences > System > Network, "
                                   f"or run by hand: {_by_hand(self._setup)}")
            return {"CANCELLED"}
        if engine_session.current() is not None:
            engine_session.stop(timeout=5.0)  # its environment is about to change under it
        try:
            self._setup.start()
        except SetupError as error:
            return self._failed(context, str(error))
        setup, wm = self._setup, context.window_manager

        def stop():  # the add-on is disabled: Blender frees this operator without calling cancel()
            setup.cancel()
            if self._timer is not None:
                wm.event_timer_remove(self._timer)
                self._timer = None

        running_jobs.start(running_jobs.SETUP, setup, stop)
        self._show(context)
        return None

    def execute(self, context):
        refused = self._begin(context)
        if refused is not None:
            return refused
        if bpy.app.background:
            return self._run_blocking(context)
        return self._go_modal(context)

    def start_modal(self, context):
        """The UI's path (tests drive it through tests/blender/modal_driver.py): begin, then timer ticks."""
        refused = self._begin(context)
        return refused if refused is not None else self._go_modal(context)

    def _go_modal(self, context):
        self._timer = context.window_manager.event_timer_add(0.25, window=context.window)
        context.window_manager.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def _run_blocking(self, context):
        def show(progress):
            print(f"Neural Previs: {progress.text()}", flush=True)

        try:
            while self._setup.tick():
                if self._setup.progress.text() != context.window_manager.neural_previs.engine_setup_status:
                    self._show(context)
                    show(self._setup.progress)
                time.sleep(0.2)
        except SetupError as error:
            return self._failed(context, str(error))
        except KeyboardInterrupt:  # Ctrl-C in a terminal is this path's Esc
            self._setup.cancel()
            return self._cancelled(context)
        return self._succeeded(context)

    def modal(self, context, event):
        if self._setup.cancelled:  # the Cancel button, or the add-on's unregister, stopped it
            self._end(context)
            return self._cancelled(context)
        if event.type == "ESC" and event.value == "PRESS":
            self._setup.cancel()
            self._end(context)
            return self._cancelled(context)
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        try:
            running = self._setup.tick()
        except SetupError as error:
            self._end(context)
            return self._failed(context, str(error))
        self._show(context)
        if running:
            return {"RUNNING_MODAL"}
        self._end(context)
        return self._succeeded(context)

    def cancel(self, context):
        """Blender ends the operator (a new file, the window closing): pip is stopped, nothing is left running."""
        self._setup.cancel()
        self._end(context)
        state = context.window_manager.neural_previs
        state.engine_status = "Stopped"
        state.engine_setup_status = "Set-up cancelled; press Set Up Engine to resume"

    def _show(self, context):
        state = context.window_manager.neural_previs
        progress = self._setup.progress
        state.engine_setup_progress = progress.fraction
        state.engine_setup_status = progress.text()
        state.engine_status = "Setting up the engine"
        for window in context.window_manager.windows:
            for area in window.screen.areas:
                area.tag_redraw()

    def _end(self, context):
        if getattr(self, "_timer", None) is not None:
            context.window_manager.event_timer_remove(self._timer)
            self._timer = None
        running_jobs.finish(running_jobs.SETUP, self._setup)

    def _cancelled(self, context):
        state = context.window_manager.neural_previs
        running_jobs.finish(running_jobs.SETUP, self._setup)
        state.engine_status = "Stopped"
        state.engine_setup_status = "Set-up cancelled; press Set Up Engine to resume"
        self.report({"WARNING"}, "Engine set-up cancelled; press Set Up Engine again to resume where it stopped")
        return {"CANCELLED"}

    def _failed(self, context, message: str):
        state = context.window_manager.neural_previs
        running_jobs.finish(running_jobs.SETUP, self._setup)
        state.engine_status = "Set-up failed"
        state.engine_setup_status = message
        self.report({"ERROR"}, f"Engine set-up failed: {message}")
        return {"CANCELLED"}

    def _succeeded(self, context):
        state = context.window_manager.neural_previs
        running_jobs.finish(running_jobs.SETUP, self._setup)
        state.engine_status = f"Stopped (set up; {self._setup.ready.lower()})"
        state.engine_setup_status = self._setup.ready
        engine_session.remember_device(self._setup.report)
        self.report({"INFO"}, f"{self._setup.ready} (the engine's environment is {engine_session.setup_environment_folder()})")
        return {"FINISHED"}


class NEURAL_PREVIS_OT_engine_setup_cancel(bpy.types.Operator):
    bl_idname = "neural_previs.engine_setup_cancel"
    bl_label = "Cancel Set-Up"
    bl_description = "Stop Set Up Engine now; what it installed is kept, and Set Up Engine resumes from there"

    @classmethod
    def poll(cls, context):
        if running_jobs.get(running_jobs.SETUP) is None:
            cls.poll_message_set("Set Up Engine is not running")
            return False
        return True

    def execute(self, context):
        running_jobs.get(running_jobs.SETUP).cancel()  # its modal operator sees it on its next tick and ends
        return {"FINISHED"}


class NEURAL_PREVIS_OT_open_log_folder(bpy.types.Operator):
    bl_idname = "neural_previs.open_log_folder"
    bl_label = "Open Log Folder"
    bl_description = "Open the folder with the engine's log and Set Up Engine's log in the file browser"

    def execute(self, context):
        folder = engine_session.log_folder()
        bpy.ops.wm.path_open(filepath=str(folder))
        self.report({"INFO"}, f"Logs are in {folder}")
        return {"FINISHED"}


_CLASSES = (NEURAL_PREVIS_OT_engine_start, NEURAL_PREVIS_OT_engine_stop, NEURAL_PREVIS_OT_engine_setup,
            NEURAL_PREVIS_OT_engine_setup_cancel, NEURAL_PREVIS_OT_open_log_folder)


register, unregister = bpy.utils.register_classes_factory(_CLASSES)
