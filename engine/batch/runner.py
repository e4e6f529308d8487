"""Running a shot list on Ray: one Ray session per run, conditioning tasks feeding warm generation workers.

Each shot is a conditioning task (a Blender subprocess, one CPU) and then a generation on one of the
`GenerationWorker` actors (one per GPU, or one on the CPU): as soon as a shot's own bundle is ready its
generation is dispatched to the next free worker, so bundles and takes overlap. A task whose worker
process dies is retried by Ray (`max_retries`, `max_restarts`); a shot that fails for its own reasons
(no camera, bad weights) is reported and the others carry on.
"""

from __future__ import annotations

import collections
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..formats.params import GenerateParams
from .blender import PACKAGE_ROOT, BlenderError, run_blender
from ..formats.shotlist import Shot, ShotList

TASK_RETRIES = 2
# Fault injection for the retry test: names a file; the first conditioning task that finds it missing
# creates it and kills its own worker process, as a crashed node would.
CRASH_ONCE_VARIABLE = "NEURAL_PREVIS_TEST_CRASH_ONCE"


@dataclass
class ShotOutcome:
    name: str
    status: str = "waiting"  # waiting, conditioning, queued, generating, done, skipped, failed
    message: str = ""
    seconds: float = 0.0
    started: float = field(default_factory=time.monotonic)


def take_is_complete(shot: Shot) -> bool:
    """The engine renames a take into place only when complete, so a take.json with every frame means done."""
    record_path = shot.take / "take.json"
    if not record_path.is_file():
        return False
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return all((shot.take / entry["file"]).is_file() for entry in record.get("frames", [])) and bool(record.get("frames"))


def bundle_is_complete(shot: Shot) -> bool:
    return (shot.bundle / "shot.json").is_file()  # bundles are published whole, like takes


def _condition(shot_fields: dict, blender: str) -> dict:
    crash_marker = os.environ.get(CRASH_ONCE_VARIABLE)
    if crash_marker and not os.path.exists(crash_marker):
        Path(crash_marker).write_text("crashed once")
        os._exit(1)
    log = Path(shot_fields["out"]) / "logs" / "conditioning.log"
    try:
        return run_blender(blender, "condition", shot_fields["request"], log=log)
    except BlenderError as error:
        return {"ok": False, "message": str(error)}


class _GenerationWorker:
    """Keeps one engine Session (the loaded pipeline) warm across the shots it generates."""

    def __init__(self):
        from ..generation.session import Session

        self.session = Session(warm_worker=True)

    def generate(self, bundle: str, take: str, params: dict) -> dict:
        from ..errors import EngineError
        from ..generation.generate import generate_take

        started = time.perf_counter()
        try:
            generate_take(self.session, bundle, take, GenerateParams.from_dict(params), report=lambda *a, **k: None)
        except EngineError as error:
            return {"ok": False, "message": error.message}
        return {"ok": True, "seconds": time.perf_counter() - started}


def connect(address: str):
    """One Ray session for the whole run: a new local Ray, or the cluster at `address` ('auto' finds one, else starts locally)."""
    import ray

    env_vars = {"PYTHONPATH": os.pathsep.join(p for p in (str(PACKAGE_ROOT), os.environ.get("PYTHONPATH")) if p)}
    if os.environ.get(CRASH_ONCE_VARIABLE):
        env_vars[CRASH_ONCE_VARIABLE] = os.environ[CRASH_ONCE_VARIABLE]
    runtime_env = {"env_vars": env_vars}
    options = dict(include_dashboard=False, log_to_driver=False, runtime_env=runtime_env, ignore_reinit_error=True)
    if address == "local":
        ray.init(**options)
    elif address == "auto":
        try:
            ray.init(address="auto", **options)
        except (ConnectionError, RuntimeError):
            ray.init(**options)
    else:
        ray.init(address=address, **options)
    return ray


