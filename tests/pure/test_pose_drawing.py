"""Pose images against VACE's drawing rules run on OpenCV itself.

The reference below restates, in its own code, what VACE's pose annotator does with the skeletons of a
frame (ali-vilab/VACE 48eb44f: vace/annotators/dwpose/util.py draw_bodypose, wholebody.py resize_image,
pose.py PoseAnnotator.process) and calls the real cv2 primitives. The add-on's numpy rebuild must equal
it pixel for pixel on the canvas, where every rule is integer, and within one level after cv2.resize,
whose area and Lanczos arithmetic is float / fixed point.
"""

import math

import numpy as np
import pytest

from neural_previs.addon import pose_drawing
from neural_previs.addon.pose_drawing import COLOURS, LIMBS, canvas_size, draw_canvas, render_pose_image

LIMB_PAIRS_DRAWN = 17


def vace_canvas(cv2, keypoints, width, height):
    """VACE's body drawing on its 1024-short-side canvas, with cv2."""
    short = 1024
    k = short / min(float(height), float(width))
    canvas_w, canvas_h = int(np.round(width * k / 64.0)) * 64, int(np.round(height * k / 64.0)) * 64
    canvas = np.zeros((canvas_h, canvas_w, 3), np.uint8)
    people = []
    for person in keypoints:
        points = {}
        for index, (u, v, seen) in enumerate(person):
            if seen:  # a detector's point on the resized frame, in OpenCV's pixel-index convention
                points[index] = ((u * canvas_w / width - 0.5) / canvas_w, (v * canvas_h / height - 0.5) / canvas_h)
        people.append(points)
    for limb in range(LIMB_PAIRS_DRAWN):
        a, b = LIMBS[limb][0] - 1, LIMBS[limb][1] - 1
        for points in people:
            if a not in points or b not in points:
                continue
            xs = [points[a][0] * canvas_w, points[b][0] * canvas_w]
            ys = [points[a][1] * canvas_h, points[b][1] * canvas_h]
            centre = (int(np.mean(xs)), int(np.mean(ys)))
            half_length = int(math.hypot(xs[0] - xs[1], ys[0] - ys[1]) / 2)
            angle = int(math.degrees(math.atan2(ys[0] - ys[1], xs[0] - xs[1])))
            polygon = cv2.ellipse2Poly(centre, (half_length, 4), angle, 0, 360, 1)
            cv2.fillConvexPoly(canvas, polygon, COLOURS[limb])
    canvas = (canvas * 0.6).astype(np.uint8)
    for joint in range(18):
        for points in people:
            if joint in points:
                cv2.circle(canvas, (int(points[joint][0] * canvas_w), int(points[joint][1] * canvas_h)), 4, COLOURS[joint], thickness=-1)
    return canvas


def vace_image(cv2, keypoints, width, height):
    canvas = vace_canvas(cv2, keypoints, width, height)[..., ::-1]
    grows = width * height > canvas.shape[0] * canvas.shape[1]
    return cv2.resize(canvas, (width, height), interpolation=cv2.INTER_LANCZOS4 if grows else cv2.INTER_AREA)


def random_people(rng, width, height, people=2):
    """Standing figures at random places and scales, some points hidden, some near or on the frame edge."""
    base = np.array([
        [0.0, -0.82], [0.0, -0.62], [-0.12, -0.62], [-0.18, -0.35], [-0.2, -0.1], [0.12, -0.62], [0.18, -0.35],
        [0.2, -0.1], [-0.08, -0.1], [-0.08, 0.4], [-0.08, 0.9], [0.08, -0.1], [0.08, 0.4], [0.08, 0.9],
        [-0.03, -0.86], [0.03, -0.86], [-0.07, -0.84], [0.07, -0.84],
    ])
    result = np.zeros((people, 18, 3))
    for person in range(people):
        scale = rng.uniform(0.2, 0.6) * height
        angle = rng.uniform(-0.6, 0.6)
        rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
        centre = rng.uniform([0.0, 0.0], [width, height])
        points = base @ rotation.T * scale + centre + rng.normal(0, 0.02 * scale, base.shape)
        inside = (points[:, 0] >= 0) & (points[:, 0] < width) & (points[:, 1] >= 0) & (points[:, 1] < height)
        seen = inside & (rng.uniform(size=18) > 0.15)
        result[person, :, :2] = np.where(seen[:, None], points, np.nan)
        result[person, :, 2] = seen
    return result


