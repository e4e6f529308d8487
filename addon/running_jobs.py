"""The jobs running in this Blender session: at most one generation, one conditioning render and one Set Up Engine.

What the UI shows as running (the WindowManager's `generation_running`, progress and status, see
addon/properties.py) is read from here, so it can never go stale: a job that is gone is not running,
whatever a reloaded file, a re-enabled add-on or an operator that Blender freed says. Blender frees a
modal operator without calling its cancel() when its class is unregistered, so unregister() calls
`stop_all()`. Module state because a running job is an object of this process, like the engine worker.
Pure Python: no bpy.
"""

from __future__ import annotations

from typing import Callable

GENERATION = "generation"
CONDITIONING = "conditioning"
SETUP = "engine_setup"

_jobs: dict[str, tuple[object, Callable[[], None]]] = {}


def start(kind: str, job, stop: Callable[[], None]) -> None:
    """Register `job` (it has `.progress` with `.fraction` and `.text`); `stop()` ends it at once, leaving nothing behind."""
    if kind in _jobs:
        raise RuntimeError(f"a {kind} job is already running")
    _jobs[kind] = (job, stop)


def finish(kind: str, job) -> None:
    """The job ended (finished, failed or cancelled): it no longer counts as running."""
    if kind in _jobs and _jobs[kind][0] is job:
        del _jobs[kind]


def get(kind: str):
    """The running job of this kind, or None."""
    entry = _jobs.get(kind)
    return entry[0] if entry else None


def stop_all() -> None:
    """Stop every running job now (the add-on is being disabled)."""
    for kind in list(_jobs):
        _job, stop = _jobs.pop(kind)
        stop()
