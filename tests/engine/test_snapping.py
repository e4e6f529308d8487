"""Frame counts, sizes and windows: the take must land on exactly the shot's frames and pixels."""

import pytest

from engine.generation.snapping import FrameRule, blend_weights, plan_size, plan_windows

WAN = FrameRule(4, 1)
ANY = FrameRule(1, 0)


@pytest.mark.parametrize("count, snapped", [(1, 1), (2, 5), (5, 5), (6, 9), (80, 81), (81, 81), (82, 85)])
def test_wan_frame_counts_snap_up_to_4k_plus_1(count, snapped):
    assert WAN.snap_up(count) == snapped
    assert WAN.accepts(snapped)


def test_any_frame_rule_keeps_counts():
    assert [ANY.snap_up(n) for n in (1, 7, 16)] == [1, 7, 16]


@pytest.mark.parametrize("frames", list(range(1, 60)))
@pytest.mark.parametrize("window, overlap", [(9, 3), (13, 5), (81, 17)])
def test_windows_cover_every_frame_exactly_once_after_blending(frames, window, overlap):
    windows = plan_windows(frames, window, overlap, WAN)
    assert windows[0].start == 0 and windows[-1].stop == frames
    for w in windows:
        assert WAN.accepts(w.generated) and w.generated >= w.length
        assert w.length <= window
    for previous, current in zip(windows, windows[1:]):
        # each window starts inside the previous one and carries exactly the shared frames
        assert previous.start < current.start < previous.stop
        assert current.carried == previous.stop - current.start >= overlap
        assert current.stop > previous.stop
    # blending weights: the new window's share rises strictly inside (0, 1) over the carried frames
    for w in windows[1:]:
        weights = blend_weights(w.carried)
        assert len(weights) == w.carried and all(0 < a < b < 1 for a, b in zip(weights, weights[1:]))


def test_short_shot_is_one_padded_window():
    (only,) = plan_windows(6, 81, 17, WAN)
    assert (only.start, only.stop, only.carried, only.generated) == (0, 6, 0, 9)


def test_long_shot_windows():
    windows = plan_windows(200, 81, 17, WAN)
    assert [(w.start, w.stop) for w in windows] == [(0, 81), (60, 141), (119, 200)]


def test_window_must_follow_the_rule():
    with pytest.raises(ValueError):
        plan_windows(100, 80, 16, WAN)


@pytest.mark.parametrize("width, height", [(45, 31), (832, 480), (17, 1), (1920, 1080), (1001, 3)])
def test_size_plan_pads_to_the_multiple_and_restores(width, height):
    plan = plan_size(width, height, 16, 832 * 480)
    assert plan.work_width % 16 == 0 and plan.work_height % 16 == 0
    assert plan.work_width - plan.scaled_width < 16 and plan.work_height - plan.scaled_height < 16
    assert plan.pad_left + plan.pad_right + plan.scaled_width == plan.work_width
    assert plan.pad_top + plan.pad_bottom + plan.scaled_height == plan.work_height
    assert plan.scaled_width * plan.scaled_height <= 832 * 480 * 1.01
    assert (plan.width, plan.height) == (width, height)


def test_small_shot_is_not_scaled():
    plan = plan_size(45, 31, 16, 832 * 480)
    assert not plan.scaled and (plan.work_width, plan.work_height) == (48, 32)
    assert (plan.pad_left, plan.pad_right, plan.pad_top, plan.pad_bottom) == (1, 2, 0, 1)


def test_large_shot_is_scaled_to_the_backend_area():
    plan = plan_size(1920, 1080, 16, 832 * 480)
    assert plan.scaled and (plan.work_width, plan.work_height) == (848, 480)
