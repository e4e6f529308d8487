"""The persistent worker: ``python -m engine serve`` (protocol in engine/protocol.py, docs/engine.md).

Two threads: the main thread reads requests from stdin and answers ``cancel``/``shutdown`` at once;
a job thread runs generations one after the other, keeping the pipeline loaded in its ``Session``.
Every ``generate`` gets exactly one ``result``, ``cancelled`` or ``error``, also when it is cancelled
while still queued or when the worker is shutting down. The worker never outlives its client: see
``lifetime`` for how (protocol, a watch of the client's process, a grace period for a long step).
"""

from __future__ import annotations

import os
import queue
import signal
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field

from .. import __version__
from . import lifetime, protocol
from ..errors import EngineError, GenerationCancelled
from ..formats.params import GenerateParams


@dataclass
class _Job:
    message: protocol.Generate
    cancel: threading.Event = field(default_factory=threading.Event)


class _Stop(Exception):
    """SIGTERM or SIGINT arrived while reading stdin: leave the read loop as for ``shutdown``."""


class Worker:
    def __init__(self, out):
        self._out = out
        self._send_lock = threading.Lock()
        self._jobs: queue.Queue[_Job | None] = queue.Queue()
        self._active: dict[str, _Job] = {}  # queued or running, by request id
        self._active_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run_jobs, name="engine-jobs", daemon=True)
        self._stop_requested = False
        self._reading = False
        self._leaving = False
        self._leave_lock = threading.Lock()

    def request_stop(self) -> None:
        """From a signal handler: stop like ``shutdown``. Only interrupts the blocking stdin read
        (raising anywhere else could leave a request half-registered)."""
        self._stop_requested = True
        if self._reading:
            raise _Stop()

    def send(self, message: protocol.Message) -> None:
        line = message.to_json() + "\n"
        with self._send_lock:
            try:
                self._out.write(line)
                self._out.flush()
            except (BrokenPipeError, ValueError):
                pass  # the client is gone; the read loop will see EOF and stop

    # ----------------------------------------------------------------------------- main thread

    def serve(self, stdin) -> int:
        from ..backends import BACKENDS
        from ..generation.runtime import device_report
        from ..models.weights import known_models

        self._thread.start()
        report = device_report()
        self.send(
            protocol.Hello(
                protocol=protocol.PROTOCOL_VERSION,
                engine=__version__,
                device=report["device"],
                backends=[spec.describe() for spec in BACKENDS.values()],
                pid=os.getpid(),
                models=known_models(),
                device_type=report["device_type"],
                device_name=report["device_name"],
                device_memory=report["device_memory"],
                dtype=report["dtype"],
                torch_version=report["torch_version"],
                cuda_version=report["cuda_version"],
            )
        )
        lifetime.watch_client(self._client_gone)
        while not self._stop_requested:
            self._reading = True
            try:
                line = stdin.readline()
            except (_Stop, KeyboardInterrupt):
                break
            finally:
                self._reading = False
            if not line:  # closed stdin: the client is gone
                break
            if line.strip() and self._handle(line) is protocol.Shutdown:
                break
        return self._leave()

    def _leave(self) -> int:
        """Shutdown, closed stdin, SIGTERM or the client gone: cancel what is queued or running and
        wait for the job thread. A request stops at its next step; one that does not within
        ``lifetime.EXIT_GRACE_S`` (a long step, a model load) ends with the process: nobody is left
        to wait for it. Its take is never renamed into place, so no half-written take appears."""
        with self._leave_lock:
            if not self._leaving:
                self._leaving = True
                with self._active_lock:
                    for job in self._active.values():
                        job.cancel.set()
                self._jobs.put(None)
        self._thread.join(lifetime.EXIT_GRACE_S)
        if self._thread.is_alive():
            print(f"a request did not stop within {lifetime.EXIT_GRACE_S:.0f} s of the client leaving: exiting without it", file=sys.stderr, flush=True)
            os._exit(1)
        return 0

    def _client_gone(self) -> None:
        """From the client watch: the client process died (a crash, a kill) without closing our stdin."""
        print("the engine's client has exited: stopping", file=sys.stderr, flush=True)
        os._exit(self._leave())  # the main thread may sit in a read of a stdin that never closes

    def _handle(self, line: str):
        try:
            message = protocol.parse_message(line)
        except protocol.ProtocolError as error:
            self.send(protocol.Error(id=_id_of(line), message=error.message, kind=error.kind))
            return None
        if isinstance(message, protocol.Generate):
            with self._active_lock:
                if message.id in self._active:
                    self.send(protocol.Error(id=message.id, message=f"request id {message.id} is already in use", kind="protocol"))
                    return None
                job = _Job(message)
                self._active[message.id] = job
            self._jobs.put(job)
        elif isinstance(message, protocol.Cancel):
            with self._active_lock:
                job = self._active.get(message.id)
            if job is not None:
                job.cancel.set()
            else:  # already finished (its one answer was sent) or never existed
                print(f"cancel for unknown or finished request {message.id!r} ignored", file=sys.stderr)
        elif isinstance(message, protocol.Shutdown):
            return protocol.Shutdown
        else:
            self.send(protocol.Error(id=getattr(message, "id", None), message=f"{message.type} is not a request", kind="protocol"))
        return None

    # ------------------------------------------------------------------------------ job thread

    def _run_jobs(self) -> None:
        from ..generation.session import Session

        session = Session(warm_worker=True)
        while True:
            job = self._jobs.get()
            if job is None:
                return
            try:
                self.send(self._run(session, job))
            finally:
                with self._active_lock:
                    self._active.pop(job.message.id, None)

    def _run(self, session, job: _Job) -> protocol.Message:
        from ..generation.generate import generate_take

        request_id = job.message.id
        if job.cancel.is_set():
            return protocol.Cancelled(id=request_id)

        def report(phase, step, total, **extra):
            known = {k: extra.pop(k) for k in ("eta", "window", "windows") if k in extra}
            self.send(protocol.Progress(id=request_id, phase=phase, step=step, total=total, extra=extra, **known))

        started = time.perf_counter()
        try:
            params = GenerateParams.from_dict(job.message.params)
            summary = generate_take(session, job.message.bundle, job.message.out, params, report, job.cancel)
        except GenerationCancelled:
            return protocol.Cancelled(id=request_id)
        except EngineError as error:
            return protocol.Error(id=request_id, message=error.message, kind=error.kind)
        except Exception as error:
            traceback.print_exc(file=sys.stderr)
            first = str(error).splitlines()[0] if str(error) else ""
            return protocol.Error(id=request_id, message=f"internal error ({type(error).__name__}: {first}); see the worker's stderr", kind="internal")
        return protocol.Result(
            id=request_id, take=str(summary.path), frames=summary.frames,
            seconds=round(time.perf_counter() - started, 3),
            extra={"synthetic": summary.synthetic, "timings": {k: round(v, 4) for k, v in summary.timings.items()}},
        )


def serve(stdin, out) -> int:
    worker = Worker(out)
    signal.signal(signal.SIGTERM, lambda signum, frame: worker.request_stop())
    signal.signal(signal.SIGINT, lambda signum, frame: worker.request_stop())
    return worker.serve(stdin)


def _id_of(line: str):
    """Best effort: the id of a request we could not parse, so the client can match the error."""
    import json

    try:
        data = json.loads(line)
        value = data.get("id") if isinstance(data, dict) else None
        return value if isinstance(value, str) else None
    except ValueError:
        return None
