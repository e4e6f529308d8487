"""A set solved in closed form, for the engine tests: a textured square of ground and a textured plate floating above it, seen by
a camera that moves. Every pixel centre's ray is intersected with both planes exactly, so depth, ids, colours and what
one camera sees of another frame's points are known without a renderer; the bundle is written in the bundle format
(schema 1.1 with object motion, or 1.0 without)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine_testlib import write_depth_exr, write_id_png

WIDTH, HEIGHT = 64, 48
K = np.array([[44.0, 0.0, WIDTH / 2], [0.0, 44.0, HEIGHT / 2], [0.0, 0.0, 1.0]])
GROUND, PLATE = 1, 2
NAMES = {GROUND: "Ground", PLATE: "Plate"}
GROUND_HALF_SIZE, PLATE_HALF_SIZE, PLATE_HEIGHT = 4.0, 0.9, 1.5


def look_at(position, target) -> np.ndarray:
    """world_to_camera (OpenCV axes) of a camera at `position` looking at `target`, world z up."""
    position, target = np.asarray(position, float), np.asarray(target, float)
    forward = target - position
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, (0.0, 0.0, 1.0))
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    rotation = np.stack([right, down, forward])
    matrix = np.eye(4)
    matrix[:3, :3], matrix[:3, 3] = rotation, -rotation @ position
    return matrix


def plate_pose(index: int, moving: bool) -> np.ndarray:
    angle, shift = (0.12 * index, 0.15 * index) if moving else (0.0, 0.0)
    pose = np.eye(4)
    pose[:3, :3] = [[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]]
    pose[:3, 3] = (0.2 + shift, 0.3, PLATE_HEIGHT)
    return pose


def texture(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """A smooth colour per point of an object's own plane (uint8 levels, as a float array)."""
    return np.stack([128 + 90 * np.sin(1.9 * x + 0.3), 128 + 90 * np.sin(2.3 * y - 0.5), 128 + 70 * np.sin(1.3 * (x + y))], axis=-1)


@dataclass
class Frame:
    world_to_camera: np.ndarray
    plate: np.ndarray
    depth: np.ndarray
    ids: np.ndarray
    image: np.ndarray
    points: np.ndarray  # (H, W, 3) world point seen at each pixel centre (NaN where nothing is)


def _rays(world_to_camera):
    """Camera centre and per-pixel ray directions in world space, scaled so that the planar depth is the ray parameter."""
    u, v = np.meshgrid(np.arange(WIDTH) + 0.5, np.arange(HEIGHT) + 0.5)
    camera_rays = np.stack([u, v, np.ones_like(u)], axis=-1) @ np.linalg.inv(K).T
    rotation, translation = world_to_camera[:3, :3], world_to_camera[:3, 3]
    return -rotation.T @ translation, camera_rays @ rotation


def _plane_hit(origin, directions, object_to_world, half_size=None):
    """Ray parameter of each ray's hit with the object's z = 0 plane (inf on a miss) and the hit in object coordinates."""
    inverse = np.linalg.inv(object_to_world)
    local_origin = inverse[:3, :3] @ origin + inverse[:3, 3]
    local_directions = directions @ inverse[:3, :3].T
    with np.errstate(divide="ignore", invalid="ignore"):
        t = -local_origin[2] / local_directions[..., 2]
    local = local_origin + t[..., None] * local_directions
    hit = t > 1e-6
    if half_size is not None:
        hit &= (np.abs(local[..., 0]) <= half_size) & (np.abs(local[..., 1]) <= half_size)
    return np.where(hit, t, np.inf), local


def render(world_to_camera, plate) -> Frame:
    origin, directions = _rays(world_to_camera)
    t_ground, on_ground = _plane_hit(origin, directions, np.eye(4), GROUND_HALF_SIZE)
    t_plate, on_plate = _plane_hit(origin, directions, plate, PLATE_HALF_SIZE)
    plate_first = t_plate < t_ground
    depth = np.where(plate_first, t_plate, t_ground)
    ids = np.where(np.isfinite(depth), np.where(plate_first, PLATE, GROUND), 0).astype(np.uint16)
    local = np.where(plate_first[..., None], on_plate, on_ground)
    colour = texture(local[..., 0], local[..., 1])
    image = np.where(ids[..., None] > 0, np.round(colour), 0).astype(np.uint8)
    points = np.where(np.isfinite(depth)[..., None], origin + depth[..., None] * directions, np.nan)
    return Frame(world_to_camera, plate, depth.astype(np.float32), ids, image, points)


def camera_path(count: int) -> list[np.ndarray]:
    return [look_at((-1.5 + 0.5 * i, -3.5 + 0.1 * i, 4.0), (0.2 + 0.1 * i, 0.5, 0.0)) for i in range(count)]


