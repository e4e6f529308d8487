"""The whole shot's conditioning at the bundle's size, and the per-window inputs cut from it.

Built once per request, before the model runs, so every input problem (unknown object, missing plate
frame, unreadable reference) is reported before any GPU time is spent.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..formats.bundle import Bundle
from . import carry
from .carry import CarriedPixels, FrameViews, SourceTake
from .conditioning import depth_control_image, load_rgb, selection_mask, to_work_size
from ..errors import ParamsError
from ..formats.params import GenerateParams
from .snapping import SizePlan, Window
from ..formats.take import frame_file_name
from .windows import WindowInputs


@dataclass
class ShotConditioning:
    depth: list[np.ndarray]
    """uint8 RGB inverse-depth image per bundle frame (shot-wide near/far)."""
    generate: list[np.ndarray] | None
    """bool per bundle frame, True where the model regenerates; None = everywhere (restyle)."""
    keep: list[np.ndarray] | None
    """uint8 RGB plate frame per bundle frame (selective mode), else None: the model is shown these
    pixels outside the selection, and the take gets them back exactly after decoding."""
    reference: np.ndarray | None
    """uint8 RGB style reference at the bundle's size, or None."""
    # issue 16 §3, §4: the carried layer (engine/generation/carry.py)
    views: FrameViews | None = None
    """Reprojection views of the bundle's frames (carry within the take), None without object motion."""
    set_frames: list[CarriedPixels] | None = None
    """Per bundle frame, what the ``plate_from`` source takes show of it (kept exactly), or None."""
    sources: list[SourceTake] | None = None


def build_shot_conditioning(bundle: Bundle, params: GenerateParams) -> ShotConditioning:
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:  # decoding releases the GIL
        depth = list(pool.map(lambda i: depth_control_image(bundle.read_depth(i), bundle.near, bundle.far),
                              range(len(bundle.frames))))
    reference = None
    if params.reference:
        reference = _read_image(params.reference, bundle.width, bundle.height, "reference image")
    generate = keep = None
    if params.mode == "selective":
        ids = bundle.object_ids(params.objects)
        generate = [selection_mask(bundle.read_mask(i), ids) for i in range(len(bundle.frames))]
        keep = _plate_frames(params.plate, bundle)
    shot = ShotConditioning(depth=depth, generate=generate, keep=keep, reference=reference)
    carry.prepare(shot, bundle, params)
    return shot


def window_inputs(
    shot: ShotConditioning, window: Window, plan: SizePlan, output: np.ndarray, seed: int, carry_pixels: bool
) -> WindowInputs:
    """The pipeline inputs of one window at the working size.

    With ``carry_pixels`` (backends that take a keep/generate mask), carried frames, already
    produced by the previous window, are given to the model as pixels to keep, so the new window
    continues the picture instead of starting over; its other frames keep every pixel that earlier
    frames or source takes already show (``carry``). Frames added to reach the backend's frame rule
    repeat the window's last frame and are dropped after decoding."""
    control, generate = [], []
    carried = carry.window_layers(
        shot.views, shot.set_frames, output, list(range(window.start + window.carried, window.stop)), window.start + window.carried
    ) if carry_pixels else {}
    for offset in range(window.generated):
        index = window.start + min(offset, window.length - 1)
        if carry_pixels and offset < window.carried:
            frame_control = output[index]
            frame_generate = np.zeros(output.shape[1:3], dtype=bool)
        elif shot.generate is None:
            frame_control = shot.depth[index]
            frame_generate = np.ones(output.shape[1:3], dtype=bool)
        else:
            frame_generate = shot.generate[index]
            frame_control = np.where(frame_generate[:, :, None], shot.depth[index], shot.keep[index])
        if index in carried and not (offset < window.carried):  # carried pixels are kept, above the plate
            frame_control = np.where(carried[index].valid[:, :, None], carried[index].image, frame_control)
            frame_generate = frame_generate & ~carried[index].valid
        control.append(to_work_size(frame_control, plan))
        generate.append(to_work_size(frame_generate, plan, nearest=True))
    reference = to_work_size(shot.reference, plan) if shot.reference is not None else None
    return WindowInputs(
        control=control, generate=generate, reference=reference,
        width=plan.work_width, height=plan.work_height, seed=seed + window.index,
    )


def _read_image(path: str, width: int, height: int, what: str) -> np.ndarray:
    file = Path(path).expanduser()
    if not file.is_file():
        raise ParamsError(f"{what} {file} does not exist")
    try:
        return load_rgb(file, width, height)
    except Exception as error:
        raise ParamsError(f"{what} {file} is not a readable image ({type(error).__name__})") from None


def _plate_frames(plate: str, bundle: Bundle) -> list[np.ndarray]:
    """One plate image per bundle frame, named by scene frame: ``0007.png`` (as in takes), ``7.png``
    or ``0007.jpg``. A take folder works too (its ``frames/`` are used). Resized to the bundle's size."""
    folder = Path(plate).expanduser()
    if (folder / "frames").is_dir():
        folder = folder / "frames"
    if not folder.is_dir():
        raise ParamsError(f"plate folder {folder} does not exist")
    frames = []
    for number in bundle.frame_numbers:
        candidates = [folder / frame_file_name(number), folder / f"{number}.png", folder / f"{number:04d}.jpg"]
        found = next((c for c in candidates if c.is_file()), None)
        if found is None:
            raise ParamsError(f"plate {folder} has no frame {number} (expected {frame_file_name(number)})")
        frames.append(_read_image(str(found), bundle.width, bundle.height, f"plate frame {number}"))
    return frames
