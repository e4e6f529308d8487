"""A client for the worker, for the Blender add-on and scripts: starts ``python -m engine serve`` in
the engine's own Python, sends requests, and reads events. No torch, no bpy.

The one thing a client must never do is hang on a dead worker: when the worker's stdout closes,
every request that has not had its final event gets an ``error`` event (kind ``worker``) with the
worker's exit code and last stderr line, followed by a final ``error`` with ``id`` None.

    client = EngineClient(python="/path/to/engine-venv/bin/python", package_root="/path/to/extension")
    hello = client.start()
    request_id = client.generate(bundle, take, {"model": "tiny-random", "prompt": "..."})
    for event in client.events(request_id):   # progress ..., then result / cancelled / error
        ...
    client.shutdown()
"""

from __future__ import annotations

import collections
import itertools
import os
import queue
import subprocess
import sys
import threading
from typing import Iterator

from . import lifetime, protocol
from .log_file import RotatingLog
from ..errors import EngineError

TERMINAL_TYPES = (protocol.Result, protocol.Cancelled, protocol.Error)
#: After ``shutdown`` times out: how long ``terminate()`` gets before ``kill()``.
TERMINATE_GRACE_S = 5.0


class WorkerError(EngineError):
    """The worker could not be started, or died."""

    kind = "worker"


