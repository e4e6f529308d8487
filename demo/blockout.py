"""A previs blockout built from nothing: a room, box furniture, a proxy character walking, a dolly camera.

Used by `make demo` and by the conditioning benchmark; `detail` scales the face count
(detail=1 is about 20k faces, the benchmark's size).
"""

from __future__ import annotations

import math

import bpy
from mathutils import Vector


def _link(scene, obj):
    scene.collection.objects.link(obj)
    return obj


def _box(scene, name, location, size, bevel_segments=0):
    mesh = bpy.data.meshes.new(name)
    sx, sy, sz = (s / 2 for s in size)
    vertices = [(x * sx, y * sy, z * sz) for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)]
    faces = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
    mesh.from_pydata(vertices, [], faces)
    obj = _link(scene, bpy.data.objects.new(name, mesh))
    obj.location = location
    if bevel_segments:
        bevel = obj.modifiers.new("Bevel", "BEVEL")
        bevel.width = min(size) * 0.08
        bevel.segments = bevel_segments
    return obj


def _sphere(scene, name, location, radius, segments, rings):
    mesh = bpy.data.meshes.new(name)
    vertices = [(0, 0, radius)]
    for ring in range(1, rings):
        theta = math.pi * ring / rings
        vertices += [
            (radius * math.sin(theta) * math.cos(2 * math.pi * s / segments), radius * math.sin(theta) * math.sin(2 * math.pi * s / segments), radius * math.cos(theta))
            for s in range(segments)
        ]
    vertices.append((0, 0, -radius))
    faces = [(0, 1 + s, 1 + (s + 1) % segments) for s in range(segments)]
    for ring in range(rings - 2):
        a, b = 1 + ring * segments, 1 + (ring + 1) * segments
        faces += [(a + s, b + s, b + (s + 1) % segments, a + (s + 1) % segments) for s in range(segments)]
    bottom, base = len(vertices) - 1, 1 + (rings - 2) * segments
    faces += [(base + s, bottom, base + (s + 1) % segments) for s in range(segments)]
    mesh.from_pydata(vertices, [], faces)
    obj = _link(scene, bpy.data.objects.new(name, mesh))
    obj.location = location
    return obj


def _capsule_character(scene, name, segments):
    """A proxy character: a body capsule with a head, parented to an animated root."""
    root = _link(scene, bpy.data.objects.new(name, None))
    body = _sphere(scene, f"{name}_Body", (0, 0, 0.9), 0.35, segments, segments // 2)
    body.scale = (1.0, 0.8, 2.3)
    head = _sphere(scene, f"{name}_Head", (0, 0, 1.85), 0.18, segments, segments // 2)
    for part in (body, head):
        part.parent = root
    return root


def build_blockout(scene: bpy.types.Scene, detail: float = 1.0, frames: int = 48, width: int = 832, height: int = 480) -> bpy.types.Scene:
    """Fill `scene` with the blockout; the shot runs 1001..1000+frames at 24 fps."""
    segments = max(8, int(64 * math.sqrt(detail)))
    bevel = max(1, int(12 * math.sqrt(detail)))
    render = scene.render
    render.resolution_x, render.resolution_y, render.resolution_percentage = width, height, 100
    render.fps, render.fps_base = 24, 1.0
    scene.frame_start, scene.frame_end, scene.frame_step = 1001, 1000 + frames, 1

    _box(scene, "Floor", (0, 0, -0.05), (12, 10, 0.1))
    _box(scene, "WallBack", (0, 5, 1.5), (12, 0.2, 3))
    _box(scene, "WallLeft", (-6, 0, 1.5), (0.2, 10, 3))
    _box(scene, "WallRight", (6, 0, 1.5), (0.2, 10, 3))
    _box(scene, "Table", (-1.5, 1.5, 0.4), (2.0, 1.0, 0.8), bevel)
    for index, (x, y) in enumerate([(-2.9, 1.5), (-0.1, 1.5), (-1.5, 2.5)]):
        _box(scene, f"Chair{index + 1}", (x, y, 0.45), (0.5, 0.5, 0.9), bevel)
    shelf = _box(scene, "Shelf", (4.5, 4.3, 0.3), (1.2, 0.5, 0.6), bevel)
    shelf_array = shelf.modifiers.new("Stack", "ARRAY")
    shelf_array.relative_offset_displace = (0, 0, 1.05)
    shelf_array.count = 4
    _box(scene, "Sofa", (2.5, -1.0, 0.4), (2.4, 1.0, 0.8), bevel)
    for index in range(4):
        _sphere(scene, f"Lamp{index + 1}", (-4.5 + 3 * index, 4.2, 2.4), 0.25, segments, segments // 2)

    character = _capsule_character(scene, "Hero", segments)
    for frame, location in [(1001, (-3.5, -2.5, 0)), (1000 + frames, (1.5, 0.5, 0))]:
        character.location = location
        character.keyframe_insert("location", frame=frame)

    camera = _link(scene, bpy.data.objects.new("ShotCam", bpy.data.cameras.new("ShotCam")))
    camera.data.lens = 28
    scene.camera = camera
    target = Vector((0, 1, 0.8))
    for frame, location in [(1001, (-4.0, -8.5, 2.2)), (1000 + frames, (2.0, -8.0, 2.0))]:
        camera.location = location
        camera.rotation_euler = (target - Vector(location)).to_track_quat("-Z", "Y").to_euler()
        camera.keyframe_insert("location", frame=frame)
        camera.keyframe_insert("rotation_euler", frame=frame)
    return scene


def face_count(scene: bpy.types.Scene) -> int:
    depsgraph = bpy.context.evaluated_depsgraph_get()
    total = 0
    for instance in depsgraph.object_instances:
        if instance.object.type == "MESH":
            total += len(instance.object.data.polygons)
    return total
