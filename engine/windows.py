"""What one pipeline call receives: the conditioning of one window, at the model's working size."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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
