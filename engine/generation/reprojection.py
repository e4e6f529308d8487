"""Reprojection: carry the pixels of one bundle frame into another through exact depth, cameras and object motion.

Pure numpy, no torch. The consistency score of every take (``engine.qc``) is built on it, and so is carrying
generated pixels into later windows and into other shots of the same set (issue 16): the source and the target may
be frames of one bundle or of two bundles of the same scene (objects are matched by name).

For every pixel of the *target* frame (OpenCV axes, pixel centres at +0.5, as in the bundle):

1. unproject it with its planar depth: ``X_t = z · K_t⁻¹ (u, v, 1)``;
2. move it with its object from the target frame to the source frame, into the source camera:
   ``X_s = W_s · O_s · O_t⁻¹ · W_t⁻¹ · X_t`` (``W`` = world_to_camera, ``O`` = the object's object_to_world);
3. project it into the source camera: ``(u_s, v_s) = K_s X_s / z_s``;
4. accept it only where all of these hold:

   - its object moves rigidly in both frames and is the same geometry (equal ``geometry_hash``);
   - it is not on a depth edge of the target: no other object among its 8 neighbours, and no crease or jump
     (inverse depth is affine in the image across a plane, so its second difference along a row or a column
     stays below ``edge_tolerance · 1/z``);
   - the 2x2 source pixels around ``(u_s, v_s)`` all show the same object, none of them on a depth edge, and their
     bilinearly interpolated inverse depth agrees with ``1/z_s`` within ``depth_tolerance`` (relative): the point
     is visible in the source too, not hidden behind something else;

5. take its colour from the source image, interpolated bilinearly between those 2x2 pixel centres.

Background (no depth) is never valid, nor is anything of a bundle without object motion (written before 1.1),
unless its caller asserts that the scene is static (``frame_view(..., assume_static=True)``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from ..formats.bundle import Bundle

#: Relative disagreement of inverse depth above which a point counts as hidden in the source.
DEPTH_TOLERANCE = 0.01
#: Relative second difference of inverse depth above which a pixel sits on a crease or a depth jump.
EDGE_TOLERANCE = 0.02
#: ``geometry`` of every object when the caller asserts that a bundle without motion shows a static scene.
ASSUMED_STATIC = "assumed static"


@dataclass(frozen=True)
class ObjectPose:
    """One object on one frame, as the reprojection needs it."""

    name: str
    """Objects of two bundles are the same object when their names match."""
    rigid: bool
    """It moves only with ``object_to_world`` (its whole geometry is fixed in its own space)."""
    geometry: str | None
    """Its geometry in its own space (``geometry_hash`` of the bundle); pixels only move between equal geometries."""
    object_to_world: np.ndarray
    """4x4 world matrix on this frame."""


@dataclass(frozen=True, eq=False)
class FrameView:
    """What the reprojection knows about one bundle frame: depth, object ids, camera and object poses."""

    depth: np.ndarray
    """(H, W) planar depth, +inf where nothing is seen."""
    ids: np.ndarray
    """(H, W) object ids, 0 = background."""
    K: np.ndarray
    """3x3 intrinsics in pixels."""
    world_to_camera: np.ndarray
    """4x4, OpenCV axes."""
    objects: dict[int, ObjectPose]
    """Object id -> its pose on this frame."""

    @property
    def shape(self) -> tuple[int, int]:
        return self.ids.shape

    @functools.cached_property
    def inverse_depth(self) -> np.ndarray:
        """(H, W) float32 ``1/z``, 0 where nothing is seen."""
        with np.errstate(divide="ignore"):
            return np.where(np.isfinite(self.depth), 1.0 / self.depth, 0.0).astype(np.float32)

    @functools.cached_property
    def edges(self) -> np.ndarray:
        """(H, W) bool: pixels on a depth edge (see the module docstring)."""
        return depth_edges(self.inverse_depth, self.ids)

    @functools.cached_property
    def surface_ids(self) -> np.ndarray:
        """(H, W) the object ids off depth edges, 0 on them: what a source pixel may lend its colour to."""
        return np.where(self.edges, 0, self.ids)


@dataclass(frozen=True, eq=False)
class Reprojection:
    image: np.ndarray
    """(H, W, C) float32: the source image seen from the target frame, 0 where not valid."""
    valid: np.ndarray
    """(H, W) bool: target pixels whose colour was carried over from the source."""

    @property
    def valid_fraction(self) -> float:
        return float(self.valid.mean()) if self.valid.size else 0.0


def frame_view(bundle: Bundle, index: int, depth: np.ndarray | None = None, ids: np.ndarray | None = None, assume_static: bool = False) -> FrameView:
    """The view of bundle frame ``index`` (0-based); ``depth``/``ids`` when already read, else read now.

    Without object motion in the bundle, every object is unknown and nothing of it is valid; ``assume_static``
    declares that nothing in the scene moves (only the camera), for bundles written before 1.1."""
    frame = bundle.frames[index]
    depth = bundle.read_depth(index) if depth is None else depth
    ids = bundle.read_mask(index) if ids is None else ids
    motion = bundle.motion
    objects = {}
    for item in bundle.objects:
        if motion is not None:
            # Without a geometry_hash a rigid object is only known to keep its shape within its own bundle.
            geometry = motion.geometry_hash[item.id] or (f"unhashed {bundle.root} {item.id}" if motion.rigid[item.id] else None)
            pose = ObjectPose(item.name, motion.rigid[item.id], geometry, motion.object_to_world[index, item.id])
        else:
            pose = ObjectPose(item.name, assume_static, ASSUMED_STATIC if assume_static else None, np.eye(4))
        objects[item.id] = pose
    return FrameView(depth=depth, ids=ids, K=np.array(frame.K), world_to_camera=np.array(frame.world_to_camera), objects=objects)


def depth_edges(inverse_depth: np.ndarray, ids: np.ndarray, tolerance: float = EDGE_TOLERANCE) -> np.ndarray:
    """Pixels next to another object (8 neighbours) or on a crease or jump of the depth."""
    height, width = ids.shape
    edges = np.zeros((height, width), dtype=bool)
    padded = np.pad(ids, 1, mode="edge")
    for dy in (0, 1, 2):
        for dx in (0, 1, 2):
            if dy != 1 or dx != 1:
                edges |= padded[dy : dy + height, dx : dx + width] != ids
    # Replicated borders make the second difference there a first difference: steep borders count as edges.
    d = np.pad(inverse_depth, 1, mode="edge")
    centre = d[1:-1, 1:-1]
    limit = tolerance * centre
    edges |= np.abs(d[1:-1, :-2] + d[1:-1, 2:] - 2 * centre) > limit
    edges |= np.abs(d[:-2, 1:-1] + d[2:, 1:-1] - 2 * centre) > limit
    return edges


def _object_maps(source: FrameView, target: FrameView) -> tuple[np.ndarray, np.ndarray]:
    """Per target object id, 16 float32 numbers taking a target pixel (u, v) with planar depth z straight to the
    source (``A``, ``b``: homogeneous source pixel ``z · A (u, v, 1) + b``; ``c``, ``d``: source depth
    ``z · c · (u, v, 1) + d``), zero for objects that cannot be followed; and each object's id in the source (0: none)."""
    size = max(target.objects, default=0) + 1
    maps = np.zeros((size, 16), dtype=np.float32)
    source_ids = np.zeros(size, dtype=np.int64)
    by_name = {pose.name: object_id for object_id, pose in source.objects.items()}
    camera_to_world = np.linalg.inv(target.world_to_camera)
    pixel_to_ray = np.linalg.inv(target.K)
    for object_id, pose in target.objects.items():
        source_id = by_name.get(pose.name)
        if source_id is None:
            continue
        other = source.objects[source_id]
        if not (pose.rigid and other.rigid and pose.geometry is not None and pose.geometry == other.geometry):
            continue
        try:
            to_object = np.linalg.inv(pose.object_to_world)
        except np.linalg.LinAlgError:
            continue
        # target camera space -> source camera space, for this object's motion between the two frames
        moved = (source.world_to_camera @ other.object_to_world @ to_object @ camera_to_world)[:3]
        to_pixel = source.K @ moved
        maps[object_id] = np.concatenate([(to_pixel[:, :3] @ pixel_to_ray).ravel(), to_pixel[:, 3], moved[2, :3] @ pixel_to_ray, moved[2, 3:]])
        source_ids[object_id] = source_id
    return maps, source_ids