def render_shot(count: int = 4, moving_plate: bool = True) -> list[Frame]:
    return [render(w2c, plate_pose(i, moving_plate)) for i, w2c in enumerate(camera_path(count))]


def seen_from(frame: Frame, points: np.ndarray, ids: np.ndarray, to_frame_pose) -> np.ndarray:
    """Which of another frame's surface points (with the object each lies on) `frame`'s camera sees: moved into this
    frame with their object (`to_frame_pose(object id)` -> 4x4), in front of the camera, inside the picture, and
    not behind anything."""
    seen = np.zeros(ids.shape, dtype=bool)
    for object_id in (GROUND, PLATE):
        on = (ids == object_id) & np.isfinite(points[..., 0])
        moved = points[on] @ to_frame_pose(object_id)[:3, :3].T + to_frame_pose(object_id)[:3, 3]
        camera = moved @ frame.world_to_camera[:3, :3].T + frame.world_to_camera[:3, 3]
        pixel = camera @ K.T
        u, v = pixel[:, 0] / pixel[:, 2], pixel[:, 1] / pixel[:, 2]
        inside = (camera[:, 2] > 0) & (u >= 0) & (u < WIDTH) & (v >= 0) & (v < HEIGHT)
        origin = -frame.world_to_camera[:3, :3].T @ frame.world_to_camera[:3, 3]
        directions = (moved - origin) / camera[:, 2:3]  # parameter 1 at the point itself
        if object_id == GROUND:
            t_plate, _ = _plane_hit(origin, directions, frame.plate, PLATE_HALF_SIZE)
            unblocked = ~(t_plate < 1 - 1e-6)
        else:
            unblocked = np.ones(len(moved), dtype=bool)  # nothing stands between a camera above and the plate's top
        seen[on] = inside & unblocked
    return seen


def write_bundle(root: Path, frames: list[Frame], first_frame: int = 1001, motion: bool = True, rigid_plate: bool = True, hashes: bool = True) -> Path:
    """The shot in the bundle format; `motion=False` writes a bundle from before schema 1.1."""
    entries, finite = [], np.concatenate([f.depth[np.isfinite(f.depth)] for f in frames])
    for index, frame in enumerate(frames):
        number = first_frame + index
        write_depth_exr(root / "depth" / f"{number:06d}.exr", frame.depth)
        write_id_png(root / "mask" / f"{number:06d}.png", frame.ids)
        entry = {
            "frame": number,
            "camera": "Camera",
            "depth": f"depth/{number:06d}.exr",
            "mask": f"mask/{number:06d}.png",
            "K": K.tolist(),
            "world_to_camera": frame.world_to_camera.tolist(),
        }
        if motion:
            entry["object_to_world"] = {str(GROUND): np.eye(4).tolist(), str(PLATE): frame.plate.tolist()}
        entries.append(entry)
    objects = [{"id": i, "name": NAMES[i]} for i in (GROUND, PLATE)]
    if motion:
        objects[0].update(rigid=True, geometry_hash="sha256:ground")
        if rigid_plate:
            objects[1].update(rigid=True, geometry_hash="sha256:plate")
        else:
            objects[1].update(rigid=False, deforms="its evaluated geometry changes between frames")
        if not hashes:
            for item in objects:
                item.pop("geometry_hash", None)
    shot = {
        "schema": "neural_previs.bundle/1.1" if motion else "neural_previs.bundle/1",
        "shot": "analytic/set",
        "width": WIDTH,
        "height": HEIGHT,
        "fps": 24.0,
        "near": float(finite.min()),
        "far": float(finite.max()),
        "depth": {"kind": "planar", "units": "scene", "background": "inf"},
        "objects": objects,
        "frames": entries,
    }
    (root / "shot.json").write_text(json.dumps(shot))
    return root


def write_take(root: Path, bundle: Path, images: list[np.ndarray], first_frame: int = 1001) -> Path:
    """A take folder as the engine writes it (frames and the take.json fields qc reads), with the given frames."""
    from PIL import Image

    from engine.formats.bundle import bundle_hash, read_bundle

    (root / "frames").mkdir(parents=True)
    entries = []
    for index, image in enumerate(images):
        name = f"frames/{first_frame + index:04d}.png"
        Image.fromarray(image).save(root / name)
        entries.append({"frame": first_frame + index, "file": name})
    read = read_bundle(bundle)
    record = {"schema": "neural_previs.take/1", "bundle": {"path": str(read.root), "hash": bundle_hash(read)}, "frames": entries}
    (root / "take.json").write_text(json.dumps(record))
    return root
