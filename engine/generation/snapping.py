"""Adapting a shot to what a backend accepts, and back: frame counts, frame sizes, windows.

Pure functions on integers (no torch, no numpy), so they are easy to test exhaustively. The engine
never lets a pipeline round a size or a frame count silently: it plans here, pads the conditioning,
generates, then trims and crops so the take has exactly the bundle's frames and pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class FrameRule:
    """Frame counts a backend accepts: ``modulus * k + remainder`` for k >= 0 (with at least one frame).

    Wan: ``FrameRule(4, 1)`` (1, 5, 9, ... 81: the VAE compresses 4 frames into one latent, plus the
    first frame). AnimateDiff: ``FrameRule(1, 0)`` (any count)."""

    modulus: int
    remainder: int

    def accepts(self, count: int) -> bool:
        return count >= 1 and count % self.modulus == self.remainder % self.modulus

    def snap_up(self, count: int) -> int:
        """The smallest accepted count >= ``count``."""
        if count < 1:
            raise ValueError(f"frame count must be >= 1, got {count}")
        snapped = count + (self.remainder - count) % self.modulus
        return snapped if snapped >= 1 else snapped + self.modulus

    def describe(self) -> str:
        if self.modulus == 1:
            return "any"
        return f"{self.modulus}k+{self.remainder}"


@dataclass(frozen=True)
class SizePlan:
    """How a bundle's frame size maps to the size the model works at, and back.

    Forward: resize (width, height) to (scaled_width, scaled_height) when the shot has more pixels
    than the backend handles well, then pad with edge pixels to (work_width, work_height), a multiple
    of the backend's size multiple. Back: crop the padding, resize to (width, height). Padding rather
    than resizing to the multiple keeps every generated pixel where the camera's K says it is."""

    width: int
    height: int
    scaled_width: int
    scaled_height: int
    work_width: int
    work_height: int

    @property
    def pad_left(self) -> int:
        return (self.work_width - self.scaled_width) // 2

    @property
    def pad_top(self) -> int:
        return (self.work_height - self.scaled_height) // 2

    @property
    def pad_right(self) -> int:
        return self.work_width - self.scaled_width - self.pad_left

    @property
    def pad_bottom(self) -> int:
        return self.work_height - self.scaled_height - self.pad_top

    @property
    def scaled(self) -> bool:
        return (self.scaled_width, self.scaled_height) != (self.width, self.height)


def plan_size(width: int, height: int, multiple: int, max_pixels: int) -> SizePlan:
    """Plan the working size for a ``width`` x ``height`` shot (see ``SizePlan``)."""
    if width < 1 or height < 1:
        raise ValueError(f"size must be positive, got {width}x{height}")
    scale = min(1.0, math.sqrt(max_pixels / (width * height)))
    scaled_width = max(1, round(width * scale))
    scaled_height = max(1, round(height * scale))
    work_width = math.ceil(scaled_width / multiple) * multiple
    work_height = math.ceil(scaled_height / multiple) * multiple
    return SizePlan(width, height, scaled_width, scaled_height, work_width, work_height)


@dataclass(frozen=True)
class Window:
    """A run of consecutive shot frames generated in one pipeline call.

    ``start``/``stop`` index the shot's frames (0-based, ``stop`` exclusive). ``carried`` leading
    frames overlap what earlier windows produced: they are conditioned on those frames and
    cross-faded with them. ``generated`` is the frame count passed to the pipeline (the window's
    length snapped up to the frame rule; the extra frames repeat the last conditioning frame and are
    dropped)."""

    index: int
    start: int
    stop: int
    carried: int
    generated: int

    @property
    def length(self) -> int:
        return self.stop - self.start


def plan_windows(frame_count: int, window: int, overlap: int, rule: FrameRule, prefer_inside=()) -> list[Window]:
    """Cover ``frame_count`` frames with windows of at most ``window`` frames overlapping by at least
    ``overlap``. Every frame is in at least one window; the take keeps exactly ``frame_count`` frames.

    Windows after the first are spread evenly so the overlaps are as equal as possible, and each is
    exactly ``window`` frames long (an accepted count), so only a short single-window shot is padded.
    """
    if frame_count < 1:
        raise ValueError(f"a shot needs at least one frame, got {frame_count}")
    if not rule.accepts(window):
        raise ValueError(f"window length {window} breaks the frame rule {rule.describe()}")
    if not 0 <= overlap < window:
        raise ValueError(f"overlap must be in 0..{window - 1}, got {overlap}")
    if frame_count <= window:
        return [Window(0, 0, frame_count, 0, rule.snap_up(frame_count))]
    stride = window - overlap
    count = 1 + math.ceil((frame_count - window) / stride)
    last_start = frame_count - window
    starts = [round(i * last_start / (count - 1)) for i in range(count)]
    starts = _keep_inside(starts, window, overlap, frame_count, set(prefer_inside))
    windows = []
    for index, start in enumerate(starts):
        carried = 0 if index == 0 else starts[index - 1] + window - start
        windows.append(Window(index, start, start + window, carried, window))
    return windows


def _keep_inside(starts: list[int], window: int, overlap: int, frame_count: int, preferred: set[int]) -> list[int]:
    """Move inner window starts by a few frames so no ``preferred`` frame (a keyframe) sits on a
    window's first or last frame, where a shot edge does not force it; overlaps stay >= ``overlap``.
    (A placeholder kept simple: the window planner's owner replaces it.)"""
    starts = list(starts)

    def at_edge(start: int, index: int) -> bool:
        first = start if index > 0 else None
        last = start + window - 1 if start + window < frame_count else None
        return bool(preferred & {first, last})

    for index in range(1, len(starts) - 1):
        if not at_edge(starts[index], index):
            continue
        for shift in sorted(range(-window // 2, window // 2 + 1), key=abs):
            start = starts[index] + shift
            fits = starts[index - 1] < start <= starts[index - 1] + window - overlap and starts[index + 1] <= start + window - overlap
            if fits and not at_edge(start, index):
                starts[index] = start
                break
    return starts


def blend_weights(carried: int) -> list[float]:
    """Weight of the new window for each carried frame: a linear ramp strictly between 0 and 1, so
    the old window fades out and the new one fades in (the earlier output keeps ``1 - weight``)."""
    return [(i + 1) / (carried + 1) for i in range(carried)]