def reproject(
    source_image: np.ndarray,
    source: FrameView,
    target: FrameView,
    depth_tolerance: float = DEPTH_TOLERANCE,
) -> Reprojection:
    """``source_image`` (H_s, W_s[, C], any numeric type) of frame ``source`` seen from frame ``target``.

    Vectorised over the target's pixels (one 16-number map per object, looked up per pixel), float32 throughout:
    about 65 ms of one CPU core for an 832x480 pair (``benchmarks/reprojection.py``)."""
    image = source_image if source_image.ndim == 3 else source_image[..., None]
    height, width = target.shape
    source_height, source_width = source.shape
    if image.shape[:2] != (source_height, source_width):
        raise ValueError(f"source image is {image.shape[1]}x{image.shape[0]}, its frame {source_width}x{source_height}")
    channels = image.shape[2]
    shape = (height, width, channels) if source_image.ndim == 3 else (height, width)
    valid = np.zeros(height * width, dtype=bool)
    maps, source_ids = _object_maps(source, target)
    followable = source_ids > 0
    target_ids = target.ids.ravel()
    candidate = np.take(np.append(followable, False), np.minimum(target_ids, len(followable)))
    candidate &= ~target.edges.ravel() & (target.inverse_depth.ravel() > 0)
    pixels = np.flatnonzero(candidate)
    if pixels.size == 0 or source_width < 2 or source_height < 2:
        return Reprojection(np.zeros(shape, dtype=np.float32), valid.reshape(height, width))

    # 1.-3. Unproject each candidate with its depth, move it with its object, project it into the source.
    ids = np.take(target_ids, pixels)
    m = np.take(np.ascontiguousarray(maps.T), ids, axis=1)  # (16, N): one contiguous row per number
    z = np.take(target.depth.ravel(), pixels)
    u = (pixels % width).astype(np.float32) + 0.5
    v = (pixels // width).astype(np.float32) + 0.5
    homogeneous = [z * (m[3 * row] * u + m[3 * row + 1] * v + m[3 * row + 2]) + m[9 + row] for row in range(3)]
    source_z = z * (m[12] * u + m[13] * v + m[14]) + m[15]
    with np.errstate(divide="ignore", invalid="ignore"):
        x = homogeneous[0] / homogeneous[2] - 0.5  # pixel-index coordinates: pixel (0, 0)'s centre at (0, 0)
        y = homogeneous[1] / homogeneous[2] - 0.5
    inside = (source_z > 1e-6) & (homogeneous[2] > 0) & (x >= 0) & (x <= source_width - 1) & (y >= 0) & (y <= source_height - 1)
    keep = np.flatnonzero(inside)
    pixels, ids, x, y, source_z = pixels[keep], ids[keep], x[keep], y[keep], source_z[keep]
    left, top = np.minimum(np.floor(x), source_width - 2), np.minimum(np.floor(y), source_height - 2)
    fx, fy = x - left, y - top  # float32 throughout: weights, depths and colours
    x0, y0 = left.astype(np.intp), top.astype(np.intp)
    corners = [y0 * source_width + x0, y0 * source_width + x0 + 1, (y0 + 1) * source_width + x0, (y0 + 1) * source_width + x0 + 1]
    weights = [(1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy]

    # 4. Visible in the source: the 2x2 pixels show this object off its edges, at the depth the point has there.
    expected_id = np.take(source_ids, ids)
    surfaces, source_inverse = source.surface_ids.ravel(), source.inverse_depth.ravel()
    accepted = np.ones(pixels.size, dtype=bool)
    interpolated = np.zeros(pixels.size, dtype=np.float32)
    for corner, weight in zip(corners, weights):
        accepted &= np.take(surfaces, corner) == expected_id
        interpolated += weight * np.take(source_inverse, corner)
    expected_inverse = 1.0 / source_z
    accepted &= np.abs(interpolated - expected_inverse) <= depth_tolerance * expected_inverse

    # 5. The colour, bilinear between the four source pixel centres (one channel plane at a time: contiguous gathers).
    keep = np.flatnonzero(accepted)
    planes = np.ascontiguousarray(np.moveaxis(image, 2, 0).reshape(channels, -1))
    colour = np.zeros((channels, keep.size), dtype=np.float32)
    for corner, weight in zip(corners, weights):
        colour += np.take(weight, keep) * np.take(planes, np.take(corner, keep), axis=1)
    targets = np.take(pixels, keep)
    out = np.zeros((channels, height * width), dtype=np.float32)
    out[:, targets] = colour
    valid[targets] = True
    return Reprojection(np.ascontiguousarray(np.moveaxis(out.reshape(channels, height, width), 0, 2)).reshape(shape), valid.reshape(height, width))
