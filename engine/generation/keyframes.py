"""Keyframes: images pinned at scene frames of a shot (the top layer of a window's conditioning).

A keyframe is given to the model as kept pixels (VACE: the image in ``video``, the mask black) on
its own frame and, because ``WanVACEPipeline`` reads its pixel-frame mask only at some frames, on
the frames between it and the nearest frame that mask sampling reads (``held_offsets``); every
other frame keeps the control below it. ``exact`` keyframes are also put back into the take after
decoding, so that frame is the image to the byte; ``guide`` keyframes leave the model's frame.

How the mask reaches the latent frames (diffusers 0.42.1, ``WanVACEPipeline.prepare_masks``): the
``F`` pixel-frame mask is resampled to ``F_lat = ceil(F / t)`` latent frames (``t`` = the VAE's
temporal compression, 4 for Wan) with ``interpolate(mode="nearest-exact")``, so latent frame ``j``
reads pixel frame ``floor((j + 0.5) * F / F_lat)`` and nothing else. For Wan's ``F = 4k + 1`` that
value is never an integer boundary, and pixel frames 0 and F-1 are never read: a keyframe black on
its frame alone would not reach the mask channel at all there.

numpy only at import (PIL when an image is read); the parameter check is pure Python, so the
add-on validates a request with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ParamsError

KEYFRAME_MODES = ("exact", "guide")
KEYFRAME_KEYS = ("frame", "image", "mode")


@dataclass(frozen=True)
class ShotKeyframe:
    index: int
    """0-based index of the keyframe's frame in the bundle's frames."""
    frame: int
    """The scene frame it is pinned at."""
    image: np.ndarray
    """uint8 RGB at the bundle's width x height (scaled to cover, centre-cropped)."""
    mode: str


def check_keyframes(keyframes) -> None:
    """Raise ``ParamsError`` for the first malformed keyframe entry (shape only: the bundle's frame
    range and the image files are checked by ``load_keyframes``)."""
    if not isinstance(keyframes, list):
        raise ParamsError('keyframes must be a list of {"frame": N, "image": PATH, "mode": "exact" or "guide"}')
    seen = set()
    for position, entry in enumerate(keyframes):
        where = f"keyframes[{position}]"
        if not isinstance(entry, dict):
            raise ParamsError(f'{where} must be an object like {{"frame": 1001, "image": "board.png"}}')
        unknown = sorted(set(entry) - set(KEYFRAME_KEYS))
        if unknown:
            raise ParamsError(f"{where} has unknown key(s) {', '.join(unknown)}; known: {', '.join(KEYFRAME_KEYS)}")
        frame = entry.get("frame")
        if type(frame) is not int:
            raise ParamsError(f"{where}: frame must be a whole scene frame number, got {frame!r}")
        image = entry.get("image")
        if not isinstance(image, str) or not image:
            raise ParamsError(f"{where}: image must be the path of an image file")
        mode = entry.get("mode", "exact")
        if mode not in KEYFRAME_MODES:
            raise ParamsError(f"{where}: mode must be exact or guide, got {mode!r}")
        if frame in seen:
            raise ParamsError(f"two keyframes are pinned at frame {frame}; keep one")
        seen.add(frame)


def parse_keyframe_argument(text: str) -> dict:
    """``FRAME=IMAGE`` or ``FRAME=IMAGE:guide`` (``:exact`` too) -> a keyframe entry. Only a last
    ``:guide``/``:exact`` is a mode, so ``C:\\boards\\a.png`` stays a path."""
    frame, separator, image = text.partition("=")
    try:
        number = int(frame.strip())
    except ValueError:
        number = None
    if not separator or number is None or not image:
        raise ParamsError(f"--keyframe {text!r}: expected FRAME=IMAGE or FRAME=IMAGE:guide, e.g. 1001=boards/sh010_a.png")
    mode = "exact"
    head, colon, tail = image.rpartition(":")
    if colon and tail in KEYFRAME_MODES and head:
        image, mode = head, tail
    return {"frame": number, "image": image, "mode": mode}


def cover_crop(image, width: int, height: int) -> np.ndarray:
    """A PIL image scaled (aspect kept) to cover ``width`` x ``height`` and centre-cropped to it, as
    uint8 RGB. An image already of that size is returned unchanged, pixel for pixel."""
    from PIL import Image

    rgb = image.convert("RGB")
    if rgb.size != (width, height):
        scale = max(width / rgb.size[0], height / rgb.size[1])
        scaled = (max(width, round(rgb.size[0] * scale)), max(height, round(rgb.size[1] * scale)))
        rgb = rgb.resize(scaled, Image.LANCZOS)
        left, top = (scaled[0] - width) // 2, (scaled[1] - height) // 2
        rgb = rgb.crop((left, top, left + width, top + height))
    return np.asarray(rgb)


