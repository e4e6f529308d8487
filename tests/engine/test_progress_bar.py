"""The terminal progress bars of ``python -m engine generate`` and ``python -m engine download`` (used
when stdout is a terminal; a pipe gets protocol JSON lines instead)."""

import io

import pytest

from engine.models.download import DownloadProgress
from engine.progress_bar import DownloadBar, ProgressBar


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


# ------------------------------------------------------------------ the bar of `python -m engine download`

TRANSFORMER = "transformer/diffusion_pytorch_model.safetensors"
ERASE = "\r\033[K"  # back to the start of the line and clear it: every update redraws the same line
GB_20_5 = 20_500_000_000


def progress(done, total=GB_20_5, speed=None, eta=None, file=TRANSFORMER):
    return DownloadProgress(model="wan-vace-1.3b", repo="Wan-AI/Wan2.1-VACE-1.3B-diffusers", file=file,
                            done=done, total=total, speed=speed, eta=eta, files_done=3, files_total=9)


def drawn(*updates, finish=False) -> str:
    stream = io.StringIO()
    bar = DownloadBar(stream)
    for update in updates:
        bar.update(update)
    if finish:
        bar.finish()
    return stream.getvalue()


def blocks(filled: int) -> str:
    return "[" + "#" * filled + "." * (30 - filled) + "]"


def test_download_bar_shows_bytes_done_and_total_speed_time_left_and_the_file():
    text = drawn(progress(4_100_000_000, speed=38_200_000, eta=430.0))
    assert text == f"{ERASE}{blocks(6)} 4.1 GB / 20.5 GB  38.2 MB/s  7m10s left  {TRANSFORMER}"


def test_before_the_speed_is_measured_the_bar_says_neither_speed_nor_time_left():
    text = drawn(progress(1_200_000_000, file="text_encoder/model-00001-of-00005.safetensors"))  # a resumed download
    assert text == f"{ERASE}{blocks(1)} 1.2 GB / 20.5 GB  text_encoder/model-00001-of-00005.safetensors"


@pytest.mark.parametrize("update, shown", [
    (progress(0, total=950), "] 0 B / 950 B"),
    (progress(1_500, total=12_300_000), "] 1.5 kB / 12.3 MB"),
    (progress(0, speed=850.0, eta=59.4), "  850 B/s  59s left  "),
    (progress(0, speed=2_500.0, eta=59.6), "  2.5 kB/s  1m00s left  "),  # rounded before the minutes are split off
    (progress(0, speed=1_000_000.0, eta=3_900.0), "  1.0 MB/s  1h05m left  "),
    (progress(0, speed=1e6, eta=0.0), "  0s left  "),
], ids=["bytes", "kilobytes-of-megabytes", "seconds", "a-minute", "hours", "nothing-left"])
def test_download_bar_units(update, shown):
    assert shown in drawn(update)


def test_download_bar_redraws_one_line_and_ends_it_when_complete():
    # the engine's last report: every byte on disk, no file being fetched (engine.models.download)
    complete = progress(GB_20_5, speed=38_200_000, eta=0.0, file="")
    text = drawn(progress(0), progress(10_300_000_000, speed=38_200_000, eta=268.0), complete, finish=True)
    assert text.split(ERASE) == [
        "",
        f"{blocks(0)} 0 B / 20.5 GB  {TRANSFORMER}",
        f"{blocks(15)} 10.3 GB / 20.5 GB  38.2 MB/s  4m28s left  {TRANSFORMER}",
        f"{blocks(30)} 20.5 GB / 20.5 GB  38.2 MB/s  0s left  \n",
    ]


def test_a_bar_never_drawn_writes_nothing_when_finished():
    # an error before the first byte: the terminal gets only the error line on stderr
    assert drawn(finish=True) == ""


def test_a_model_of_unknown_size_draws_an_empty_bar():
    assert drawn(progress(0, total=0)) == f"{ERASE}{blocks(0)} 0 B / 0 B  {TRANSFORMER}"
