"""Test-only, never shipped: makes one phase of a real engine worker hang, to test cancelling a phase that cannot stop in time.

tests/blender/test_cancel.py puts this folder on the engine worker's PYTHONPATH (Python imports
`sitecustomize` at start-up) and names a file in SLOW_ENGINE_PHASE_FILE. Whenever the worker's backend
reaches the phase written in that file (`loading`, `encoding`, `compiling`: a first denoising step that
compiles, `decoding`), it sleeps far longer than any test waits. Everything else is the real engine.
"""

import os
import time
from pathlib import Path

_PHASE_FILE = os.environ.get("SLOW_ENGINE_PHASE_FILE")


def _slow(phase: str) -> bool:
    try:
        return Path(_PHASE_FILE).read_text().strip() == phase
    except OSError:
        return False


def _hanging(phase: str, method):
    def wrapper(*args, **kwargs):
        if _slow(phase):
            time.sleep(3600)
        return method(*args, **kwargs)

    return wrapper


def _install() -> None:
    import engine.backends as backends

    real_load_backend = backends.load_backend

    def load_backend(name):
        backend = real_load_backend(name)
        backend.load = _hanging("loading", backend.load)
        backend.encode_prompt = _hanging("encoding", backend.encode_prompt)
        backend.denoise = _hanging("compiling", backend.denoise)
        backend.decode = _hanging("decoding", backend.decode)
        real_compiles_first = backend.compiles_first
        backend.compiles_first = lambda *args: _slow("compiling") or real_compiles_first(*args)
        return backend

    backends.load_backend = load_backend


if _PHASE_FILE:
    _install()
