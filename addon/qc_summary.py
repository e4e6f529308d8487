"""A take's consistency score in one line of the Sequencer tab (pure: no bpy).

The summary is take.json's ``qc`` (``engine/qc/score.py``: ``consistency_mean``, ``consistency_max``,
``flicker_max``, ``worst_frames``) as a strip stores it: keys whose value was None are dropped and an
empty list is JSON text (``addon/timeline.py``), so both forms are read here.
"""

from __future__ import annotations

import json


def _frames(value) -> list[int]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return []
    return [int(v) for v in value or () if isinstance(v, (int, float)) and not isinstance(v, bool)]


def qc_line(qc) -> tuple[str, bool] | None:
    """``(text, flagged)`` for a take's score, or None for a take from before scores.

    ``flagged``: the score names frames that changed more than a still set would (see them in qc.png)."""
    if not isinstance(qc, dict):
        return None
    mean = qc.get("consistency_mean")
    if not isinstance(mean, (int, float)):
        return "Consistency: not scored (no frame sees the last one's surfaces)", False
    text = f"Consistency {mean:.1f}"
    if isinstance(qc.get("consistency_max"), (int, float)):
        text += f" (max {qc['consistency_max']:.1f})"
    if isinstance(qc.get("flicker_max"), (int, float)):
        text += f", flicker {qc['flicker_max']:.1f}"
    worst = _frames(qc.get("worst_frames"))
    if worst:
        text += ", check " + ", ".join(map(str, worst[:3])) + (" ..." if len(worst) > 3 else "")
    return text, bool(worst)
