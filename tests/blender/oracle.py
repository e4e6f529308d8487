"""An independent oracle for the bundle: Embree ray casts through pixel centres at the evaluated scene.

The extension rasterises on the GPU; this casts one ray per pixel centre with trimesh + Embree at the
world-space triangles of every evaluated instance (its own extraction via to_mesh, in float64), so
agreement means both the camera model and the visibility are right.
"""

from __future__ import annotations

import bpy
import numpy as np
import trimesh


def world_triangles(depsgraph, owner_names):
    """(T, 3, 3) float64 world-space triangles and (T,) owner names of every visible instance."""
    triangles, owners = [], []
    for instance in depsgraph.object_instances:
        obj = instance.object
        if obj.type not in {"MESH", "CURVE", "SURFACE", "META", "FONT"}:
            continue
        owner = (instance.parent if instance.is_instance else obj).original.name
        if owner not in owner_names:
            continue
        mesh = obj.to_mesh()
        try:
            if mesh is None or len(mesh.loop_triangles) == 0:
                continue
            co = np.array([v.co[:] for v in mesh.vertices], dtype=np.float64)
            tris = np.array([t.vertices[:] for t in mesh.loop_triangles], dtype=np.int64)
        finally:
            obj.to_mesh_clear()
        m = np.array(instance.matrix_world, dtype=np.float64)
        world = co @ m[:3, :3].T + m[:3, 3]
        triangles.append(world[tris])
        owners.extend([owner] * len(tris))
    return np.concatenate(triangles), np.array(owners)


def raycast_depth_and_ids(depsgraph, owner_ids: dict, K, world_to_cam, width, height):
    """Planar depth (+inf for misses) and owner ids (0 for misses) at every pixel centre."""
    triangles, owners = world_triangles(depsgraph, set(owner_ids))
    mesh = trimesh.Trimesh(vertices=triangles.reshape(-1, 3), faces=np.arange(len(triangles) * 3).reshape(-1, 3), process=False)
    intersector = trimesh.ray.ray_pyembree.RayMeshIntersector(mesh)
    u, v = np.meshgrid(np.arange(width) + 0.5, np.arange(height) + 0.5)
    pixels = np.stack([u.ravel(), v.ravel(), np.ones(u.size)], axis=1)
    directions_cam = pixels @ np.linalg.inv(K).T
    rotation, translation = world_to_cam[:3, :3], world_to_cam[:3, 3]
    origin = -rotation.T @ translation
    directions = directions_cam @ rotation  # R^T d for each row
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    origins = np.broadcast_to(origin, directions.shape).copy()
    locations, ray_index, triangle_index = intersector.intersects_location(origins, directions, multiple_hits=False)
    depth = np.full(width * height, np.inf)
    ids = np.zeros(width * height, dtype=np.int64)
    depth[ray_index] = (locations - origin) @ rotation[2]
    ids[ray_index] = [owner_ids[name] for name in owners[triangle_index]]
    return depth.reshape(height, width), ids.reshape(height, width)


def interior_pixels(ids: np.ndarray) -> np.ndarray:
    """Pixels whose 3x3 neighbourhood shows one single id (away from object edges)."""
    padded = np.pad(ids, 1, mode="edge")
    same = np.ones(ids.shape, dtype=bool)
    for dy in (0, 1, 2):
        for dx in (0, 1, 2):
            same &= padded[dy : dy + ids.shape[0], dx : dx + ids.shape[1]] == ids
    return same


def evaluated_depsgraph():
    return bpy.context.evaluated_depsgraph_get()


def pixel_centre_rays(scene, camera, width, height):
    """World-space origin and unit directions (H, W, 3) through every pixel centre, from Blender's own camera frame
    (`Camera.view_frame`: sensor fit and shift included), independent of the bundle's K."""
    corners = [np.array(c) for c in camera.data.view_frame(scene=scene)]  # top-right, bottom-right, bottom-left, top-left
    top_left, top_right, bottom_left = corners[3], corners[0], corners[2]
    u = (np.arange(width) + 0.5) / width
    v = (np.arange(height) + 0.5) / height
    local = top_left + u[None, :, None] * (top_right - top_left) + v[:, None, None] * (bottom_left - top_left)
    matrix = np.array(camera.matrix_world.normalized())
    directions = local @ matrix[:3, :3].T
    directions /= np.linalg.norm(directions, axis=2, keepdims=True)
    return matrix[:3, 3], directions


def first_hits(scene, origin, directions):
    """Blender's own ray casts at the evaluated scene: (H, W, 3) hit points (NaN on a miss) and (H, W) object names."""
    depsgraph = bpy.context.evaluated_depsgraph_get()
    height, width = directions.shape[:2]
    points = np.full((height, width, 3), np.nan)
    names = np.full((height, width), "", dtype=object)
    for y in range(height):
        for x in range(width):
            hit, location, _, _, obj, _ = scene.ray_cast(depsgraph, origin.tolist(), directions[y, x].tolist())
            if hit:
                points[y, x] = location
                names[y, x] = obj.original.name
    return points, names


def seen_from(scene, camera, points, names, width, height):
    """(H, W) bool: which world points (with the object each lies on) the camera sees on the scene's current frame:
    in front of it, inside the picture, and the first thing a ray cast from the camera towards them hits."""
    from bpy_extras.object_utils import world_to_camera_view
    from mathutils import Vector

    depsgraph = bpy.context.evaluated_depsgraph_get()
    origin = np.array(camera.matrix_world.translation)
    seen = np.zeros(names.shape, dtype=bool)
    for y, x in zip(*np.nonzero(names != "")):
        point = points[y, x]
        view = world_to_camera_view(scene, camera, Vector(point))
        if view.z <= 0 or not (0 <= view.x <= 1 and 0 <= view.y <= 1):
            continue
        offset = point - origin
        distance = float(np.linalg.norm(offset))
        hit, location, _, _, obj, _ = scene.ray_cast(depsgraph, origin.tolist(), (offset / distance).tolist())
        seen[y, x] = bool(hit) and obj.original.name == names[y, x] and np.linalg.norm(np.array(location) - origin) >= distance * (1 - 1e-4)
    return seen
