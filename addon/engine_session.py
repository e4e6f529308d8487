"""The warm engine worker of this Blender session: which Python runs it, starting it, stopping it.

One worker per Blender process, kept between generations so the model stays loaded. Its handle is
module state because a subprocess cannot live in a PropertyGroup; every access goes through the
functions here, and unregister() and interpreter exit stop it. Should Blender die without either,
the worker still leaves (engine/worker/lifetime.py). The client reads the worker's stdout on its own
threads into a queue; only the main thread drains it. What the worker writes to stderr is kept in
``logs/engine.log`` in the extension's user folder (size-capped, kept across sessions); errors
shown in Blender name that file.
"""

from __future__ import annotations

import atexit
import json
import os
from pathlib import Path

import bpy

from ..engine.worker import protocol
from ..engine.worker.client import EngineClient, WorkerError
from .device_label import engine_line
from .engine_setup import python_in_environment
from .extension import EXTENSION_PACKAGE, get_preferences

PYTHON_VARIABLE = "NEURAL_PREVIS_PYTHON"
PACKAGE_ROOT = Path(__file__).resolve().parents[1]  # the folder holding the `engine` package

_client: EngineClient | None = None
_client_models_home: str | None = None  # the HF_HOME the live worker was started with
_last_hello = None  # the latest worker's hello, kept after it stops: what the panel's model list shows


class EngineNotConfigured(Exception):
    """No usable engine Python; the message says how to set one up."""


def user_folder(name: str) -> Path:
    """A folder of ours in Blender's user data (never the extension folder, which upgrades wipe)."""
    return Path(bpy.utils.extension_path_user(EXTENSION_PACKAGE, path=name, create=True))


def setup_environment_folder() -> Path:
    return Path(bpy.utils.extension_path_user(EXTENSION_PACKAGE, create=True)) / "engine-env"


def log_folder() -> Path:
    return user_folder("logs")


def engine_log() -> Path:
    """What every engine this Blender starts writes to stderr, kept across sessions."""
    return log_folder() / "engine.log"


def setup_log() -> Path:
    return log_folder() / "engine-setup.log"


def with_log(message: str) -> str:
    """An engine error as shown in Blender: the message, and where the details are."""
    return f"{message} (details: {engine_log()}; Open Log Folder in the Neural Previs preferences)"


def _device_file() -> Path:
    return user_folder("state") / "engine-device.json"


def remember_device(report) -> None:
    """Keep what the engine last ran on (a hello, or Set Up Engine's check), for the panel and the
    CPU warning before the engine is even started."""
    keys = ("device", "device_type", "device_name", "device_memory", "dtype", "torch_version", "cuda_version")
    data = {key: (report.get(key) if isinstance(report, dict) else getattr(report, key, None)) for key in keys}
    try:
        _device_file().write_text(json.dumps(data), encoding="utf-8")
    except OSError:
        pass  # a read-only user folder: the panel just knows less


def known_device() -> dict | None:
    """The running engine's device, else the last one seen, else None."""
    client = current()
    if client is not None and client.hello is not None:
        hello = client.hello
        return {key: getattr(hello, key) for key in ("device", "device_type", "device_name", "device_memory", "dtype", "torch_version", "cuda_version")}
    try:
        return json.loads(_device_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def status_line(state) -> str:
    """The engine line of the 3D View panel (ui/panel.py draws it)."""
    return engine_line(state.engine_status, known_device(), current() is not None)


def accept_hello(client: EngineClient, hello: protocol.Hello) -> protocol.Hello:
    """Check the worker's hello (``WorkerError`` for a wrong protocol) and remember its device."""
    client.accept_hello(hello)
    remember_device(hello)
    return hello


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
        # The Models Folder is a Hugging Face home: its hub/ is the cache, whatever HF_HUB_CACHE said,
        # and a token saved by `hf auth login` in the standard home keeps working.
        standard_home = env.get("HF_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "huggingface")
        env.setdefault("HF_TOKEN_PATH", os.path.join(standard_home, "token"))
        env["HF_HOME"] = bpy.path.abspath(preferences.models_directory)
        env.pop("HF_HUB_CACHE", None)
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
    global _client, _client_models_home
    preferences = get_preferences()
    environment = engine_environment(preferences)
    client = current()
    if client is not None and _client_models_home == environment.get("HF_HOME"):
        return client
    if client is not None:  # the Models Folder changed: a worker started before would look in the old one
        stop(timeout=5.0)
    client = EngineClient(python=resolve_engine_python(preferences), package_root=str(PACKAGE_ROOT), env=environment,
                          log_path=engine_log())
    try:
        client.launch()
    except WorkerError as error:
        raise EngineNotConfigured(str(error)) from None
    _client, _client_models_home = client, environment.get("HF_HOME")
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
    """The worker's last stderr lines, for a one-line error (the whole of it is in the log)."""
    tail = [line for line in client.stderr_tail() if line.strip()]
    return " | ".join(tail[-lines:])


atexit.register(stop)


def register():
    pass


def unregister():
    stop()
