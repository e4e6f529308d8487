"""Turning a bundle's depth and masks into the images a video model is conditioned on.

Depth reaches the model the way VACE and depth ControlNets were trained (depth-estimator output):
inverse depth, near = white, far and background = black. It is normalised with the one ``near``/
``far`` range of the whole shot, never per frame: per-frame normalisation makes the brightness of a
static wall change whenever something walks closer to the camera, and the model renders that
as flicker.

numpy + PIL only (no torch).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from .snapping import SizePlan


def inverse_depth(depth: np.ndarray, near: float, far: float) -> np.ndarray:
    """Planar depth -> float32 in [0, 1]: 1 at ``near``, 0 at ``far`` and for background (+inf).

    Linear in 1/z, like disparity from a depth estimator; values outside the range are clipped."""
    with np.errstate(divide="ignore"):
        inverse = 1.0 / depth.astype(np.float64)  # +inf background -> 0
    normalised = (inverse - 1.0 / far) / (1.0 / near - 1.0 / far)
    return np.clip(normalised, 0.0, 1.0).astype(np.float32)


def depth_control_image(depth: np.ndarray, near: float, far: float) -> np.ndarray:
    """Depth -> uint8 RGB (height, width, 3) grey image, near = white."""
    grey = np.round(inverse_depth(depth, near, far) * 255.0).astype(np.uint8)
    return np.repeat(grey[:, :, None], 3, axis=2)


def selection_mask(ids: np.ndarray, selected_ids: list[int]) -> np.ndarray:
    """True where a pixel shows one of the selected objects (the region to regenerate)."""
    return np.isin(ids, np.asarray(selected_ids, dtype=ids.dtype))


def to_work_size(image: np.ndarray, plan: SizePlan, nearest: bool = False) -> np.ndarray:
    """Bundle-sized image (H, W[, C]) -> working size: resize if the plan scales, then pad with
    edge pixels (edge, not black: black depth reads as "infinitely far" and invents a horizon)."""
    if plan.scaled:
        resample = Image.NEAREST if nearest else Image.BICUBIC
        image = np.asarray(Image.fromarray(image).resize((plan.scaled_width, plan.scaled_height), resample))
    pad = [(plan.pad_top, plan.pad_bottom), (plan.pad_left, plan.pad_right)] + [(0, 0)] * (image.ndim - 2)
    return np.pad(image, pad, mode="edge")


def from_work_size(frame: np.ndarray, plan: SizePlan) -> np.ndarray:
    """Working-size uint8 RGB frame -> exactly the bundle's width x height (crop padding, resize back)."""
    top, left = plan.pad_top, plan.pad_left
    frame = frame[top : top + plan.scaled_height, left : left + plan.scaled_width]
    if plan.scaled:
        frame = np.asarray(Image.fromarray(frame).resize((plan.width, plan.height), Image.LANCZOS))
    return np.ascontiguousarray(frame)


def load_rgb(path, width: int, height: int) -> np.ndarray:
    """An image file as uint8 RGB resized to width x height (for plates and references)."""
    with Image.open(path) as image:
        rgb = image.convert("RGB")
        if rgb.size != (width, height):
            rgb = rgb.resize((width, height), Image.LANCZOS)
        return np.asarray(rgb)
