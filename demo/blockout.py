"""A previs blockout built from nothing: a room, box furniture, a rigged proxy character walking, a dolly camera.

Used by `make demo` and by the conditioning benchmark; `detail` scales the face count
(detail=1 is about 20k faces, the benchmark's size).
"""

from __future__ import annotations

import math

import bpy
from mathutils import Matrix, Vector


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


# A proxy character's bones, Blender's human metarig names (so the bundle records its pose): name ->
# (head, tail, parent); the character faces -Y with its left on +X, 1.8 m tall.
_RIG = {
    "spine": ((0, 0, 0.95), (0, 0, 1.2), None),
    "spine.003": ((0, 0, 1.2), (0, 0, 1.5), "spine"),
    "spine.004": ((0, 0, 1.5), (0, 0, 1.58), "spine.003"),
    "spine.006": ((0, 0, 1.58), (0, 0, 1.8), "spine.004"),
}
for _side, _x in (("L", 1.0), ("R", -1.0)):
    _RIG.update({
        f"thigh.{_side}": ((0.1 * _x, 0, 0.95), (0.1 * _x, 0, 0.52), "spine"),
        f"shin.{_side}": ((0.1 * _x, 0, 0.52), (0.1 * _x, 0.02, 0.09), f"thigh.{_side}"),
        f"foot.{_side}": ((0.1 * _x, 0.02, 0.09), (0.1 * _x, -0.14, 0.02), f"shin.{_side}"),
        f"upper_arm.{_side}": ((0.2 * _x, 0, 1.46), (0.24 * _x, 0, 1.17), "spine.003"),
        f"forearm.{_side}": ((0.24 * _x, 0, 1.17), (0.26 * _x, -0.04, 0.92), f"upper_arm.{_side}"),
        f"hand.{_side}": ((0.26 * _x, -0.04, 0.92), (0.27 * _x, -0.06, 0.82), f"forearm.{_side}"),
    })
# The proxy's parts: bone -> (radius of a capsule around the bone, or the head's sphere)
_PARTS = {"spine": 0.17, "spine.003": 0.2, "spine.006": 0.12, **{f"{b}.{s}": r for b, r in (("thigh", 0.08), ("shin", 0.06), ("foot", 0.05), ("upper_arm", 0.06), ("forearm", 0.05), ("hand", 0.04)) for s in "LR"}}


def _rigged_character(scene, name, segments):
    """A proxy character: capsules on a metarig-named armature, each parented to its bone."""
    rig = _link(scene, bpy.data.objects.new(name, bpy.data.armatures.new(name)))
    bpy.context.view_layer.objects.active = rig
    bpy.ops.object.mode_set(mode="EDIT")
    for bone_name, (head, tail, _) in _RIG.items():
        bone = rig.data.edit_bones.new(bone_name)
        bone.head, bone.tail = head, tail
    for bone_name, (_, _, parent) in _RIG.items():
        if parent:
            rig.data.edit_bones[bone_name].parent = rig.data.edit_bones[parent]
    bpy.ops.object.mode_set(mode="OBJECT")
    for bone_name, radius in _PARTS.items():
        bone = rig.data.bones[bone_name]
        if bone_name == "spine.006":
            part = _sphere(scene, f"{name}_Head", (0, 0, 0), radius, segments, segments // 2)
            stretch = 1.0
        else:
            part = _sphere(scene, f"{name}_{bone_name}", (0, 0, 0), radius, max(8, segments // 2), max(4, segments // 4))
            stretch = bone.length / (2 * radius) + 0.5  # a capsule along the bone
        # Placed at the bone's middle in the rest pose (the rig stands at the origin), then carried by the bone.
        part.matrix_world = bone.matrix_local @ Matrix.Translation((0, bone.length / 2, 0)) @ Matrix.Diagonal((1.0, stretch, 1.0, 1.0))
        part.parent, part.parent_type, part.parent_bone = rig, "BONE", bone_name
        part.matrix_parent_inverse = (bone.matrix_local @ Matrix.Translation((0, bone.length, 0))).inverted()
    return rig


def _walk(rig, first, last):
    """A walk cycle on the legs and arms, a step every 12 frames, arms swinging against the legs."""
    for bone in rig.pose.bones:
        bone.rotation_mode = "XYZ"
    for index, frame in enumerate(range(first, last + 1, 12)):
        swing = 0.45 if index % 2 == 0 else -0.45
        for side, sign in (("L", 1.0), ("R", -1.0)):
            poses = {f"thigh.{side}": (sign * swing, 0, 0), f"shin.{side}": (max(0.0, -sign * swing) * 1.2, 0, 0),
                     f"upper_arm.{side}": (-sign * swing * 0.8, 0, 0), f"forearm.{side}": (0.3, 0, 0)}
            for bone_name, rotation in poses.items():
                rig.pose.bones[bone_name].rotation_euler = rotation
                rig.pose.bones[bone_name].keyframe_insert("rotation_euler", frame=frame)


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

    character = _rigged_character(scene, "Hero", segments)
    start, end = Vector((1.5, 3.0, 0)), Vector((-1.0, -3.0, 0))
    character.rotation_euler.z = math.atan2((end - start).x, -(end - start).y)  # the rig faces -Y: turn it the way it walks
    for frame, location in [(1001, start), (1000 + frames, end)]:
        character.location = location
        character.keyframe_insert("location", frame=frame)
    _walk(character, 1001, 1000 + frames)

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


def add_second_camera(scene: bpy.types.Scene) -> bpy.types.Object:
    """A second shot of the same set: a lower camera on the other side of the first one's path, looking at the same
    room (the demo's set consistency shot)."""
    camera = _link(scene, bpy.data.objects.new("ReverseCam", bpy.data.cameras.new("ReverseCam")))
    camera.data.lens = 32
    target = Vector((0.5, 1.5, 0.9))
    frames = scene.frame_end - scene.frame_start + 1
    for frame, location in [(scene.frame_start, (3.0, -7.5, 1.6)), (scene.frame_start + frames - 1, (0.5, -7.0, 1.8))]:
        camera.location = location
        camera.rotation_euler = (target - Vector(location)).to_track_quat("-Z", "Y").to_euler()
        camera.keyframe_insert("location", frame=frame)
        camera.keyframe_insert("rotation_euler", frame=frame)
    return camera


def face_count(scene: bpy.types.Scene) -> int:
    depsgraph = bpy.context.evaluated_depsgraph_get()
    total = 0
    for instance in depsgraph.object_instances:
        if instance.object.type == "MESH":
            total += len(instance.object.data.polygons)
    return total
