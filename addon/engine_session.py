"""The warm engine worker of this Blender session: which Python runs it, starting it, stopping it.

One worker per Blender process, kept between generations so the model stays loaded. Its handle is
module state because a subprocess cannot live in a PropertyGroup; every access goes through the
functions here, and unregister() and interpreter exit stop it, so no engine outlives Blender.
The client reads the worker's stdout on its own threads into a queue; only the main thread drains it.
"""

from __future__ import annotations

import atexit
import os
import sys
from pathlib import Path

import bpy

from ..engine.worker.client import EngineClient, WorkerError
from .extension import EXTENSION_PACKAGE, get_preferences

PYTHON_VARIABLE = "NEURAL_PREVIS_PYTHON"
PACKAGE_ROOT = Path(__file__).resolve().parents[1]  # the folder holding the `engine` package

_client: EngineClient | None = None
_last_hello = None  # the latest worker's hello, kept after it stops: what the panel's model list shows


class EngineNotConfigured(Exception):
    """No usable engine Python; the message says how to set one up."""


def user_folder(name: str) -> Path:
    """A folder of ours in Blender's user data (never the extension folder, which upgrades wipe)."""
    return Path(bpy.utils.extension_path_user(EXTENSION_PACKAGE, path=name, create=True))


def setup_environment_folder() -> Path:
    return Path(bpy.utils.extension_path_user(EXTENSION_PACKAGE, create=True)) / "engine-env"


def python_in_environment(environment: Path) -> Path:
    return environment / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")


def resolve_engine_python(preferences=None) -> str:
    """The engine's interpreter: $NEURAL_PREVIS_PYTHON, else the preferences' path, else the set-up environment."""
    preferences = preferences or get_preferences()
    explicit = os.environ.get(PYTHON_VARIABLE) or (bpy.path.abspath(preferences.engine_python) if preferences.engine_python else "")
    if explicit:
        if not Path(explicit).is_file():
            raise EngineNotConfigured(f"The engine Python '{explicit}' does not exist; fix the path in Neural Previs preferences or {PYTHON_VARIABLE}")
        return explicit
    candidate = python_in_environment(setup_environment_folder())
    if candidate.is_file():
        return str(candidate)
    raise EngineNotConfigured(f"The engine is not set up; press 'Set Up Engine' in the Neural Previs preferences, or set {PYTHON_VARIABLE}")


def unavailable_reason() -> str | None:
    """Why no engine can be started (for poll messages), or None."""
    try:
        resolve_engine_python()
    except EngineNotConfigured as error:
        return str(error)
    return None


def engine_environment(preferences=None) -> dict:
    preferences = preferences or get_preferences()
    env = dict(os.environ)
    env["NEURAL_PREVIS_CACHE"] = str(user_folder("cache"))
    if preferences.models_directory:
        env["HF_HOME"] = bpy.path.abspath(preferences.models_directory)
    # Blender's own Python must not leak into the engine's interpreter.
    for variable in ("PYTHONHOME", "PYTHONSTARTUP"):
        env.pop(variable, None)
    return env


def current() -> EngineClient | None:
    """The live worker, or None when none runs (a dead one is dropped)."""
    global _client
    if _client is not None and _client.process is not None and _client.process.poll() is not None:
        _remember(_client)
        _client = None
    return _client


def _remember(client: EngineClient) -> None:
    global _last_hello
    if client.hello is not None:
        _last_hello = client.hello


def last_hello():
    """The hello of the running worker, else of the last one this session had (its models, backends), else None."""
    client = current()
    if client is not None:
        _remember(client)
    return _last_hello


def launch() -> EngineClient:
    """The live worker, started if needed. Returns at once: its hello arrives as the first event."""
    global _client
    client = current()
    if client is not None:
        return client
    preferences = get_preferences()
    client = EngineClient(python=resolve_engine_python(preferences), package_root=str(PACKAGE_ROOT), env=engine_environment(preferences))
    try:
        client.launch()
    except WorkerError as error:
        raise EngineNotConfigured(str(error)) from None
    _client = client
    return client


def stop(timeout: float = 20.0) -> None:
    """Shut the worker down (cancelling what runs), killing it if it does not exit in time."""
    global _client
    client, _client = _client, None
    if client is not None:
        _remember(client)
        client.shutdown(timeout=timeout)
        client.close()


def forget(client: EngineClient) -> None:
    """Drop a worker that died or misbehaved, killing what is left of it."""
    global _client
    _remember(client)
    if _client is client:
        _client = None
    client.close()


def stderr_tail(client: EngineClient, lines: int = 3) -> str:
    tail = [line for line in client.stderr_tail() if line.strip()]
    return " | ".join(tail[-lines:])


atexit.register(stop)


def register():
    pass


def unregister():
    stop()
