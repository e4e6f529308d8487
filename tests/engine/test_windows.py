"""Joining windows: carried frames condition the next window and cross-fade; padding frames are dropped."""

import numpy as np

from engine.generation.shot import ShotConditioning, window_inputs
from engine.generation.snapping import FrameRule, Window, plan_size, plan_windows
from engine.generation.windows import blend_window

PLAN = plan_size(16, 16, 16, 10_000)  # no scaling, no padding: pixels compare directly


def solid(value, count=1):
    return np.full((count, 16, 16, 3), value, np.uint8)


def test_blend_cross_fades_carried_frames_and_copies_the_rest():
    output = np.zeros((6, 16, 16, 3), np.uint8)
    output[:4] = 200  # written by the previous window
    window = Window(index=1, start=1, stop=6, carried=3, generated=5)
    blend_window(output, solid(50, 5), window, PLAN)
    assert output[0, 0, 0, 0] == 200  # outside the window: untouched
    # carried frames 1..3 move from the old value towards the new one: weights 1/4, 2/4, 3/4
    assert [int(output[i, 0, 0, 0]) for i in (1, 2, 3)] == [162, 125, 88]
    assert output[4, 0, 0, 0] == 50 and output[5, 0, 0, 0] == 50


def test_padding_frames_beyond_the_window_are_dropped():
    output = np.zeros((3, 16, 16, 3), np.uint8)
    decoded = np.concatenate([solid(10, 3), solid(255, 2)])  # 3 real frames + 2 of 4k+1 padding
    blend_window(output, decoded, Window(0, 0, 3, 0, 5), PLAN)
    assert (output == 10).all()


def shot(frames):
    depth = [np.full((16, 16, 3), 100 + i, np.uint8) for i in range(frames)]
    return ShotConditioning(depth=depth, generate=None, keep=None, reference=None)


def test_carried_frames_are_kept_pixels_for_mask_backends():
    windows = plan_windows(12, 9, 3, FrameRule(4, 1))
    second = windows[1]
    output = np.full((12, 16, 16, 3), 77, np.uint8)
    inputs = window_inputs(shot(12), second, PLAN, output, seed=10, carry_pixels=True)
    assert inputs.frames == 9 and inputs.seed == 11
    for offset in range(second.carried):
        assert (inputs.control[offset] == 77).all() and not inputs.generate[offset].any()
    for offset in range(second.carried, 9):
        index = second.start + min(offset, second.length - 1)  # padding frames repeat the last one
        assert (inputs.control[offset] == 100 + index).all() and inputs.generate[offset].all()


def test_carried_frames_keep_depth_for_backends_without_a_mask():
    second = plan_windows(20, 16, 4, FrameRule(1, 0))[1]
    output = np.full((20, 16, 16, 3), 77, np.uint8)
    inputs = window_inputs(shot(20), second, PLAN, output, seed=0, carry_pixels=False)
    assert inputs.frames == second.generated
    assert all((inputs.control[o] == 100 + second.start + min(o, second.length - 1)).all() for o in range(second.generated))


def test_short_window_repeats_its_last_frame_to_reach_the_rule():
    (only,) = plan_windows(3, 9, 3, FrameRule(4, 1))
    inputs = window_inputs(shot(3), only, PLAN, np.zeros((3, 16, 16, 3), np.uint8), seed=0, carry_pixels=True)
    assert inputs.frames == 5
    assert [int(c[0, 0, 0]) for c in inputs.control] == [100, 101, 102, 102, 102]
