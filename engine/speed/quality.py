"""What ``quality`` changes in a take: ``final`` runs the backend's defaults; ``preview`` runs fewer
steps on a quarter of the pixels (the frames are scaled back to the shot's size) and runs compiled
blocks eagerly (a new size would recompile, and a preview never pays that back).

Everything a quality decides is resolved here, once per take, into a ``Quality``; a quality that
also changes the schedule or loads weights (a step-distilled ``draft``) adds its fields here.
"""

from __future__ import annotations

from dataclasses import dataclass

#: ``preview``: fewer steps, a quarter of the pixels (upscaled back to the shot's size).
PREVIEW_STEPS = 12
PREVIEW_PIXEL_FRACTION = 0.25


@dataclass(frozen=True)
class Quality:
    steps: int
    """Denoising steps per window."""
    guidance: float
    max_pixels: int
    """Frames with more pixels are scaled down to this area for the model (and back up after)."""
    compiled: bool
    """Whether compiled blocks run compiled (False: eagerly, for sizes seen once)."""


def resolve(params, spec) -> Quality:
    """The take's steps, guidance and pixel budget from its parameters and the backend's defaults
    (an explicit ``steps`` or ``guidance`` always wins)."""
    preview = params.quality == "preview"
    return Quality(
        steps=params.steps or (PREVIEW_STEPS if preview else spec.default_steps),
        guidance=float(spec.default_guidance if params.guidance is None else params.guidance),
        max_pixels=int(spec.max_pixels * PREVIEW_PIXEL_FRACTION) if preview else spec.max_pixels,
        compiled=not preview,
    )
