"""Object motion in a bundle (schema ``neural_previs.bundle/1.1``): how each object moves from frame to frame.

``shot.json`` of a 1.1 bundle gives every object ``rigid`` (and, for rigid ones, ``geometry_hash``) and every
frame ``object_to_world``: the world matrix of each object id on that frame (docs/bundle.md, "1.1: object motion").
A pixel showing a rigid object can be followed exactly from one frame to another: it moves with its object's
matrix. Bundles written before 1.1 have no motion (``read_motion`` returns None): nothing is known about how their
objects move.

Pure: numpy only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import BundleError

MOTION_FRAME_KEY = "object_to_world"


@dataclass(frozen=True, eq=False)
class ObjectMotion:
    """Per object whether it only moves with its matrix, and per frame every object's matrix."""

    rigid: dict[int, bool]
    """Object id -> True when its whole evaluated geometry is fixed in its own space on every frame of the bundle
    (it moves only with its matrix: translation, rotation, scale), False when it deforms or may deform."""
    geometry_hash: dict[int, str | None]
    """Object id -> ``sha256:...`` of its geometry in its own space (rigid objects), else None. Two bundles of the
    same scene show the same geometry of an object when both hashes are equal."""
    object_to_world: np.ndarray
    """(frames, max id + 1, 4, 4) float64: ``object_to_world[i, id]`` is the object's world matrix on bundle frame i
    (Blender's ``matrix_world``). Row 0 (the background) is the identity."""


def read_motion(shot: dict, object_ids: list[int], frame_count: int) -> ObjectMotion | None:
    """The motion recorded in ``shot.json``, None when the bundle has none (written before 1.1).

    A bundle with motion must have it complete: ``rigid`` on every object and a matrix for every object on every
    frame; anything partial or malformed is a ``BundleError``."""
    objects, frames = shot.get("objects") or [], shot.get("frames") or []
    has_rigid = [isinstance(o, dict) and "rigid" in o for o in objects]
    has_matrices = [isinstance(f, dict) and MOTION_FRAME_KEY in f for f in frames]
    if not any(has_rigid) and not any(has_matrices):
        return None
    if not all(has_rigid) or not all(has_matrices):
        raise BundleError(
            "shot.json: object motion is incomplete (every object needs 'rigid' and every frame 'object_to_world'); "
            "re-render the bundle"
        )
    rigid, hashes = {}, {}
    for index, (item, object_id) in enumerate(zip(objects, object_ids)):
        value = item["rigid"]
        if not isinstance(value, bool):
            raise BundleError(f"shot.json: objects[{index}].rigid must be true or false, got {value!r}")
        digest = item.get("geometry_hash")
        if digest is not None and not isinstance(digest, str):
            raise BundleError(f"shot.json: objects[{index}].geometry_hash must be a string")
        rigid[object_id] = value
        hashes[object_id] = digest if value else None
    size = max(object_ids, default=0) + 1
    matrices = np.tile(np.eye(4), (frame_count, size, 1, 1))
    for index, item in enumerate(frames):
        by_id = item[MOTION_FRAME_KEY]
        where = f"frames[{index}].{MOTION_FRAME_KEY}"
        if not isinstance(by_id, dict):
            raise BundleError(f"shot.json: {where} must map object ids to 4x4 matrices")
        missing = [object_id for object_id in object_ids if str(object_id) not in by_id]
        if missing:
            raise BundleError(f"shot.json: {where} has no matrix for object id(s) {', '.join(map(str, missing[:5]))}")
        for object_id in object_ids:
            matrices[index, object_id] = _matrix(by_id[str(object_id)], f"{where}[{object_id!r}]")
    return ObjectMotion(rigid=rigid, geometry_hash=hashes, object_to_world=matrices)


def _matrix(value, where: str) -> np.ndarray:
    if (
        not isinstance(value, list)
        or len(value) != 4
        or not all(isinstance(row, list) and len(row) == 4 for row in value)
        or not all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for row in value for x in row)
    ):
        raise BundleError(f"shot.json: {where} must be a 4x4 list of finite numbers")
    matrix = np.array(value, dtype=np.float64)
    if not np.allclose(matrix[3], (0.0, 0.0, 0.0, 1.0), atol=1e-6):
        raise BundleError(f"shot.json: {where} is not an affine matrix (its last row must be 0 0 0 1)")
    return matrix
