"""Blender camera parameters to OpenCV intrinsics and extrinsics. Pure maths: no bpy.

Conventions (spelled out in docs/bundle.md):
- OpenCV camera axes: x right, y down, z forward. Blender's camera looks down -z with y up,
  so world-to-camera is diag(1, -1, -1, 1) @ inverse(camera matrix without scale).
- Pixel centres sit at +0.5: the centre of the top-left pixel is (0.5, 0.5).
- Focal length and lens shift follow Blender's sensor fit, as in
  BKE_camera_params_compute_viewplane: the "fit dimension" is the image width for a
  horizontal fit and the image height for a vertical one; AUTO picks the larger side.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Optional, Sequence

import numpy as np

BLENDER_TO_OPENCV = np.diag([1.0, -1.0, -1.0, 1.0])


class UnsupportedCamera(ValueError):
    """The camera cannot be expressed as a pinhole K + world_to_camera."""


@dataclass(frozen=True)
class CameraParams:
    """The subset of a Blender camera and render settings that defines the projection."""

    camera_type: str  # 'PERSP', 'ORTHO' or 'PANO'
    lens_mm: float
    sensor_width_mm: float
    sensor_height_mm: float
    sensor_fit: str  # 'AUTO', 'HORIZONTAL' or 'VERTICAL'
    shift_x: float
    shift_y: float
    width: int  # pixels, after resolution percentage
    height: int
    pixel_aspect_x: float = 1.0
    pixel_aspect_y: float = 1.0
    name: str = "camera"


def check_supported(params: CameraParams) -> None:
    """Raise UnsupportedCamera with a one-line, actionable message."""
    if params.camera_type != "PERSP":
        kind = {"ORTHO": "orthographic", "PANO": "panoramic"}.get(params.camera_type, params.camera_type)
        raise UnsupportedCamera(
            f"Camera '{params.name}' is {kind}; Neural Previs needs a perspective camera "
            "(set Camera > Lens > Type to Perspective)"
        )
    if abs(params.pixel_aspect_x - params.pixel_aspect_y) > 1e-9 * max(params.pixel_aspect_x, params.pixel_aspect_y):
        raise UnsupportedCamera(
            f"Pixel aspect is {params.pixel_aspect_x:g}:{params.pixel_aspect_y:g}; Neural Previs needs square pixels "
            "(set Output > Format > Aspect X and Y to the same value)"
        )
    if params.width < 1 or params.height < 1:
        raise UnsupportedCamera(f"Render size {params.width}x{params.height} is empty; set a resolution of at least 1x1")
    if params.lens_mm <= 0:
        raise UnsupportedCamera(f"Camera '{params.name}' has a focal length of {params.lens_mm:g} mm; it must be positive")


def resolved_sensor_fit(params: CameraParams) -> str:
    """'HORIZONTAL' or 'VERTICAL', with AUTO resolved the way Blender does (larger side wins, ties horizontal)."""
    if params.sensor_fit == "AUTO":
        wide = params.width * params.pixel_aspect_x >= params.height * params.pixel_aspect_y
        return "HORIZONTAL" if wide else "VERTICAL"
    return params.sensor_fit


def intrinsics(params: CameraParams) -> np.ndarray:
    """3x3 K in pixels, OpenCV convention, pixel centres at +0.5."""
    check_supported(params)
    fit = resolved_sensor_fit(params)
    # Blender uses sensor_height only for an explicit VERTICAL fit; AUTO always measures with sensor_width.
    sensor_mm = params.sensor_height_mm if params.sensor_fit == "VERTICAL" else params.sensor_width_mm
    fit_pixels = params.width if fit == "HORIZONTAL" else params.height
    focal_px = params.lens_mm / sensor_mm * fit_pixels
    cx = params.width / 2.0 - params.shift_x * fit_pixels
    cy = params.height / 2.0 + params.shift_y * fit_pixels
    return np.array([[focal_px, 0.0, cx], [0.0, focal_px, cy], [0.0, 0.0, 1.0]])


def world_to_camera(camera_to_world: np.ndarray) -> np.ndarray:
    """4x4 OpenCV world-to-camera from a Blender camera's matrix_world (scale is ignored, as Blender renders)."""
    m = np.asarray(camera_to_world, dtype=np.float64)
    rotation = m[:3, :3]
    norms = np.linalg.norm(rotation, axis=0)
    if np.any(norms < 1e-12):
        raise UnsupportedCamera("The camera has a zero scale on one axis; give it a non-zero scale")
    unscaled = np.eye(4)
    unscaled[:3, :3] = rotation / norms
    unscaled[:3, 3] = m[:3, 3]
    return BLENDER_TO_OPENCV @ np.linalg.inv(unscaled)