def run_shots(shot_list: ShotList, ray, blender: str, resume: bool, show) -> list[ShotOutcome]:
    """Run every shot to done, skipped or failed; `show(outcomes)` is called on each change."""
    condition_task = ray.remote(num_cpus=1, max_retries=TASK_RETRIES)(_condition)
    gpus = int(ray.cluster_resources().get("GPU", 0))
    worker_class = ray.remote(max_restarts=TASK_RETRIES, max_task_retries=TASK_RETRIES)(_GenerationWorker)
    resources = {"num_gpus": 1, "num_cpus": 1} if gpus else {"num_cpus": 1}
    shots = {shot.name: shot for shot in shot_list.shots}
    outcomes = {name: ShotOutcome(name) for name in shots}
    ready_to_generate: collections.deque[str] = collections.deque()
    conditioning: dict = {}
    for shot in shot_list.schedule():  # set references (plate_from) first
        if resume and take_is_complete(shot):
            outcomes[shot.name].status, outcomes[shot.name].message = "skipped", "take already complete"
        elif resume and bundle_is_complete(shot):
            outcomes[shot.name].status = "queued"
            ready_to_generate.append(shot.name)
        else:
            outcomes[shot.name].status = "conditioning"
            conditioning[condition_task.remote(_task_fields(shot), blender)] = shot.name
    workers = [worker_class.options(**resources).remote() for _ in range(max(1, gpus))] if (conditioning or ready_to_generate) else []
    idle = list(workers)
    generating: dict = {}
    show(list(outcomes.values()))
    while conditioning or generating or ready_to_generate:
        while idle and (name := _next_ready(ready_to_generate, shots, outcomes)) is not None:
            worker = idle.pop()
            shot = shots[name]
            outcomes[name].status = "generating"
            generating[worker.generate.remote(str(shot.bundle), str(shot.take), shot.params.to_dict())] = (name, worker)
            show(list(outcomes.values()))
        waiting = list(conditioning) + list(generating)
        if not waiting:
            for name in ready_to_generate:  # only shots whose set reference can never come
                _fail(outcomes[name], "generation", {"message": "its set reference (plate_from) has no take"})
            break
        done, _ = ray.wait(waiting, num_returns=1, timeout=1.0)
        for ref in done:
            if ref in conditioning:
                name = conditioning.pop(ref)
                result = _result(ray, ref)
                if result.get("ok"):
                    outcomes[name].status = "queued"
                    ready_to_generate.append(name)
                else:
                    _fail(outcomes[name], "conditioning", result)
            else:
                name, worker = generating.pop(ref)
                idle.append(worker)
                result = _result(ray, ref)
                if result.get("ok"):
                    outcomes[name].status = "done"
                    outcomes[name].message = f"take in {shots[name].take}"
                else:
                    _fail(outcomes[name], "generation", result)
            outcomes[name].seconds = time.monotonic() - outcomes[name].started
            show(list(outcomes.values()))
    return [outcomes[shot.name] for shot in shot_list.shots]


def _next_ready(queue: collections.deque, shots: dict, outcomes: dict) -> str | None:
    """The first queued shot whose set references (plate_from) have their takes; a shot whose reference failed
    fails too (it would be generated without the set it must match)."""
    for name in list(queue):
        states = [outcomes[reference].status for reference in shots[name].plate_from]
        failed = [reference for reference, state in zip(shots[name].plate_from, states) if state == "failed"]
        if failed:
            queue.remove(name)
            _fail(outcomes[name], "generation", {"message": f"its set reference, shot '{failed[0]}', failed"})
            continue
        if all(state in ("done", "skipped") for state in states):
            queue.remove(name)
            return name
    return None


def _task_fields(shot: Shot) -> dict:
    request = {"blend": str(shot.blend), "scene": shot.scene, "frames": shot.frames, "markers": shot.markers, "bundle": str(shot.bundle)}
    return {"out": str(shot.out), "request": request}


def _result(ray, ref) -> dict:
    try:
        return ray.get(ref)
    except ray.exceptions.RayError as error:
        lines = [line for line in str(error).splitlines() if line.strip()]
        return {"ok": False, "message": f"the worker failed after {TASK_RETRIES} retries: {lines[-1] if lines else type(error).__name__}"}


def _fail(outcome: ShotOutcome, stage: str, result: dict) -> None:
    outcome.status = "failed"
    outcome.message = f"{stage}: {result.get('message', 'failed')}"