SIZES = [(48, 32), (832, 480), (90, 160), (1920, 1080)]


@pytest.mark.parametrize("width, height", SIZES)
def test_canvas_equals_vace_drawn_with_opencv(width, height):
    cv2 = pytest.importorskip("cv2")
    rng = np.random.default_rng(width)
    for _ in range(3):
        people = random_people(rng, width, height)
        assert np.array_equal(draw_canvas(people, width, height), vace_canvas(cv2, people, width, height))


@pytest.mark.parametrize("width, height", SIZES)
def test_pose_image_equals_vace_within_one_level(width, height):
    cv2 = pytest.importorskip("cv2")
    people = random_people(np.random.default_rng(height), width, height, people=3)
    ours, theirs = render_pose_image(people, width, height), vace_image(cv2, people, width, height)
    assert ours.shape == theirs.shape == (height, width, 3) and ours.dtype == np.uint8
    difference = np.abs(ours.astype(int) - theirs.astype(int))
    assert difference.max() <= 1
    assert (difference > 0).mean() < 2e-3
    assert theirs.any()


def test_opencv_primitives_match_on_edge_cases():
    """The polygon, outline and circle rules where clipping and rounding bite: shapes over the image edges."""
    cv2 = pytest.importorskip("cv2")
    rng = np.random.default_rng(7)
    for _ in range(300):
        width, height = (int(x) for x in rng.integers(4, 40, 2))
        centre = tuple(int(x) for x in rng.integers(-8, 48, 2))
        axes = (int(rng.integers(0, 40)), int(rng.integers(0, 6)))
        angle = int(rng.integers(-720, 720))
        polygon = cv2.ellipse2Poly(centre, axes, angle, 0, 360, 1)
        assert [list(p) for p in pose_drawing.ellipse_polygon(centre, axes, angle)] == polygon.tolist()
        ours, theirs = np.zeros((height, width, 3), np.uint8), np.zeros((height, width, 3), np.uint8)
        pose_drawing.fill_convex_polygon(ours, [tuple(p) for p in polygon.tolist()], (9, 99, 199))
        cv2.fillConvexPoly(theirs, polygon, (9, 99, 199))
        radius = int(rng.integers(0, 10))
        pose_drawing.fill_circle(ours, centre, radius, (200, 1, 50))
        cv2.circle(theirs, centre, radius, (200, 1, 50), thickness=-1)
        assert np.array_equal(ours, theirs)


def test_canvas_size_follows_vace_resize_rule():
    assert canvas_size(832, 480) == (1792, 1024)
    assert canvas_size(1280, 720) == (1792, 1024)
    assert canvas_size(480, 832) == (1024, 1792)
    assert canvas_size(48, 32) == (1536, 1024)


def test_invisible_points_and_their_limbs_are_not_drawn():
    width, height = 1536, 1024  # the annotator's own canvas size: no resize, colours stay exact
    one = np.full((1, 18, 3), np.nan)
    one[0, :, 2] = 0
    assert not render_pose_image(one, 96, 64).any()
    # Only the two shoulders seen: their links (through the unseen neck) are not drawn, their joints are,
    # in the reversed channel order (VACE's canvas is BGR): r_shoulder (255, 170, 0) comes out (0, 170, 255).
    one[0, 2] = [300.5, 200.5, 1]
    one[0, 5] = [700.5, 200.5, 1]
    row = render_pose_image(one, width, height)[200]
    assert tuple(row[300]) == (0, 170, 255) and tuple(row[304]) == (0, 170, 255) and not row[305].any()
    assert tuple(row[700]) == (0, 255, 85)
    assert not row[310:690].any()


def test_limbs_are_dimmed_to_sixty_percent_and_joints_are_not():
    width, height = 1536, 1024
    person = np.full((1, 18, 3), np.nan)
    person[0, :, 2] = 0
    person[0, 1] = [400.5, 500.5, 1]  # neck
    person[0, 2] = [800.5, 500.5, 1]  # r_shoulder: limb 0 is (255, 0, 0), blue after the flip
    image = render_pose_image(person, width, height)
    assert tuple(image[500, 600]) == (0, 0, int(255 * 0.6))
    assert tuple(image[504, 600]) == (0, 0, 153) and not image[505, 600].any()  # half-width 4
    assert tuple(image[500, 400]) == (0, 85, 255)  # the neck's own colour (255, 85, 0), reversed, at full strength
