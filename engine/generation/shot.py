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
from . import controls as object_controls
from . import keyframes as pinned
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
    # Storyboard control (issue 15): the per-object control layer and the keyframes above everything.
    control: list[np.ndarray] | None = None
    """uint8 RGB per bundle frame, what the model sees where it generates: ``depth``, with the posed
    characters' skeletons over their regions (``controls``); None = ``depth``."""
    keyframes: list | None = None
    """``keyframes.ShotKeyframe`` per pinned frame (empty: none)."""
    temporal: int = 4
    """The backend's temporal compression (frame rule modulus): how keyframes reach the latent mask."""
    controls: object_controls.ObjectControls | None = None
    # issue 16 §3, §4: the carried layer (engine/generation/carry.py)
    views: FrameViews | None = None
    """Reprojection views of the bundle's frames (carry within the take), None without object motion."""
    set_frames: list[CarriedPixels] | None = None
    """Per bundle frame, what the ``plate_from`` source takes show of it (kept exactly), or None."""
    sources: list[SourceTake] | None = None


def build_shot_conditioning(bundle: Bundle, params: GenerateParams, temporal: int = 4) -> ShotConditioning:
    resolved = object_controls.resolve_controls(bundle, params.controls, params.objects)
    keyframes = pinned.load_keyframes(params.keyframes, bundle.frame_numbers, bundle.width, bundle.height)

    def control_image(i: int) -> np.ndarray:  # the per-object control layer: pose images over posed characters
        return object_controls.compose_control(depth[i], bundle.read_mask(i), bundle.read_pose(i), bundle.frames[i].skeletons, resolved)

    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:  # decoding releases the GIL
        depth = list(pool.map(lambda i: depth_control_image(bundle.read_depth(i), bundle.near, bundle.far),
                              range(len(bundle.frames))))
        control = list(pool.map(control_image, range(len(bundle.frames)))) if resolved.pose else depth
    reference = None
    if params.reference:
        reference = _read_image(params.reference, bundle.width, bundle.height, "reference image")
    generate = keep = None
    if params.mode == "selective":
        ids = bundle.object_ids(params.objects)
        generate = [selection_mask(bundle.read_mask(i), ids) for i in range(len(bundle.frames))]
        keep = _plate_frames(params.plate, bundle)
    if resolved.keep_ids:  # objects kept from the plate: cut out of what the model generates
        keep = keep or _plate_frames(params.plate, bundle)
        generate = [(generate[i] if generate else True) & ~object_controls.kept_region(bundle.read_mask(i), resolved)
                    for i in range(len(bundle.frames))]
    shot = ShotConditioning(depth=depth, generate=generate, keep=keep, reference=reference,
                            control=control, keyframes=keyframes, temporal=temporal, controls=resolved)
    carry.prepare(shot, bundle, params)
    return shot


def model_view(shot: ShotConditioning, index: int) -> tuple[np.ndarray, np.ndarray]:
    """What the model is shown of bundle frame ``index`` at the bundle's size, as (video, generate):
    the layers of ``window_inputs`` without the window-dependent ones (carried frames, a keyframe's
    hold onto its neighbours): keyframe pixels > the kept plate > the per-object control. For pictures
    (the demo's contact sheet, docs/images/object_controls.png)."""
    height, width = shot.depth[index].shape[:2]
    keyframe = next((k for k in shot.keyframes or () if k.index == index), None)
    if keyframe is not None:
        return keyframe.image, np.zeros((height, width), dtype=bool)
    control = (shot.control or shot.depth)[index]
    if shot.generate is None:
        return control, np.ones((height, width), dtype=bool)
    generate = shot.generate[index]
    return np.where(generate[:, :, None], control, shot.keep[index]), generate


def window_inputs(
    shot: ShotConditioning, window: Window, plan: SizePlan, output: np.ndarray, seed: int, carry_pixels: bool
) -> WindowInputs:
    """The pipeline inputs of one window at the working size.

    With ``carry_pixels`` (backends that take a keep/generate mask), carried frames, already
    produced by the previous window, are given to the model as pixels to keep, so the new window
    continues the picture instead of starting over; its other frames keep every pixel that earlier
    frames or source takes already show (``carry``). Frames added to reach the backend's frame rule
    repeat the window's last frame and are dropped after decoding.

    Each frame's control/mask is composed by layers, highest first: keyframe pixels (``keyframes``,
    held on the frames VACE's mask sampling reads) > carried pixels > the kept plate (selective mode,
    ``keep`` controls) > the per-object control (depth, or pose: ``controls``)."""
    control, generate = [], []
    held = pinned.window_keyframes(shot.keyframes or [], window.start, window.length, window.generated, shot.temporal)
    carried = carry.window_layers(
        shot.views, shot.set_frames, output, list(range(window.start + window.carried, window.stop)), window.start + window.carried
    ) if carry_pixels else {}
    for offset in range(window.generated):
        index = window.start + min(offset, window.length - 1)
        if carry_pixels and offset < window.carried:
            frame_control = output[index]
            frame_generate = np.zeros(output.shape[1:3], dtype=bool)
        elif shot.generate is None:
            frame_control = (shot.control or shot.depth)[index]
            frame_generate = np.ones(output.shape[1:3], dtype=bool)
        else:
            frame_generate = shot.generate[index]
            frame_control = np.where(frame_generate[:, :, None], (shot.control or shot.depth)[index], shot.keep[index])
        if index in carried and offset not in held and not (offset < window.carried):  # carried pixels are kept, above the plate
            frame_control = np.where(carried[index].valid[:, :, None], carried[index].image, frame_control)
            frame_generate = frame_generate & ~carried[index].valid
        if offset in held:  # keyframe pixels, the highest layer: applied last, over every layer above
            frame_control = held[offset].image
            frame_generate = np.zeros(output.shape[1:3], dtype=bool)
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
