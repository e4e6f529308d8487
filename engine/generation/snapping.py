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
    ``overlap``, generating as few frames as possible. Every frame is in at least one window; the take
    keeps exactly ``frame_count`` frames.

    - Every window is a whole number of the model's latent frame groups (its length is a count the
      ``rule`` accepts: 4k+1 for Wan), so no generated frame is padding, except in a shot shorter than
      one window, or in a last window where padding is cheaper than a longer overlap.
    - The cost, generated frames per shot frame (``plan_cost``), is minimal: the windows are no longer
      and overlap no more than they need to (an 82-frame Wan shot is 49 + 50 frames carrying 17
      (102 generated with the last window's padding), not two 81-frame windows carrying 80). Among equally cheap plans the most even lengths win.
    - ``prefer_inside``: shot frame indexes (keyframes) that should fall inside one window rather than
      at the windows' edges, where two windows overlap and are blended. A keyframe in an overlap counts
      as costing one whole window, so it is moved out of the overlaps whenever that costs less; frames
      of a shot that is one window are always inside.

    Exact dynamic programme over (window stop, window length), linear in ``frame_count``; carries are
    searched up to ``overlap + 2 * rule.modulus - 1`` frames (more never pays: a longer overlap only
    costs frames, and one latent group of slack reaches every length the rule accepts).
    """
    if frame_count < 1:
        raise ValueError(f"a shot needs at least one frame, got {frame_count}")
    if not rule.accepts(window):
        raise ValueError(f"window length {window} breaks the frame rule {rule.describe()}")
    if not 0 <= overlap < window:
        raise ValueError(f"overlap must be in 0..{window - 1}, got {overlap}")
    if frame_count <= window:
        return [Window(0, 0, frame_count, 0, rule.snap_up(frame_count))]
    keyframes = sorted({int(p) for p in prefer_inside if 0 <= int(p) < frame_count})
    most_carried = min(overlap + 2 * rule.modulus - 1, window - 1)
    lengths = [n for n in range(overlap + 1, window + 1) if rule.accepts(n)]
    # before[k] = keyframes before frame k: keyframes in [a, b) = before[b] - before[a]
    before = [0] * (frame_count + 1)
    for p in keyframes:
        before[p + 1] += 1
    for i in range(frame_count):
        before[i + 1] += before[i]
    penalty = window  # a keyframe in an overlap weighs as much as one more window

    def key(cost: int, missed: int, squares: int, carried_squares: int) -> tuple:
        # cheapest first, then fewest keyframes at edges, then the most even lengths and carries
        return (cost + penalty * missed, missed, squares, carried_squares)

    # best[(e, n)]: the best plan so far whose last window is n frames long and stops at shot frame e;
    # the next window carries fewer than n frames, so it starts after this one.
    best: dict[tuple[int, int], tuple] = {}
    step: dict[tuple[int, int], tuple] = {}
    for length in lengths:
        if length < frame_count:
            best[(length, length)] = key(length, 0, length * length, 0)
            step[(length, length)] = (None, 0)
    final, final_step = None, None
    for stop in range(1, frame_count):
        for previous_length in lengths:
            current = best.get((stop, previous_length))
            if current is None:
                continue
            cost_so_far = current[0] - penalty * current[1]
            for carried in range(overlap, min(most_carried, previous_length - 1) + 1):
                start = stop - carried
                missed = current[1] + before[stop] - before[start]
                carried_squares = current[3] + carried * carried
                # the last window: whatever reaches the end, padded up to the rule
                tail = frame_count - start
                if carried < tail <= window and rule.snap_up(tail) <= window:
                    generated = rule.snap_up(tail)
                    candidate = key(cost_so_far + generated, missed, current[2] + generated * generated, carried_squares)
                    if final is None or candidate < final:
                        final, final_step = candidate, ((stop, previous_length), carried, tail, generated)
                for length in lengths:
                    end = start + length
                    if end >= frame_count or length <= carried:
                        continue
                    candidate = key(cost_so_far + length, missed, current[2] + length * length, carried_squares)
                    if candidate < best.get((end, length), (math.inf,)):
                        best[(end, length)], step[(end, length)] = candidate, ((stop, previous_length), carried)
    if final_step is None:
        raise ValueError(f"no window plan covers {frame_count} frames with windows of {window} overlapping by {overlap}")
    # Walk back from the last window.
    state, carried, tail, generated = final_step
    spans = [(frame_count - tail, frame_count, carried, generated)]
    while state is not None:
        (stop, length), (state, carried) = state, step[state]
        spans.append((stop - length, stop, carried, length))
    spans.reverse()
    return [Window(index, start, stop, carried, generated) for index, (start, stop, carried, generated) in enumerate(spans)]


def plan_cost(windows: list[Window], frame_count: int) -> float:
    """Transformer frames generated per shot frame (1.0: every frame generated once, nothing padded or overlapped)."""
    return sum(w.generated for w in windows) / frame_count



def blend_weights(carried: int) -> list[float]:
    """Weight of the new window for each carried frame: a linear ramp strictly between 0 and 1, so
    the old window fades out and the new one fades in (the earlier output keeps ``1 - weight``)."""
    return [(i + 1) / (carried + 1) for i in range(carried)]
