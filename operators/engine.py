"""Engine lifecycle operators: start and stop the warm worker, and set up its environment."""

import subprocess
import sys
import traceback
from pathlib import Path

import bpy

from ..addon import engine_session
from ..engine.worker import protocol

_HELLO_TIMEOUT_S = 600.0


def _describe(hello: protocol.Hello) -> str:
    return f"Ready on {hello.device}"


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
        client.accept_hello(event)
        state.engine_status = _describe(event)
        return None
    if isinstance(event, protocol.Error):
        state.engine_status = f"Failed to start: {event.message} {engine_session.stderr_tail(client)}"
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
            client.accept_hello(event)
            state.engine_status = _describe(event)
            self.report({"INFO"}, f"Engine {state.engine_status.lower()}")
            return {"FINISHED"}
        message = event.message if isinstance(event, protocol.Error) else f"no answer within {_HELLO_TIMEOUT_S:.0f} s"
        tail = engine_session.stderr_tail(client)
        engine_session.forget(client)
        self.report({"ERROR"}, f"The engine did not start: {message}" + (f" ({tail})" if tail else ""))
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


def _requirements_file() -> Path:
    return engine_session.PACKAGE_ROOT / "engine" / "requirements.txt"


def setup_commands(environment: Path, requirements: Path) -> list[list[str]]:
    """The commands that make the engine's environment: a venv from Blender's Python, then pip into it (never into Blender's)."""
    python = engine_session.python_in_environment(environment)
    return [
        [sys.executable, "-m", "venv", str(environment)],
        [str(python), "-m", "pip", "install", "--upgrade", "pip"],
        [str(python), "-m", "pip", "install", "-r", str(requirements)],
    ]


class NEURAL_PREVIS_OT_engine_setup(bpy.types.Operator):
    bl_idname = "neural_previs.engine_setup"
    bl_label = "Set Up Engine"
    bl_description = "Create the engine's own Python environment in Blender's user data and install torch and diffusers into it (needs online access)"

    requirements: bpy.props.StringProperty(options={"HIDDEN", "SKIP_SAVE"}, description="Requirements file (tests use a small one)")

    def _commands(self):
        requirements = Path(self.requirements) if self.requirements else _requirements_file()
        return setup_commands(engine_session.setup_environment_folder(), requirements)

    def _manual_instructions(self) -> str:
        return " ; ".join(" ".join(f'"{part}"' if " " in part else part for part in command) for command in self._commands())

    def execute(self, context):
        if not bpy.app.online_access:
            self.report(
                {"ERROR"},
                "Online access is off, so nothing is downloaded; allow it in Preferences > System > Network, "
                f"or run by hand: {self._manual_instructions()}",
            )
            return {"CANCELLED"}
        if engine_session.current() is not None:
            engine_session.stop(timeout=5.0)
        self._pending = self._commands()
        self._process = None
        # pip prints far more than a pipe holds: the log file keeps it from blocking and keeps it for the user.
        self._log_path = engine_session.user_folder("logs") / "engine-setup.log"
        self._log_path.write_text("")
        if bpy.app.background:
            return self._run_blocking(context)
        self._timer = context.window_manager.event_timer_add(0.5, window=context.window)
        context.window_manager.modal_handler_add(self)
        context.window_manager.neural_previs.engine_status = "Setting up the engine environment"
        return {"RUNNING_MODAL"}

    def _start_next(self):
        command = self._pending.pop(0)
        with open(self._log_path, "a", encoding="utf-8") as log:
            log.write("$ " + " ".join(command) + "\n")
            log.flush()
            self._process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)

    def _log_text(self) -> str:
        return self._log_path.read_text(encoding="utf-8", errors="replace")

    def _run_blocking(self, context):
        try:
            while self._pending:
                self._start_next()
                if self._process.wait() != 0:
                    return self._failed(context, self._log_text())
        except OSError as error:
            return self._failed(context, str(error))
        return self._succeeded(context)

    def modal(self, context, event):
        if event.type == "ESC":
            if self._process is not None and self._process.poll() is None:
                self._process.kill()
            context.window_manager.event_timer_remove(self._timer)
            context.window_manager.neural_previs.engine_status = "Set-up cancelled"
            self.report({"WARNING"}, "Engine set-up cancelled; run it again to finish")
            return {"CANCELLED"}
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        try:
            if self._process is None or self._process.poll() is not None:
                if self._process is not None and self._process.returncode != 0:
                    context.window_manager.event_timer_remove(self._timer)
                    return self._failed(context, self._log_text())
                if not self._pending:
                    context.window_manager.event_timer_remove(self._timer)
                    return self._succeeded(context)
                self._start_next()
        except Exception as error:
            traceback.print_exc()
            context.window_manager.event_timer_remove(self._timer)
            return self._failed(context, str(error))
        return {"RUNNING_MODAL"}

    def _failed(self, context, output: str):
        last = next((line for line in reversed((output or "").splitlines()) if line.strip()), "no output")
        context.window_manager.neural_previs.engine_status = "Set-up failed"
        self.report({"ERROR"}, f"Engine set-up failed: {last.strip()}; the log is {self._log_path}, or run by hand: {self._manual_instructions()}")
        return {"CANCELLED"}

    def _succeeded(self, context):
        context.window_manager.neural_previs.engine_status = "Stopped (set up)"
        self.report({"INFO"}, f"Engine environment ready in {engine_session.setup_environment_folder()}")
        return {"FINISHED"}


_CLASSES = (NEURAL_PREVIS_OT_engine_start, NEURAL_PREVIS_OT_engine_stop, NEURAL_PREVIS_OT_engine_setup)


register, unregister = bpy.utils.register_classes_factory(_CLASSES)
