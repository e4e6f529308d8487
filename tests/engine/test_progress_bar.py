"""The terminal progress bar of ``python -m engine generate`` (used when stdout is a terminal)."""

import io

from engine.progress_bar import ProgressBar


def test_progress_bar_shows_phase_steps_eta_and_notes():
    stream = io.StringIO()
    bar = ProgressBar(stream)
    bar.update("loading", 0, 4, None, note="tiny-random: random weights, the take will be noise")
    bar.update("denoising", 2, 4, 3.2)
    bar.finish()
    text = stream.getvalue()
    assert "tiny-random: random weights" in text
    assert "denoising" in text and "2/4" in text and "eta 3s" in text and "#" * 15 in text
    assert text.endswith("\n")
