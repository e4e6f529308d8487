"""Frame counts, sizes and windows: the take must land on exactly the shot's frames and pixels."""

import math

import pytest

from engine.generation.snapping import FrameRule, blend_weights, plan_cost, plan_size, plan_windows

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
    assert [(w.start, w.stop, w.carried) for w in windows] == [(0, 77, 0), (60, 137, 17), (120, 200, 17)]
    assert sum(w.generated for w in windows) == 235  # 200 frames + 2 x 17 carried + 1 padding frame
    assert plan_cost(windows, 200) == 235 / 200


def test_82_frames_do_not_cost_two_full_windows():
    windows = plan_windows(82, 81, 17, WAN)
    assert len(windows) == 2 and windows[1].carried == 17
    assert sum(w.generated for w in windows) == 102  # not 162 (two 81-frame windows carrying 80)


def objective(windows, frame_count, window, keyframes):
    """What the planner minimises: generated frames, plus one window's worth per keyframe in an overlap."""
    missed = sum(any(w.start <= p < w.start + w.carried for w in windows[1:]) for p in set(keyframes))
    return sum(w.generated for w in windows) + window * missed, missed


def oracle(frame_count, window, overlap, rule, keyframes):
    """The best objective over every plan (any accepted lengths, any carry >= overlap, a padded last window),
    by exhaustive search on (stop, start) with memo: independent of the planner's restricted carries."""
    import functools

    keys = set(keyframes)

    @functools.lru_cache(maxsize=None)
    def rest(stop, start):  # best cost to finish, given a window [start, stop) already placed
        if stop == frame_count:
            return 0
        best = math.inf
        for new_start in range(start + 1, stop - overlap + 1):
            missed = sum(new_start <= p < stop for p in keys)
            for length in range(1, window + 1):
                new_stop = new_start + length
                if new_stop <= stop:
                    continue
                if new_stop >= frame_count:
                    tail = frame_count - new_start
                    generated = rule.snap_up(tail)
                    if generated <= window:
                        best = min(best, generated + window * missed)
                    continue
                if rule.accepts(length):
                    best = min(best, length + window * missed + rest(new_stop, new_start))
        return best

    return min(length + rest(length, 0) for length in range(1, min(window, frame_count - 1) + 1) if rule.accepts(length))


def check_plan(windows, frame_count, window, overlap, rule):
    assert windows[0].start == 0 and windows[-1].stop == frame_count and windows[0].carried == 0
    covered = set()
    for index, w in enumerate(windows):
        assert w.index == index
        assert rule.accepts(w.generated) and w.length <= w.generated <= window
        if w is not windows[-1]:
            assert w.generated == w.length, "only the last window may be padded"
        covered |= set(range(w.start, w.stop))
    assert covered == set(range(frame_count))
    for previous, current in zip(windows, windows[1:]):
        assert previous.start < current.start < previous.stop < current.stop
        assert current.carried == previous.stop - current.start >= overlap


@pytest.mark.parametrize("rule, window, overlap", [(WAN, 9, 3), (WAN, 13, 5), (WAN, 13, 1), (ANY, 8, 2), (FrameRule(2, 0), 10, 3)])
def test_plans_are_valid_and_as_cheap_as_exhaustive_search(rule, window, overlap):
    for frame_count in range(window + 1, 34):
        windows = plan_windows(frame_count, window, overlap, rule)
        check_plan(windows, frame_count, window, overlap, rule)
        assert objective(windows, frame_count, window, ())[0] == oracle(frame_count, window, overlap, rule, ()), frame_count


@pytest.mark.parametrize("rule, window, overlap", [(WAN, 9, 3), (WAN, 13, 3), (ANY, 8, 2)])
def test_keyframes_fall_inside_windows_when_possible(rule, window, overlap):
    honoured = 0
    for frame_count in range(window + 1, 30, 3):
        for keyframe in range(frame_count):
            for extra in ((), (frame_count // 2,)):
                keyframes = (keyframe, *extra)
                windows = plan_windows(frame_count, window, overlap, rule, prefer_inside=keyframes)
                check_plan(windows, frame_count, window, overlap, rule)
                value, missed = objective(windows, frame_count, window, keyframes)
                assert value == oracle(frame_count, window, overlap, rule, keyframes), (frame_count, keyframes)
                honoured += missed == 0
    assert honoured > 0


def test_a_keyframe_is_moved_out_of_an_overlap():
    plain = plan_windows(200, 81, 17, WAN)
    in_overlap = plain[1].start + 2
    moved = plan_windows(200, 81, 17, WAN, prefer_inside=[in_overlap])
    check_plan(moved, 200, 81, 17, WAN)
    assert not any(w.start <= in_overlap < w.start + w.carried for w in moved[1:])
    assert sum(w.generated for w in moved) < sum(w.generated for w in plain) + 81  # cheaper than one more window


def test_short_shot_keyframes_are_inside_its_one_window():
    (only,) = plan_windows(40, 81, 17, WAN, prefer_inside=[0, 39])
    assert (only.start, only.stop, only.generated) == (0, 40, 41)


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
