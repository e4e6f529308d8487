"""Scoring a take: temporal consistency and flicker of each frame against the previous one, reprojected.

For frame t (every frame after the first), with ``warped`` = frame t-1 carried into frame t (the reprojection's
valid pixels only):

- ``consistency``: the mean absolute RGB difference (0-255) between frame t and ``warped``: 0 when every surface
  keeps its colour as the camera and the objects move; it rises with drift, boiling textures and flicker;
- ``flicker``: the change of mean brightness (Rec. 709 luma, 0-255) over those same pixels;
- ``valid_fraction``: the fraction of frame t's pixels the two could use (surfaces seen in both frames, rigid,
  off depth edges). With none, consistency and flicker are None.

The take's worst frames are its highest consistency values, worst first, at most ``WORST_COUNT`` of them, and only
those of at least ``WORST_FLOOR`` levels: a take whose surfaces hold still flags none.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from ..formats.bundle import Bundle
from ..generation.reprojection import FrameView, frame_view, reproject

QC_SCHEMA = "neural_previs.qc/1"
WORST_COUNT = 5
#: Mean RGB change (of 255) below which no frame is flagged: true renders of a static set score about 1.
WORST_FLOOR = 3.0
LUMA = np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)


@dataclass(frozen=True)
class FrameScore:
    frame: int
    """Scene frame number of frame t."""
    consistency: float | None
    flicker: float | None
    valid_fraction: float

    def to_json(self) -> dict:
        return {
            "frame": self.frame,
            "consistency": None if self.consistency is None else round(self.consistency, 3),
            "flicker": None if self.flicker is None else round(self.flicker, 3),
            "valid_fraction": round(self.valid_fraction, 4),
        }


@dataclass(frozen=True)
class TakeScore:
    frames: tuple[FrameScore, ...]
    """One per frame after the first."""

    @property
    def summary(self) -> dict:
        scored = [f for f in self.frames if f.consistency is not None]
        worst = sorted((f for f in scored if f.consistency >= WORST_FLOOR), key=lambda f: -f.consistency)[:WORST_COUNT]
        return {
            "consistency_mean": round(float(np.mean([f.consistency for f in scored])), 3) if scored else None,
            "consistency_max": round(max(f.consistency for f in scored), 3) if scored else None,
            "flicker_max": round(max(f.flicker for f in scored), 3) if scored else None,
            "worst_frames": [f.frame for f in worst],
        }

    @property
    def valid_fraction_mean(self) -> float:
        return float(np.mean([f.valid_fraction for f in self.frames])) if self.frames else 0.0

    def to_json(self) -> dict:
        return {"schema": QC_SCHEMA, "frames": [f.to_json() for f in self.frames], "summary": self.summary}


def score_pair(previous_image: np.ndarray, image: np.ndarray, previous: FrameView, current: FrameView, frame: int) -> FrameScore:
    """Frame t (``image``, ``current``) against frame t-1 (``previous_image``, ``previous``) carried into it."""
    carried = reproject(previous_image, previous, current)
    valid = carried.valid
    if not valid.any():
        return FrameScore(frame, None, None, 0.0)
    now = image[valid].astype(np.float32)
    before = carried.image[valid]
    consistency = float(np.abs(now - before).mean())
    flicker = abs(float((now @ LUMA).mean() - (before @ LUMA).mean()))
    return FrameScore(frame, consistency, flicker, float(valid.mean()))


def score_take(bundle: Bundle, image_at: Callable[[int], np.ndarray], assume_static: bool = False) -> TakeScore:
    """Score the take whose frame for bundle frame i is ``image_at(i)`` (uint8 (H, W, 3), the bundle's size).

    Runs on several threads, each over a run of consecutive frames (numpy releases the GIL), so each frame's depth
    and mask are read about once; ``assume_static`` as in ``frame_view``."""
    count = len(bundle.frames)
    if count < 2:
        return TakeScore(())
    workers = max(1, min(8, os.cpu_count() or 1, count - 1))
    runs = [run for run in np.array_split(np.arange(1, count), workers) if run.size]

    def score_run(targets) -> list[FrameScore]:
        first = int(targets[0]) - 1
        previous, previous_image = frame_view(bundle, first, assume_static=assume_static), image_at(first)
        scores = []
        for index in map(int, targets):
            current, image = frame_view(bundle, index, assume_static=assume_static), image_at(index)
            scores.append(score_pair(previous_image, image, previous, current, bundle.frames[index].frame))
            previous, previous_image = current, image
        return scores

    with ThreadPoolExecutor(max_workers=len(runs)) as pool:
        return TakeScore(tuple(score for run in pool.map(score_run, runs) for score in run))
