"""``qc.json`` and ``qc.png`` in a take folder, each written atomically, and reading the score back.

Each file is written to a hidden temporary sibling and renamed over the old one, so a reader sees the previous
report or the new one, never half of either. Nothing else in the take is touched.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

from .score import QC_SCHEMA, TakeScore

QC_FILE = "qc.json"
QC_PLOT = "qc.png"


def _replace_atomically(path: Path, write) -> None:
    temporary = path.with_name(f".{path.name}.partial-{uuid.uuid4().hex[:8]}")
    try:
        write(temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def write_report(take_dir: str | Path, score: TakeScore, title: str) -> dict:
    """Write qc.json and qc.png into ``take_dir``; returns the summary (what take.json records under ``qc``)."""
    from .plot import draw_plot

    folder = Path(take_dir)
    text = json.dumps(score.to_json(), indent=2, allow_nan=False) + "\n"
    _replace_atomically(folder / QC_FILE, lambda path: path.write_text(text, encoding="utf-8"))
    plot = draw_plot(score, title)
    _replace_atomically(folder / QC_PLOT, lambda path: plot.save(path, format="PNG"))
    return score.summary


def read_qc_summary(take_dir: str | Path) -> dict | None:
    """The take's score summary: from qc.json (the latest ``python -m engine qc``), else take.json's ``qc`` (written
    at generation), else None (a take from before scores, or not a take)."""
    folder = Path(take_dir)
    for name, pick in ((QC_FILE, lambda data: data.get("summary") if data.get("schema") == QC_SCHEMA else None), ("take.json", lambda data: data.get("qc"))):
        try:
            data = json.loads((folder / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        summary = pick(data) if isinstance(data, dict) else None
        if isinstance(summary, dict):
            return summary
    return None
