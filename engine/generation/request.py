"""What a backend is asked to make: a take's parameters with their defaults resolved.

Its own module so the backend contract (``engine/backends/base.py``) names it without importing the
generation path that calls the backends.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..formats.params import GenerateParams


@dataclass
class Request:
    """A generation with its defaults resolved (what take.json records under ``resolved``)."""

    params: GenerateParams
    steps: int
    """Denoising steps per window."""
    guidance: float
    seed: int
    """The take's seed; window i uses seed + i."""
    loras: tuple = ()
    """The take's LoRAs, checked (``engine.models.loras.ResolvedLora``; the draft LoRA included)."""
