"""Camera maths against hand-derived values and against its own inverse (projecting then casting back)."""

import numpy as np
import pytest

from neural_previs.addon import camera_math as cm
from neural_previs.addon.camera_math import CameraMarker, CameraParams, UnsupportedCamera


def params(**overrides):
    base = dict(camera_type="PERSP", lens_mm=50.0, sensor_width_mm=36.0, sensor_height_mm=24.0, sensor_fit="AUTO", shift_x=0.0, shift_y=0.0, width=1920, height=1080)
    base.update(overrides)
    return CameraParams(**base)


def test_horizontal_fit_focal_and_centre():
    K = cm.intrinsics(params())
    assert K[0, 0] == pytest.approx(50 / 36 * 1920)
    assert K[1, 1] == K[0, 0]
    assert (K[0, 2], K[1, 2]) == (960.0, 540.0)


def test_auto_fit_on_portrait_uses_sensor_width_against_height():
    K = cm.intrinsics(params(width=1080, height=1920))
    assert K[0, 0] == pytest.approx(50 / 36 * 1920)


def test_explicit_vertical_fit_uses_sensor_height():
    K = cm.intrinsics(params(sensor_fit="VERTICAL"))
    assert K[1, 1] == pytest.approx(50 / 24 * 1080)


def test_shift_moves_principal_point_by_fit_dimension():
    K = cm.intrinsics(params(shift_x=0.1, shift_y=0.2))
    assert K[0, 2] == pytest.approx(960 - 0.1 * 1920)
    assert K[1, 2] == pytest.approx(540 + 0.2 * 1920)
    K = cm.intrinsics(params(sensor_fit="VERTICAL", shift_x=0.1))
    assert K[0, 2] == pytest.approx(960 - 0.1 * 1080)


@pytest.mark.parametrize(
    "overrides, fragment",
    [
        (dict(camera_type="ORTHO"), "orthographic"),
        (dict(camera_type="PANO"), "panoramic"),
        (dict(pixel_aspect_x=2.0), "square pixels"),
        (dict(width=0), "empty"),
    ],
)
def test_unsupported_cameras_get_one_actionable_line(overrides, fragment):
    with pytest.raises(UnsupportedCamera) as error:
        cm.intrinsics(params(**overrides))
    message = str(error.value)
    assert fragment in message and "\n" not in message


def test_world_to_camera_uses_opencv_axes_and_ignores_scale():
    # A camera at (0, 0, 10) looking down -Z (Blender's default orientation), scaled by 3.
    camera_to_world = np.diag([3.0, 3.0, 3.0, 1.0])
    camera_to_world[:3, 3] = (0, 0, 10)
    w2c = cm.world_to_camera(camera_to_world)
    point_cam = w2c @ np.array([1.0, 2.0, 0.0, 1.0])
    assert point_cam[:3] == pytest.approx([1.0, -2.0, 10.0])  # x right, y down, z forward


def test_projection_samples_pixel_centres():
    K = cm.intrinsics(params(width=8, height=6, shift_x=0.05))
    P = cm.opengl_projection(K, 8, 6, 0.1, 100.0)
    # The world point that K maps to the centre of pixel (2, 4) lands at that pixel centre in window space.
    u, v, z = 2.5, 4.5, 7.0
    point = np.linalg.inv(K) @ np.array([u, v, 1.0]) * z
    clip = P @ np.append(point, 1.0)
    ndc = clip[:3] / clip[3]
    assert (ndc[0] + 1) / 2 * 8 == pytest.approx(u)
    assert (1 - ndc[1]) / 2 * 6 == pytest.approx(v)
    assert -1 < ndc[2] < 1


def test_camera_at_frame_follows_blender_marker_rules():
    markers = [CameraMarker(10, "B"), CameraMarker(5, "A"), CameraMarker(20, "Hidden", camera_hidden_in_render=True)]
    assert cm.camera_at_frame(markers, 1, "Scene") == "A"  # before every marker: the earliest
    assert cm.camera_at_frame(markers, 5, "Scene") == "A"
    assert cm.camera_at_frame(markers, 9, "Scene") == "A"
    assert cm.camera_at_frame(markers, 25, "Scene") == "B"  # hidden cameras are skipped
    assert cm.camera_at_frame([], 3, "Scene") == "Scene"


def test_shot_frames_honour_step_and_reject_empty_ranges():
    assert cm.shot_frames(1001, 1010, 3) == [1001, 1004, 1007, 1010]
    assert cm.shot_frames(-2, 1, 1) == [-2, -1, 0, 1]
    with pytest.raises(ValueError):
        cm.shot_frames(5, 4, 1)


def test_realestate10k_rows_layout():
    K = cm.intrinsics(params(width=100, height=50))
    w2c = np.arange(16, dtype=float).reshape(4, 4)
    rows = cm.realestate10k_rows([1001, 1002], 25.0, [K, K], [w2c, w2c], 100, 50)
    values = [float(x) for x in rows[1].split()]
    assert len(values) == 19
    assert values[0] == 40000  # microseconds from the shot's first frame
    assert values[1:5] == pytest.approx([K[0, 0] / 100, K[1, 1] / 50, 0.5, 0.5])
    assert values[5:7] == [0.0, 0.0]
    assert values[7:] == list(range(12))
