"""A model download from Blender: ``python -m engine download`` run by the engine's own Python as a
subprocess (never in Blender's Python, never on the UI thread), its JSON lines read on a thread, its
state drained on the main thread.

One download at a time per Blender session. It lives here, not in a PropertyGroup, because it holds
a process; the operator drives it (modal in the UI, blocking in background mode) and the preferences
draw its progress from ``active()``. Loading a file, disabling the add-on and quitting Blender stop
it; what arrived stays in the Models Folder and the next Download resumes it.
"""

from __future__ import annotations

import atexit
import queue
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import bpy

from ..engine.worker import protocol
from . import engine_session
from . import model_store
from .model_store import download_failure_message
from .extension import get_preferences

STOP_TIMEOUT_S = 5.0

_active: "DownloadJob | None" = None


@dataclass
class DownloadState:
    done: int = 0
    total: int = 0
    speed: float | None = None
    eta: float | None = None
    file: str = ""

    @property
    def fraction(self) -> float:
        return min(self.done / self.total, 1.0) if self.total else 0.0

    def text(self) -> str:
        if not self.total:
            return "Looking up the files"
        from ..engine.progress_bar import human_bytes, human_seconds

        parts = [f"{human_bytes(self.done)} of {human_bytes(self.total)}"]
        if self.speed:
            parts.append(f"{human_bytes(self.speed)}/s")
        if self.eta is not None:
            parts.append(f"{human_seconds(self.eta)} left")
        return ", ".join(parts)


@dataclass
class DownloadJob:
    model: str
    models_folder: str
    """Absolute Models Folder, or "" for the standard Hugging Face cache."""
    state: DownloadState = field(default_factory=DownloadState)
    outcome: str | None = None
    """``None`` while running, then ``finished``, ``failed`` or ``cancelled``."""
    message: str = ""
    """One line for the user once it ended."""
    log_path: Path | None = None
    cancel_requested: bool = False
    """Set by the Cancel Download button; the modal operator stops the job on its next tick."""

    def start(self, python: str, env: dict, log_path: Path) -> None:
        command = [python, "-m", "engine", "download", self.model]
        if self.models_folder:
            command += ["--models-dir", self.models_folder]
        self.log_path = log_path
        self._events: queue.Queue = queue.Queue()
        with open(log_path, "w", encoding="utf-8") as log:
            # stderr goes to a file: a pipe nobody drains would fill up and stall the download.
            self._process = subprocess.Popen(
                command, cwd=str(engine_session.PACKAGE_ROOT), env=env, stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=log, text=True, encoding="utf-8",
            )
        self._reader = threading.Thread(target=self._read, name="neural-previs-download", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        """Reader thread: only parses lines into the queue; every bpy call happens in ``poll``."""
        for line in self._process.stdout:
            if not line.strip():
                continue
            try:
                self._events.put(protocol.parse_message(line))
            except protocol.ProtocolError:
                self._events.put(protocol.Error(id=None, message=f"unexpected output from the engine: {line.strip()[:120]}", kind="internal"))
        self._events.put(None)  # end of stream

    @property
    def running(self) -> bool:
        return self.outcome is None

    def poll(self, wait_s: float = 0.0) -> bool:
        """Apply what the engine reported; True while the download runs."""
        deadline = time.monotonic() + wait_s
        while self.running:
            try:
                event = self._events.get(timeout=max(deadline - time.monotonic(), 0.0))
            except queue.Empty:
                break
            self._apply(event)
            deadline = time.monotonic()  # drain what is queued, wait no longer
        return self.running

    def _apply(self, event) -> None:
        if isinstance(event, protocol.DownloadProgress):
            self.state = DownloadState(event.done, event.total, event.speed, event.eta, event.file)
        elif isinstance(event, protocol.Downloaded):
            self._end("finished", f"{self.model} is downloaded ({event.paths[0] if event.paths else self.models_folder})")
        elif isinstance(event, protocol.Error):
            self._end("failed", download_failure_message(event.message, event.extra, self.models_folder, self.log_path))
        elif event is None:  # the process ended without its last word
            code = self._process.wait()
            if self.outcome is None:
                tail = _last_line(self.log_path)
                self._end("failed", f"The download stopped (exit code {code}){': ' + tail if tail else ''}; the log is {self.log_path}")

    def _end(self, outcome: str, message: str) -> None:
        if self.outcome is None:
            self.outcome, self.message = outcome, message
        _forget(self)

    def cancel(self) -> None:
        """Stop the process; the partial files stay for the next Download to resume."""
        if self.outcome is not None:
            return
        self.outcome, self.message = "cancelled", f"Download of {self.model} cancelled; press Download again to resume it"
        process = self._process
        if process.poll() is None:
            process.terminate()  # SIGTERM on Linux and macOS (the CLI exits at once), TerminateProcess on Windows
            try:
                process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        _forget(self)


def _last_line(path: Path | None) -> str:
    try:
        lines = [line.strip() for line in path.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
    except (OSError, AttributeError):
        return ""
    return lines[-1][:200] if lines else ""


def _forget(job: DownloadJob) -> None:
    global _active
    if _active is job:
        _active = None


def active() -> DownloadJob | None:
    """The download running in this Blender session, if any."""
    return _active


def begin(model: str, context=None) -> DownloadJob:
    """Start downloading ``model`` into the Models Folder. Raises ``engine_session.EngineNotConfigured``."""
    global _active
    preferences = get_preferences(context)
    python = engine_session.resolve_engine_python(preferences)
    job = DownloadJob(model, models_folder_of(preferences))
    job.start(python, engine_session.engine_environment(preferences), engine_session.user_folder("logs") / "model-download.log")
    _active = job
    return job


def models_folder_of(preferences) -> str:
    """The Models Folder preference as an absolute path ("" = the standard Hugging Face cache)."""
    return bpy.path.abspath(preferences.models_directory) if preferences.models_directory else ""


def needs_download(model: str, context=None) -> bool:
    """Whether ``model`` (a name or repo id) must be downloaded before Generate can use it: a panel offers
    ``bpy.ops.neural_previs.model_download(model=model)`` when this is true."""
    return model_store.needs_download(model, models_folder_of(get_preferences(context)))


def download_hint(model: str, context=None) -> str | None:
    """The artist's line for a model that still needs its download, or None."""
    if not needs_download(model, context):
        return None
    return model_store.not_downloaded_message(model, models_folder_of(get_preferences(context)))


def stop() -> None:
    """Stop a running download (file load, add-on disable, quit)."""
    if _active is not None:
        _active.cancel()


@bpy.app.handlers.persistent
def _on_load(*_args) -> None:
    stop()


atexit.register(stop)


def register():
    bpy.app.handlers.load_pre.append(_on_load)


def unregister():
    if _on_load in bpy.app.handlers.load_pre:
        bpy.app.handlers.load_pre.remove(_on_load)
    stop()