def opengl_projection(K: np.ndarray, width: int, height: int, near: float, far: float) -> np.ndarray:
    """4x4 clip matrix from OpenCV camera space, so that GL rasterisation samples exactly at K's pixel centres.

    NDC x = 2u/W - 1 and NDC y = 1 - 2v/H (GL's y points up, image rows point down); clip w = z.
    """
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    return np.array(
        [
            [2.0 * fx / width, 0.0, 2.0 * cx / width - 1.0, 0.0],
            [0.0, -2.0 * fy / height, 1.0 - 2.0 * cy / height, 0.0],
            [0.0, 0.0, (far + near) / (far - near), -2.0 * far * near / (far - near)],
            [0.0, 0.0, 1.0, 0.0],
        ]
    )


def project(K: np.ndarray, world_to_cam: np.ndarray, points_world: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates (N, 2) and planar depths (N,) of world points."""
    pts = np.asarray(points_world, dtype=np.float64).reshape(-1, 3)
    cam = (world_to_cam[:3, :3] @ pts.T).T + world_to_cam[:3, 3]
    z = cam[:, 2]
    uv = (K @ cam.T).T
    with np.errstate(divide="ignore", invalid="ignore"):
        return uv[:, :2] / uv[:, 2:3], z


@dataclass(frozen=True)
class CameraMarker:
    frame: int
    camera_name: str
    camera_hidden_in_render: bool = False


def camera_at_frame(markers: Iterable[CameraMarker], frame: int, scene_camera: Optional[str]) -> Optional[str]:
    """The camera Blender renders at `frame`: the latest camera-bound marker at or before it, else the earliest one.

    Mirrors BKE_scene_camera_switch_find: markers whose camera is hidden from render are ignored,
    and without any bound marker the scene's own camera is used.
    """
    usable = [m for m in markers if m.camera_name and not m.camera_hidden_in_render]
    if not usable:
        return scene_camera
    at_or_before = [m for m in usable if m.frame <= frame]
    if at_or_before:
        best_frame = max(m.frame for m in at_or_before)
        # Several markers on one frame: Blender keeps the first it meets in the list.
        return next(m.camera_name for m in at_or_before if m.frame == best_frame)
    earliest = min(m.frame for m in usable)
    return next(m.camera_name for m in usable if m.frame == earliest)


def shot_frames(frame_start: int, frame_end: int, frame_step: int) -> list[int]:
    """The frames a render of the scene range produces, honouring frame_step."""
    if frame_step < 1:
        raise ValueError(f"Frame step is {frame_step}; it must be at least 1")
    if frame_end < frame_start:
        raise ValueError(f"The frame range {frame_start}..{frame_end} is empty; set End at or after Start")
    return list(range(frame_start, frame_end + 1, frame_step))


def realestate10k_rows(frames: Sequence[int], fps: float, Ks: Sequence[np.ndarray], world_to_cams: Sequence[np.ndarray], width: int, height: int) -> list[str]:
    """RealEstate10K / CameraCtrl rows: timestamp_us fx/W fy/H cx/W cy/H 0 0 then the 3x4 world-to-camera, row-major.

    Timestamps count from the shot's first frame, so a 1001-based shot starts at 0 µs.
    """
    rows = []
    first = frames[0]
    for frame, K, w2c in zip(frames, Ks, world_to_cams):
        timestamp_us = int(round((frame - first) / fps * 1e6))
        values = [K[0, 0] / width, K[1, 1] / height, K[0, 2] / width, K[1, 2] / height, 0.0, 0.0]
        values += list(np.asarray(w2c)[:3, :4].reshape(-1))
        rows.append(" ".join([str(timestamp_us)] + [repr(float(v)) for v in values]))
    return rows
