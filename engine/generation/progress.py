"""Progress of one generation: phase changes and denoising steps as ``report`` calls, with an ETA."""

from __future__ import annotations

import time
from typing import Callable

#: ``report(phase, step, total, **extra)``: called for every progress event (see protocol.Progress).
Reporter = Callable[..., None]


class ProgressTracker:
    """Turns phase changes and steps into ``report`` calls, with an ETA from measured step times."""

    def __init__(self, report: Reporter, total: int, windows: int):
        self.report, self.total, self.windows = report, total, windows
        self.window = 1
        self.done = 0
        self.decoded_windows = 0
        self.decode_seconds: float | None = None
        self._step_times: list[float] = []  # perf_counter at each completed step

    def phase(self, name: str, **extra) -> None:
        self.report(name, self.done, self.total, eta=self._eta(), window=self.window, windows=self.windows, **extra)

    def step(self, step: int) -> None:
        self.done = step
        self._step_times.append(time.perf_counter())
        self.report("denoising", step, self.total, eta=self._eta(), window=self.window, windows=self.windows)

    def decoded(self, seconds: float) -> None:
        self.decoded_windows += 1
        self.decode_seconds = seconds

    def _eta(self) -> float | None:
        """Seconds left for denoising and decoding; None until two steps give a step time."""
        if len(self._step_times) < 2:
            return None
        per_step = (self._step_times[-1] - self._step_times[0]) / (len(self._step_times) - 1)
        per_decode = self.decode_seconds if self.decode_seconds is not None else per_step
        return round(per_step * (self.total - self.done) + per_decode * (self.windows - self.decoded_windows), 2)
