"""Object motion for the bundle (schema 1.1): every object's world matrix per frame, and whether it only moves rigidly.

A pixel showing object X (the owner of what is drawn there, see `scene_geometry`) can be followed from one frame to
another with X's two world matrices only if everything drawn under X is fixed in X's own space: X's evaluated mesh
(after modifiers, shape keys, geometry nodes, a deforming parent) and, for an owner of instances (a collection-instance
empty, a geometry-nodes object), every instance's mesh and its placement relative to X. Rather than guessing that from
the kinds of modifiers, `ObjectMotionRecorder` compares exactly that geometry on every rendered frame with the first
frame's: an armature that never moves, a static bevel or a still geometry-nodes scatter stay rigid; a shape key, an
animated modifier, a moving object inside an instanced collection or time-driven nodes make it deforming.

Conservative where the rendered frames cannot tell: simulated and cached shapes (cloth, soft body, fluid, particles,
dynamic paint, ocean, mesh caches, build and wave) are always deforming, since they come from caches and time, not
from the scene, and may differ in another render of the same scene; so is an owner whose matrix cannot be inverted.

Rigid objects also get `geometry_hash`, a digest of their geometry in their own space, so a reader can tell that two
bundles of the same scene show the same object (issue 16: reprojecting across shots).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import bpy
import numpy as np

from .scene_geometry import FrameGeometry, Triangles

# Shapes that come from a simulation, a cache file or the clock: never trusted to be rigid.
_SIMULATED_MODIFIERS = {
    "CLOTH": "it is simulated (cloth)",
    "SOFT_BODY": "it is simulated (soft body)",
    "FLUID": "it is simulated (fluid)",
    "DYNAMIC_PAINT": "it is simulated (dynamic paint)",
    "PARTICLE_SYSTEM": "it has a particle system",
    "PARTICLE_INSTANCE": "it is made from particles",
    "EXPLODE": "it is made from particles (explode)",
    "OCEAN": "its shape changes with time (ocean)",
    "WAVE": "its shape changes with time (wave)",
    "BUILD": "its shape changes with time (build)",
    "MESH_CACHE": "its shape comes from a cache file",
    "MESH_SEQUENCE_CACHE": "its shape comes from a cache file",
}
# Geometry compares exactly frame to frame when it does not change (the same evaluation of the same data); these
# only absorb float rounding of the relative placement inv(owner) @ instance, far below a pixel.
_POSITION_TOLERANCE = 1e-6
_PLACEMENT_TOLERANCE = 1e-5
_HASH_DECIMALS = 6


@dataclass
class _OwnGeometry:
    """Everything drawn under one owner on one frame, in the owner's own space."""

    triangles: list[Triangles]
    placements: np.ndarray  # (N, 4, 4): inverse(owner matrix) @ instance matrix


def _simulated_reason(obj: bpy.types.Object, seen: set | None = None) -> str | None:
    """Why `obj` (or anything it instances through a collection) has a simulated or cached shape, else None."""
    seen = set() if seen is None else seen
    if obj.as_pointer() in seen:
        return None
    seen.add(obj.as_pointer())
    for modifier in getattr(obj, "modifiers", ()):
        if modifier.type in _SIMULATED_MODIFIERS and modifier.show_render:
            return _SIMULATED_MODIFIERS[modifier.type]
    if getattr(obj, "particle_systems", None) and len(obj.particle_systems):
        return _SIMULATED_MODIFIERS["PARTICLE_SYSTEM"]
    if obj.instance_type == "COLLECTION" and obj.instance_collection is not None:
        for member in obj.instance_collection.all_objects:
            reason = _simulated_reason(member, seen)
            if reason:
                return reason
    return None


def _json_matrix(matrix: np.ndarray) -> list[list[float]]:
    """Blender's float32 matrix in its shortest exact form: read back as float32, it is bit for bit the same."""
    return [[float(str(np.float32(value))) for value in row] for row in matrix]


