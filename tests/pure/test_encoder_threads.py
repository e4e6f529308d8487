"""Encoder threads stay still while Blender evaluates (it crashes if Python runs beside frame_set), yet overlap otherwise."""

import threading
import time

import pytest

from neural_previs.addon.encoder_threads import FencedEncoders


def slow_encode(log, evaluating):
    def encode(image, checkpoint=None):
        for _ in range(40):
            if checkpoint:
                checkpoint()
            log.append(evaluating.is_set())  # Python running on the encoder thread
            time.sleep(0.001)
        return b"x"

    return encode


def test_no_encoder_runs_python_while_blender_evaluates(tmp_path):
    log, evaluating = [], threading.Event()
    encoders = FencedEncoders(threads=2, max_pending=8)
    for index in range(6):
        encoders.submit(tmp_path / f"{index}.bin", slow_encode(log, evaluating), None)
    for _ in range(10):
        time.sleep(0.005)
        with encoders.blender_evaluates():
            evaluating.set()
            time.sleep(0.01)  # what frame_set would take
            evaluating.clear()
    encoders.finish()
    assert len(log) == 6 * 40
    assert not any(log), "an encoder ran while the main thread held the fence"
    assert len(list(tmp_path.iterdir())) == 6


def test_encoders_overlap_the_main_thread_otherwise(tmp_path):
    started = threading.Event()

    def encode(image, checkpoint=None):
        started.set()
        time.sleep(0.05)
        return b"y"

    encoders = FencedEncoders(threads=2)
    encoders.submit(tmp_path / "a", encode, None)
    assert started.wait(1.0)  # running while the main thread does something else
    encoders.finish()
    assert (tmp_path / "a").read_bytes() == b"y"


def test_the_first_error_reaches_the_main_thread(tmp_path):
    def broken(image, checkpoint=None):
        raise OSError("disk full")

    encoders = FencedEncoders(threads=2)
    encoders.submit(tmp_path / "a", broken, None)
    with pytest.raises(OSError, match="disk full"):
        encoders.finish()


def test_abort_drops_queued_work(tmp_path):
    gate = threading.Event()

    def waits(image, checkpoint=None):
        gate.wait(1.0)
        return b"z"

    encoders = FencedEncoders(threads=1, max_pending=8)
    for index in range(5):
        encoders.submit(tmp_path / str(index), waits, None)
    gate.set()
    encoders.abort()
    assert len(list(tmp_path.iterdir())) < 5
