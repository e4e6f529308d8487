"""The Sequencer tab's line for a take's consistency score, from the summary the engine's scorer writes."""

from engine.qc.score import FrameScore, TakeScore

from neural_previs.addon.qc_summary import qc_line


def summary(*consistencies):
    frames = tuple(FrameScore(1002 + i, c, None if c is None else c / 2, 0.9) for i, c in enumerate(consistencies))
    return TakeScore(frames).summary


def test_a_still_take_reads_its_mean_and_max_without_flags():
    text, flagged = qc_line(summary(1.0, 1.5, 2.0))
    assert text == "Consistency 1.5 (max 2.0), flicker 1.0" and not flagged


def test_frames_that_changed_are_named_worst_first():
    text, flagged = qc_line(summary(1.0, 12.0, 2.0, 30.0, 4.0, 5.0, 6.0))
    assert flagged and text.endswith("check 1005, 1003, 1008 ...")


def test_as_a_strip_stores_it_none_dropped_and_empty_lists_as_text():
    stored = {k: v for k, v in summary(None, None).items() if v is not None}
    stored["worst_frames"] = "[]"
    assert qc_line(stored) == ("Consistency: not scored (no frame sees the last one's surfaces)", False)
    assert qc_line({**summary(1.0, 2.0), "worst_frames": "[]"})[1] is False
    assert qc_line(None) is None and qc_line("broken") is None