def _same_triangles(a: Triangles, b: Triangles) -> bool:
    if a is b:
        return True
    if a.positions.shape != b.positions.shape or not np.array_equal(a.indices, b.indices):
        return False
    if np.array_equal(a.positions, b.positions):  # the usual case, and the cheapest test
        return True
    scale = 1.0 + float(np.abs(a.positions).max(initial=0.0))
    return bool(np.allclose(a.positions, b.positions, rtol=0.0, atol=_POSITION_TOLERANCE * scale))


def _difference(first: _OwnGeometry, now: _OwnGeometry) -> str | None:
    """Why `now` is not `first` moved rigidly, else None."""
    if len(first.triangles) != len(now.triangles):
        return "what it draws changes between frames"
    for a, b in zip(first.triangles, now.triangles):
        if not _same_triangles(a, b):
            return "its evaluated geometry changes between frames"
    if len(first.placements):
        scale = 1.0 + float(np.abs(first.placements).max())
        if not np.allclose(first.placements, now.placements, rtol=0.0, atol=_PLACEMENT_TOLERANCE * scale):
            return "its parts move relative to it"
    return None


def _geometry_hash(geometry: _OwnGeometry) -> str:
    digest = hashlib.sha256()
    digest.update(np.int64(len(geometry.triangles)).tobytes())
    mesh_digests: dict[int, bytes] = {}  # instances of one mesh share its digest
    for triangles, placement in zip(geometry.triangles, geometry.placements):
        key = id(triangles)
        if key not in mesh_digests:
            mesh = hashlib.sha256(np.ascontiguousarray(triangles.positions, dtype=np.float32).tobytes())
            mesh.update(np.ascontiguousarray(triangles.indices, dtype=np.int32).tobytes())
            mesh_digests[key] = mesh.digest()
        digest.update(mesh_digests[key])
        digest.update((np.round(placement, _HASH_DECIMALS) + 0.0).tobytes())  # + 0.0: -0.0 and 0.0 hash alike
    return "sha256:" + digest.hexdigest()


class ObjectMotionRecorder:
    """Collects the motion of the bundle's objects frame by frame; `frame_matrices` per frame, `object_fields` at the end."""

    def __init__(self, owners: dict[str, bpy.types.Object], owner_ids: dict[str, int]):
        self._owners = owners
        self._ids = owner_ids
        self._first: dict[str, _OwnGeometry] = {}
        self._deforms: dict[str, str] = {}
        for name in owner_ids:
            reason = _simulated_reason(owners[name])
            if reason:
                self._deforms[name] = reason

    def frame_matrices(self, depsgraph: bpy.types.Depsgraph, geometry: FrameGeometry) -> dict[str, list]:
        """Every object's world matrix on this frame (object id as a string -> 4x4), after checking its geometry."""
        matrices = {name: np.array(self._owners[name].evaluated_get(depsgraph).matrix_world, dtype=np.float64) for name in self._ids}
        drawn: dict[str, tuple[list, list]] = {}
        for key, owner, matrix in geometry.instances:
            triangles, placements = drawn.setdefault(owner, ([], []))
            triangles.append(geometry.meshes[key])
            placements.append(matrix)
        for name in self._ids:
            if name not in self._deforms:
                self._compare(name, matrices[name], *drawn.get(name, ([], [])))
        return {str(self._ids[name]): _json_matrix(matrices[name]) for name in self._ids}

    def object_fields(self, name: str) -> dict:
        """The fields `objects[i]` of shot.json gets for this object."""
        if name in self._deforms:
            return {"rigid": False, "deforms": self._deforms[name]}
        return {"rigid": True, "geometry_hash": _geometry_hash(self._first.get(name, _OwnGeometry([], np.zeros((0, 4, 4)))))}

    def _compare(self, name: str, owner_matrix: np.ndarray, triangles: list, instance_matrices: list) -> None:
        if abs(np.linalg.det(owner_matrix)) < 1e-12:
            self._deforms[name] = "its matrix cannot be inverted (zero scale)"
            return
        stacked = np.array(instance_matrices, dtype=np.float64).reshape(-1, 4, 4)
        now = _OwnGeometry(triangles, np.linalg.inv(owner_matrix) @ stacked)
        first = self._first.setdefault(name, now)
        reason = None if first is now else _difference(first, now)
        if reason:
            self._deforms[name] = reason
            del self._first[name]
