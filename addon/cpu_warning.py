"""A real model about to run on the CPU: say so before the take starts, with a rough time, and let it
run only when the artist chose the CPU (Device: CPU in the preferences) or confirms.

Pure. The time is a floor from arithmetic, not a measurement: a denoising step of a diffusion
transformer costs about 2 x parameters x tokens multiply-adds for its layers plus 4 x tokens^2 x
width x layers for attention, twice with guidance; a fast desktop CPU sustains roughly a teraflop
in float32 on such work (most laptops a fraction of that). Wan's tokens per window are latent frames
((frames - 1) / 4 + 1) x (height / 16) x (width / 16) at the working size (at most 832x480).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .device_label import runs_on_cpu

CPU_FLOPS = 1.0e12
SYNTHETIC_MODELS = ("tiny-random",)


@dataclass(frozen=True)
class _Cost:
    parameters: float
    width: int
    layers: int
    max_pixels: int
    window: int
    overlap: int
    default_steps: int
    tokens_per_pixel_frame: float  # tokens per (pixel x frame) of the working size


_WAN_TOKENS = 1 / (16 * 16 * 4)  # 8x VAE and 2x2 patches spatially, 4x in time
_COSTS = {
    # The transformer and its VACE blocks (15 of them in the 1.3B, 8 in the 14B), diffusers configs.
    "wan-vace-1.3b": _Cost(1.7e9, 1536, 45, 832 * 480, 81, 17, 30, _WAN_TOKENS),
    "wan-vace-14b": _Cost(16.0e9, 5120, 48, 832 * 480, 81, 17, 30, _WAN_TOKENS),
    # Wan2.2 A14B: two experts of the 14B's size, one of them per step, so a step costs what the 14B's does.
    "wan2.2-vace-fun-a14b": _Cost(16.0e9, 5120, 48, 832 * 480, 81, 17, 30, _WAN_TOKENS),
    # UNet, motion modules and depth ControlNet on 64x64 latents; attention is per frame, so counted by pixels.
    "animatediff-controlnet": _Cost(1.7e9, 640, 16, 512 * 512, 16, 4, 25, 1 / 64),
}


def rough_cpu_seconds(model: str, frames: int, width: int, height: int, steps: int | None, guidance: bool = True) -> float | None:
    """A floor for the take's time on a fast desktop CPU, or None for a model without known costs."""
    cost = _COSTS.get(model)
    if cost is None or frames <= 0:
        return None
    pixels = min(width * height, cost.max_pixels)
    windows = 1 if frames <= cost.window else math.ceil((frames - cost.overlap) / (cost.window - cost.overlap))
    window_frames = min(frames, cost.window)
    tokens = pixels * window_frames * cost.tokens_per_pixel_frame
    per_pass = 2 * cost.parameters * tokens + 4 * tokens * tokens * cost.width * cost.layers
    passes = (steps or cost.default_steps) * windows * (2 if guidance else 1)
    return per_pass * passes / CPU_FLOPS


def _duration(seconds: float) -> str:
    if seconds >= 2 * 3600:
        return f"about {seconds / 3600:.0f} hours"
    if seconds >= 90 * 60:
        return "about an hour and a half"
    minutes = max(1, round(seconds / 60))
    return f"about {minutes} minute{'s' if minutes > 1 else ''}"


def cpu_warning(model: str, device_choice: str, engine_device: dict | None, frames: int, width: int, height: int,
                steps: int | None, guidance: bool = True) -> str | None:
    """The warning to show before a take, or None: a synthetic model, the CPU chosen in the
    preferences, or an engine that runs (or last ran) on a GPU. An engine never started yet is
    judged when its hello arrives."""
    if model in SYNTHETIC_MODELS or device_choice == "cpu" or not engine_device or not runs_on_cpu(engine_device):
        return None
    seconds = rough_cpu_seconds(model, frames, width, height, steps, guidance)
    how_long = f"{_duration(seconds)} even on a fast CPU" if seconds else "many hours"
    return (f"No GPU: the engine runs on the CPU, where {model} for {frames} frames at {width}x{height} takes "
            f"{how_long} (a GPU: minutes)")
