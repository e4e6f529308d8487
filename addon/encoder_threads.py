"""Encoder threads that never run while Blender evaluates the scene. Pure Python: no bpy.

Blender releases the GIL while it evaluates the dependency graph (`scene.frame_set`), and Python code
running on another thread during that evaluation crashes Blender now and then (seen: about one render
in five segfaulted in a worker thread while the main thread was in frame_set). Encoding still has to
overlap the drawing, so the threads share a *fence* with the main thread: an encoder holds it while it
runs Python, gives it up between EXR blocks when the main thread asks, and the main thread holds it
around every call that evaluates the scene (`with encoders.blender_evaluates(): scene.frame_set(...)`).
Idle encoders wait inside a C-level queue, where they run no Python at all.
"""

from __future__ import annotations

import queue
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Callable


class FencedEncoders:
    def __init__(self, threads: int = 2, max_pending: int = 8):
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._gate = threading.Lock()
        self._blender_waiting = False
        self._slots = threading.BoundedSemaphore(max_pending)
        self._errors: list[BaseException] = []
        self._cancelled = False
        self._fences = [threading.Lock() for _ in range(threads)]  # one per encoder: encoders run side by side
        self._threads = [
            threading.Thread(target=self._loop, args=(fence,), name=f"neural_previs_encoder_{i}", daemon=True)
            for i, fence in enumerate(self._fences)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, path: Path, encode: Callable, image) -> None:
        """Queue `path.write_bytes(encode(image))`; blocks while `max_pending` images wait, bounding memory."""
        self._slots.acquire()
        self._jobs.put((path, encode, image))

    @contextmanager
    def blender_evaluates(self):
        """Hold the encoders still (at their next checkpoint) while the main thread lets Blender evaluate."""
        with self._gate:
            self._blender_waiting = True
            for fence in self._fences:
                fence.acquire()
            self._blender_waiting = False
            try:
                yield
            finally:
                for fence in self._fences:
                    fence.release()

    def finish(self) -> None:
        """Wait for every queued image; raise the first encoding or writing error."""
        self._stop()
        if self._errors:
            raise self._errors[0]

    def abort(self) -> None:
        """Drop queued images and stop the threads."""
        self._cancelled = True
        self._stop()

    def _stop(self) -> None:
        for _ in self._threads:
            self._jobs.put(None)
        for thread in self._threads:
            thread.join()
        self._threads = []

    def _loop(self, fence: threading.Lock) -> None:
        def checkpoint():
            if self._blender_waiting:
                fence.release()
                with self._gate:  # the main thread holds it until Blender is done
                    pass
                fence.acquire()

        while True:
            job = self._jobs.get()  # waits in C: no Python runs here
            with self._gate:  # not while the main thread waits for, or holds, the fences
                pass
            with fence:
                if job is None:
                    return
                path, encode, image = job
                if not self._cancelled and not self._errors:
                    try:
                        path.write_bytes(encode(image, checkpoint=checkpoint))
                    except BaseException as error:  # handed to the main thread by finish()
                        self._errors.append(error)
                self._slots.release()
