"""What the camera can see: evaluated triangles of every visible object and instance, per frame.

Geometry comes from the evaluated dependency graph, so modifiers, geometry nodes, collection
instances and animation are exactly as Blender evaluated them. Every drawn instance is attributed
to its *owner*: the object itself, or for instances the top-level object that generated them
(the collection-instance empty, the object carrying the geometry-nodes modifier), which is what an
artist sees and selects in the outliner.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import bpy
import numpy as np

# Object types whose evaluated form can be turned into triangles.
_GEOMETRY_TYPES = {"MESH", "CURVE", "SURFACE", "META", "FONT"}
# Types that may own drawn geometry without being geometry themselves (collection instances).
_OWNER_TYPES = _GEOMETRY_TYPES | {"EMPTY", "CURVES", "POINTCLOUD", "VOLUME", "GREASEPENCIL", "GPENCIL"}


@dataclass
class Triangles:
    positions: np.ndarray  # (N, 3) float32, object space
    indices: np.ndarray  # (M, 3) int32


MeshKey = tuple  # ("static", original mesh pointer) or ("frame", evaluated data pointer)


@dataclass
class FrameGeometry:
    """Everything to draw for one frame: shared triangle sets and their placed instances."""

    meshes: dict[MeshKey, Triangles] = field(default_factory=dict)
    # (mesh key, owner name, 4x4 object-to-world)
    instances: list[tuple[MeshKey, str, np.ndarray]] = field(default_factory=list)

    @staticmethod
    def is_static(key: MeshKey) -> bool:
        """Static keys name the same triangles on every frame of a render."""
        return key[0] == "static"


_RIGID_PARENT_TYPES = {"OBJECT", "BONE", "VERTEX", "VERTEX_3"}


def _static_mesh_key(obj_eval: bpy.types.Object) -> MeshKey | None:
    """A key for meshes whose evaluated triangles equal their original data on every frame, else None.

    Only plain meshes qualify: no modifiers, no shape keys, no animated mesh data, no deforming parent.
    Anything else is evaluated again on each frame.
    """
    original = obj_eval.original
    if original.type != "MESH" or original.modifiers or original.mode != "OBJECT":
        return None
    mesh = original.data
    if mesh is None or mesh.shape_keys is not None or mesh.animation_data is not None:
        return None
    if original.parent is not None and original.parent_type not in _RIGID_PARENT_TYPES:
        return None
    return ("static", mesh.as_pointer())


def _render_hidden_collections(scene: bpy.types.Scene) -> set[str]:
    hidden: set[str] = set()

    def walk(collection, parent_hidden):
        is_hidden = parent_hidden or collection.hide_render
        if is_hidden:
            hidden.add(collection.name_full)
        for child in collection.children:
            walk(child, is_hidden)

    walk(scene.collection, False)
    return hidden


def _hidden_in_render(obj: bpy.types.Object, hidden_collections: set[str]) -> bool:
    if obj.hide_render:
        return True
    collections = obj.users_collection
    return bool(collections) and all(c.name_full in hidden_collections for c in collections)


def candidate_owners(scene: bpy.types.Scene) -> list[str]:
    """Full names of the scene's objects that may show up in the conditioning, sorted for stable ids.

    Full names ("Chair [props.blend]") keep objects linked from different libraries apart.
    """
    hidden_collections = _render_hidden_collections(scene)
    names = []
    for obj in scene.objects:
        if obj.type not in _OWNER_TYPES:
            continue
        if obj.type == "EMPTY" and not (obj.instance_type == "COLLECTION" and obj.instance_collection):
            continue
        if _hidden_in_render(obj, hidden_collections):
            continue
        names.append(obj.name_full)
    return sorted(names)


def _triangles_of_mesh(mesh: bpy.types.Mesh) -> Triangles | None:
    vertex_count = len(mesh.vertices)
    triangle_count = len(mesh.loop_triangles)
    if vertex_count == 0 or triangle_count == 0:
        return None
    positions = np.empty(vertex_count * 3, dtype=np.float32)
    mesh.vertices.foreach_get("co", positions)
    indices = np.empty(triangle_count * 3, dtype=np.int32)
    mesh.loop_triangles.foreach_get("vertices", indices)
    return Triangles(positions.reshape(-1, 3), indices.reshape(-1, 3))


def _triangles_of_object(obj_eval: bpy.types.Object) -> Triangles | None:
    if obj_eval.type == "MESH":
        return _triangles_of_mesh(obj_eval.data)
    # Curves, surfaces, text and metaballs: the documented temporary-mesh path, released at once.
    try:
        mesh = obj_eval.to_mesh()
    except RuntimeError:
        return None
    try:
        return _triangles_of_mesh(mesh) if mesh is not None else None
    finally:
        obj_eval.to_mesh_clear()


def _matrix(m) -> np.ndarray:
    return np.array(m, dtype=np.float64).reshape(4, 4)


def collect_frame_geometry(depsgraph: bpy.types.Depsgraph, owners: set[str], static_cache: dict[MeshKey, Triangles]) -> FrameGeometry:
    """Triangles of every visible instance in the evaluated depsgraph whose owner is in `owners`.

    `static_cache` keeps the triangles of static meshes from frame to frame of one render.
    """
    frame = FrameGeometry()
    for instance in depsgraph.object_instances:
        obj_eval = instance.object
        if obj_eval.type not in _GEOMETRY_TYPES:
            continue
        owner = instance.parent if instance.is_instance else obj_eval
        owner_name = owner.original.name_full
        if owner_name not in owners:
            continue
        # Instances of one mesh share a key, so the GPU gets each triangle set once per frame.
        key = _static_mesh_key(obj_eval) if obj_eval.type == "MESH" else None
        if key is None:
            key = ("frame", obj_eval.data.as_pointer() if obj_eval.type == "MESH" else obj_eval.as_pointer())
        if key not in frame.meshes:
            triangles = static_cache.get(key) if FrameGeometry.is_static(key) else None
            if triangles is None:
                triangles = _triangles_of_object(obj_eval)
                if triangles is None:
                    continue
                if FrameGeometry.is_static(key):
                    static_cache[key] = triangles
            frame.meshes[key] = triangles
        frame.instances.append((key, owner_name, _matrix(instance.matrix_world)))
    return frame