def load_keyframes(keyframes: list[dict], frame_numbers: list[int], width: int, height: int) -> list[ShotKeyframe]:
    """The request's keyframes read and sized for the shot; a frame outside the shot or an unreadable
    image is a ``ParamsError`` (raised before any model is loaded)."""
    from PIL import Image

    index_of = {number: index for index, number in enumerate(frame_numbers)}
    loaded = []
    for entry in keyframes:
        frame = entry["frame"]
        if frame not in index_of:
            raise ParamsError(
                f"keyframe at frame {frame} is outside the shot (frames {frame_numbers[0]}-{frame_numbers[-1]}); pin it inside the shot's range"
            )
        path = Path(entry["image"]).expanduser()
        if not path.is_file():
            raise ParamsError(f"keyframe image {path} (frame {frame}) does not exist")
        try:
            with Image.open(path) as image:
                pixels = cover_crop(image, width, height)
        except Exception as error:
            raise ParamsError(f"keyframe image {path} (frame {frame}) is not a readable image ({type(error).__name__}); pin a PNG or JPEG instead") from None
        loaded.append(ShotKeyframe(index=index_of[frame], frame=frame, image=pixels, mode=entry.get("mode", "exact")))
    return sorted(loaded, key=lambda k: k.index)


def mask_sampled_frames(frames: int, temporal: int) -> list[int]:
    """The pixel frames ``WanVACEPipeline.prepare_masks`` reads, one per latent frame: latent ``j`` of
    ``ceil(frames / temporal)`` reads ``floor((j + 0.5) * frames / latent_frames)`` (nearest-exact),
    computed in integers: ``floor((2j + 1) * frames / (2 * latent_frames))``."""
    latent_frames = (frames + temporal - 1) // temporal
    return [min(frames - 1, (2 * j + 1) * frames // (2 * latent_frames)) for j in range(latent_frames)]


def held_offsets(offset: int, frames: int, temporal: int) -> range:
    """The window frames a keyframe at ``offset`` holds (mask black, its image in the video): from its
    own frame to the nearest frame the mask sampling reads (the earlier one on a tie), inclusive. So
    the latent frame that reads it sees a black mask, and the frames in between show the keyframe
    too rather than jumping from the model's picture to the keyframe and back."""
    sampled = min(mask_sampled_frames(frames, temporal), key=lambda s: (abs(s - offset), s))
    return range(min(offset, sampled), max(offset, sampled) + 1)


def window_keyframes(keyframes: list[ShotKeyframe], start: int, length: int, generated: int, temporal: int) -> dict[int, ShotKeyframe]:
    """Offset in the window -> the keyframe held there, for every keyframe inside ``start`` ..
    ``start + length``. Padding frames (beyond ``length``, repeating the last frame) hold the last
    frame's keyframe as they repeat its control. Where two keyframes' holds meet, the frame goes to
    the keyframe whose own frame is nearer."""
    held: dict[int, tuple[int, ShotKeyframe]] = {}
    for keyframe in keyframes:
        offset = keyframe.index - start
        if not 0 <= offset < length:
            continue
        own = set(held_offsets(offset, generated, temporal))
        if offset == length - 1:
            own |= set(range(length, generated))
        for position in own:
            distance = abs(position - offset)
            if position not in held or distance < held[position][0]:
                held[position] = (distance, keyframe)
    return {position: keyframe for position, (_, keyframe) in held.items()}


def paste_exact(output: np.ndarray, keyframes: list[ShotKeyframe], start: int, stop: int) -> None:
    """Put ``exact`` keyframes between shot frames ``start`` and ``stop`` back into the take, to the byte."""
    for keyframe in keyframes:
        if keyframe.mode == "exact" and start <= keyframe.index < stop:
            output[keyframe.index] = keyframe.image


def describe(keyframes: list[dict]) -> list[dict]:
    """take.json's record: frame, image path, the image file's sha256, mode, per keyframe."""
    import hashlib

    record = []
    for entry in keyframes:
        path = Path(entry["image"]).expanduser()
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None
        record.append({"frame": entry["frame"], "image": str(path.absolute()), "image_sha256": digest,
                       "mode": entry.get("mode", "exact")})
    return record
