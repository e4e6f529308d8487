"""One window of a shot: what its pipeline call receives, and how its frames join the take."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .conditioning import from_work_size
from .snapping import SizePlan, Window, blend_weights


@dataclass
class WindowInputs:
    """Conditioning for one window, already padded/resized to the working size and snapped to the
    backend's frame rule (extra frames repeat the last one)."""

    control: list[np.ndarray]
    """uint8 RGB (work_height, work_width, 3) per generated frame: inverse depth where the model
    generates, kept pixels (plate, or earlier windows' output for carried frames) elsewhere."""
    generate: list[np.ndarray]
    """bool (work_height, work_width) per generated frame: True = regenerate, False = keep."""
    reference: np.ndarray | None
    """uint8 RGB style reference at the working size, or None."""
    width: int
    height: int
    seed: int
    """Seed of this window's noise (the take's seed plus the window index)."""

    @property
    def frames(self) -> int:
        return len(self.control)


def blend_window(output: np.ndarray, decoded: np.ndarray, window: Window, size: SizePlan) -> None:
    """Put a decoded window into the shot: its carried frames cross-fade with what earlier windows
    wrote, the rest is copied; padding frames beyond the window's length are dropped."""
    weights = blend_weights(window.carried)
    for offset in range(window.length):
        frame = from_work_size(decoded[offset], size)
        index = window.start + offset
        if offset < window.carried:
            weight = weights[offset]
            mixed = (1.0 - weight) * output[index].astype(np.float32) + weight * frame.astype(np.float32)
            output[index] = np.clip(np.round(mixed), 0, 255).astype(np.uint8)
        else:
            output[index] = frame
