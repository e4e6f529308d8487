"""Depth conditioning: inverse depth, near = white, normalised once per shot."""

import numpy as np

from engine.formats.bundle import read_bundle
from engine.generation.conditioning import depth_control_image, from_work_size, inverse_depth, to_work_size
from engine.formats.params import GenerateParams
from engine.generation.shot import build_shot_conditioning
from engine.generation.snapping import plan_size
from engine_testlib import make_bundle


def test_inverse_depth_near_is_white_far_and_background_black():
    depth = np.array([[1.0, 10.0, np.inf, 2.0, 0.5, 20.0]], np.float32)
    values = inverse_depth(depth, near=1.0, far=10.0)
    expected_two = (1 / 2 - 1 / 10) / (1 - 1 / 10)
    assert np.allclose(values, [[1.0, 0.0, 0.0, expected_two, 1.0, 0.0]])


def test_shot_wide_normalisation_not_per_frame(tmp_path):
    """Frame 1 sees only near things (1..2), frame 2 only far things (5..10). Per-frame
    normalisation would stretch both to full black..white; the shot-wide range must not."""

    def depth_fn(index, frame):
        low, high = (1.0, 2.0) if index == 0 else (5.0, 10.0)
        return np.tile(np.linspace(low, high, 48, dtype=np.float32), (32, 1))

    root = make_bundle(tmp_path / "b", frames=[1, 2], near=1.0, far=10.0, depth_fn=depth_fn)
    bundle = read_bundle(root)
    shot = build_shot_conditioning(bundle, GenerateParams(prompt="x", model="tiny-random"))
    near_frame, far_frame = (image[:, :, 0].astype(int) for image in shot.depth)
    assert near_frame.max() == 255 and far_frame.min() == 0
    # the far frame's nearest point (depth 5) is dim, and the near frame's farthest (depth 2) is bright
    assert far_frame.max() == round((1 / 5 - 1 / 10) / (1 - 1 / 10) * 255)
    assert near_frame.min() == round((1 / 2 - 1 / 10) / (1 - 1 / 10) * 255)
    assert np.array_equal(shot.depth[1], depth_control_image(bundle.read_depth(1), 1.0, 10.0))


def test_selective_masks_follow_object_ids(tmp_path):
    from PIL import Image

    root = make_bundle(tmp_path / "b", frames=[1, 2])
    (tmp_path / "plate").mkdir()
    for frame in (1, 2):
        Image.new("RGB", (48, 32), (10, 200, 30)).save(tmp_path / "plate" / f"{frame:04d}.png")
    bundle = read_bundle(root)
    params = GenerateParams(prompt="x", model="tiny-random", mode="selective", objects=["Cube"], plate=str(tmp_path / "plate"))
    shot = build_shot_conditioning(bundle, params)
    assert np.array_equal(shot.generate[1], bundle.read_mask(1) == 1)
    assert tuple(shot.keep[0][0, 0]) == (10, 200, 30)


def test_work_size_round_trip_is_exact_without_scaling():
    plan = plan_size(45, 31, 16, 10_000)
    image = np.random.default_rng(0).integers(0, 255, (31, 45, 3), dtype=np.uint8)
    padded = to_work_size(image, plan)
    assert padded.shape == (32, 48, 3)
    assert np.array_equal(from_work_size(padded, plan), image)


def test_work_size_round_trip_with_scaling_restores_the_size():
    plan = plan_size(90, 70, 16, 64 * 64)
    image = np.full((70, 90, 3), 128, np.uint8)
    padded = to_work_size(image, plan)
    assert padded.shape == (plan.work_height, plan.work_width, 3)
    assert from_work_size(padded, plan).shape == (70, 90, 3)
