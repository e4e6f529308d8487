"""What ``quality`` changes in a take: ``final`` runs the backend's defaults; ``preview`` runs fewer
steps on a quarter of the pixels (the frames are scaled back to the shot's size) and runs compiled
blocks eagerly (a new size would recompile, and a preview never pays that back); ``draft`` runs a
step-distillation LoRA at 4 steps without guidance on its own schedule, at the full size and
compiled where the worker compiles (``engine.speed.draft``); ``draft-preview`` is both: the draft's
steps, LoRA and schedule on preview's pixels.

Everything a quality decides is resolved here, once per take, into a ``Quality``.
"""

from __future__ import annotations

from dataclasses import dataclass

#: ``preview``: fewer steps, a quarter of the pixels (upscaled back to the shot's size).
PREVIEW_STEPS = 12
PREVIEW_PIXEL_FRACTION = 0.25

# -- draft: what the lightx2v / CausVid step-distillation LoRAs were distilled for --
DRAFT_STEPS = 4
DRAFT_GUIDANCE = 1.0
"""Guidance 1.0: no unconditional pass (the LoRAs distil classifier-free guidance away too)."""
DRAFT_FLOW_SHIFT = 5.0
"""UniPC, flow prediction, shift 5: at 4 steps the timesteps 999, 937, 833, 625."""
DRAFT_QUALITIES = ("draft", "draft-preview")
PREVIEW_QUALITIES = ("preview", "draft-preview")


@dataclass(frozen=True)
class Quality:
    steps: int
    """Denoising steps per window."""
    guidance: float
    max_pixels: int
    """Frames with more pixels are scaled down to this area for the model (and back up after)."""
    compiled: bool
    """Whether compiled blocks run compiled (False: eagerly, for sizes seen once)."""
    draft: bool = False
    """Whether the take runs the model's step-distillation LoRA on the draft schedule."""
    flow_shift: float | None = None
    """The scheduler's flow shift for this take (``None``: the model's own scheduler, unchanged)."""


def resolve(params, spec) -> Quality:
    """The take's steps, guidance and pixel budget from its parameters and the backend's defaults
    (an explicit ``steps`` or ``guidance`` always wins)."""
    preview = params.quality in PREVIEW_QUALITIES
    draft = params.quality in DRAFT_QUALITIES
    default_steps = DRAFT_STEPS if draft else PREVIEW_STEPS if preview else spec.default_steps
    default_guidance = DRAFT_GUIDANCE if draft else spec.default_guidance
    return Quality(
        steps=params.steps or default_steps,
        guidance=float(default_guidance if params.guidance is None else params.guidance),
        max_pixels=int(spec.max_pixels * PREVIEW_PIXEL_FRACTION) if preview else spec.max_pixels,
        compiled=not preview,
        draft=draft,
        flow_shift=DRAFT_FLOW_SHIFT if draft else None,
    )