class EngineClient:
    def __init__(self, python: str = sys.executable, package_root: str | None = None, env: dict | None = None,
                 log_path: str | os.PathLike | None = None):
        """``python``: the engine environment's interpreter (never Blender's); ``package_root``: the
        folder that contains the ``engine`` package (put on PYTHONPATH); ``log_path``: a file that
        keeps everything the worker writes to stderr (``log_file.RotatingLog``)."""
        self.python = python
        self.package_root = package_root or os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        self.env = env
        self.log = RotatingLog(log_path) if log_path else None
        self.process: subprocess.Popen | None = None
        self._job = lifetime.KillOnClose()
        self.hello: protocol.Hello | None = None
        self._events: queue.Queue = queue.Queue()
        self._pending: set[str] = set()
        self._pending_lock = threading.Lock()
        self._exit_message: str | None = None  # set once the worker's stdout has closed
        self._stderr_tail: collections.deque[str] = collections.deque(maxlen=20)
        self._ids = itertools.count(1)
        self._write_lock = threading.Lock()
        #: stdout lines that were not protocol messages (there should never be any)
        self.unparsable: list[str] = []

    # ------------------------------------------------------------------------------- lifecycle

    def start(self, timeout: float = 300.0) -> protocol.Hello:
        """Start the worker and wait for its hello (blocking; see ``launch`` for the non-blocking way)."""
        self.launch()
        event = self.next_event(timeout)
        if not isinstance(event, protocol.Hello):
            self.close()
            if isinstance(event, protocol.Error):
                raise WorkerError(event.message)
            raise WorkerError(f"the engine did not say hello within {timeout:.0f} s")
        return self.accept_hello(event)

    def launch(self) -> None:
        """Start the worker and return at once; its hello arrives as the first event, for ``accept_hello``."""
        env = lifetime.worker_environment(os.environ if self.env is None else self.env)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (self.package_root, env.get("PYTHONPATH")) if p)
        env.setdefault("PYTHONUNBUFFERED", "1")
        if self.log is not None:
            self.log.start_session(f"engine started with {self.python}")
        try:
            self.process = subprocess.Popen(
                [self.python, "-m", "engine", "serve"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                # The protocol is ASCII JSON; stderr may carry any path, and must never stop the reader.
                text=True, encoding="utf-8", errors="replace", bufsize=1, env=env,
                # Run from the package root so `-m engine` can only find this engine, never an
                # unrelated "engine" folder in the caller's directory; paths are sent absolute.
                cwd=self.package_root,
                **lifetime.worker_process_options(),
            )
        except OSError as error:
            raise WorkerError(f"cannot start the engine with {self.python}: {error.strerror}") from None
        self._job.add(self.process)
        self._stderr_thread = threading.Thread(target=self._read_stderr, name="engine-stderr", daemon=True)
        self._stderr_thread.start()
        threading.Thread(target=self._read_stdout, name="engine-stdout", daemon=True).start()

    def accept_hello(self, event: protocol.Hello) -> protocol.Hello:
        """Check the worker's hello (protocol version) and remember it."""
        if event.protocol != protocol.PROTOCOL_VERSION:
            self.close()
            raise WorkerError(f"the engine speaks protocol {event.protocol}, this client {protocol.PROTOCOL_VERSION}: update one of them")
        self.hello = event
        return event

    def stderr_tail(self) -> list[str]:
        """The last lines the worker wrote to stderr (for telling a user why it died)."""
        return list(self._stderr_tail)

    def shutdown(self, timeout: float = 60.0) -> int | None:
        """Stop the worker: ``shutdown`` (a running request is cancelled first), and if it has not
        exited after ``timeout`` seconds, ``terminate()``, then ``kill()``. Returns its exit code."""
        if self.process is None:
            return None
        try:
            self._send(protocol.Shutdown())
            self.process.stdin.close()
        except (BrokenPipeError, OSError, ValueError):
            pass
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.close()
            return self.process.returncode

    def close(self) -> None:
        """End the worker now if it still runs: ``terminate()``, then ``kill()`` if that is ignored."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(TERMINATE_GRACE_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._job.close()

    # -------------------------------------------------------------------------------- requests

    def generate(self, bundle: str, out: str, params: dict, request_id: str | None = None) -> str:
        """Send a request; returns its id. Raises ``WorkerError`` if the worker has already exited."""
        request_id = request_id or f"r{next(self._ids)}"
        with self._pending_lock:
            if self._exit_message is not None:  # already dead: say so now rather than never answer
                raise WorkerError(self._exit_message)
            self._pending.add(request_id)
        try:
            self._send(
                protocol.Generate(
                    id=request_id, bundle=os.path.abspath(bundle), out=os.path.abspath(out), params=dict(params)
                )
            )
        except (BrokenPipeError, OSError, ValueError):
            pass  # the worker is dead: the stdout reader reports it for this request too
        return request_id

    def cancel(self, request_id: str) -> None:
        try:
            self._send(protocol.Cancel(id=request_id))
        except (BrokenPipeError, OSError, ValueError):
            pass

    # ---------------------------------------------------------------------------------- events

    def next_event(self, timeout: float | None = None) -> protocol.Message | None:
        """The next event from the worker, or None after ``timeout`` seconds without one."""
        try:
            return self._events.get(timeout=timeout)
        except queue.Empty:
            return None

    def events(self, request_id: str, timeout: float | None = None) -> Iterator[protocol.Message]:
        """Events of one request until (and including) its final one. Events of other requests
        seen meanwhile are dropped, so use ``next_event`` when several requests are in flight."""
        while True:
            event = self.next_event(timeout)
            if event is None:
                raise WorkerError(f"no event from the engine for {timeout} s")
            if getattr(event, "id", None) != request_id:
                if isinstance(event, protocol.Error) and event.id is None and event.kind == "worker":
                    self._events.put(event)  # leave the end-of-worker marker for other readers
                    raise WorkerError(event.message)
                continue
            yield event
            if isinstance(event, TERMINAL_TYPES):
                return

    # -------------------------------------------------------------------------------- internals

    def _send(self, message: protocol.Message) -> None:
        with self._write_lock:
            self.process.stdin.write(message.to_json() + "\n")
            self.process.stdin.flush()

    def _read_stdout(self) -> None:
        for line in self.process.stdout:
            try:
                event = protocol.parse_message(line)
            except protocol.ProtocolError as error:
                self.unparsable.append(line)
                self._stderr_tail.append(f"unparsable line from engine: {line.strip()[:200]} ({error.message})")
                continue
            if isinstance(event, TERMINAL_TYPES):
                with self._pending_lock:
                    self._pending.discard(event.id)
            self._events.put(event)
        code = self.process.wait()
        self._stderr_thread.join(timeout=5)  # its last line usually says why the worker died
        last = next((line for line in reversed(self._stderr_tail) if line.strip()), "no output on stderr")
        with self._pending_lock:
            pending, self._pending = sorted(self._pending), set()
            self._exit_message = f"the engine worker is not running (it exited with code {code}: {last.strip()})"
        for request_id in pending:
            message = f"the engine worker exited unexpectedly (exit code {code}) during this request: {last.strip()}"
            self._events.put(protocol.Error(id=request_id, message=message, kind="worker"))
        self._events.put(protocol.Error(id=None, message=f"the engine worker exited (exit code {code}): {last.strip()}", kind="worker"))

    def _read_stderr(self) -> None:
        for line in self.process.stderr:
            self._stderr_tail.append(line.rstrip("\n"))
            if self.log is not None:
                self.log.write_line(line)
