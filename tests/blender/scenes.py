"""Scenes the Blender tests build from nothing, each exercising what the bundle must get exactly right."""

from __future__ import annotations

import math

import bpy
from mathutils import Vector


def link(scene, obj, collection=None):
    (collection or scene.collection).objects.link(obj)
    return obj


def add_camera(scene, name="Camera", location=(7.0, -7.0, 4.0), target=(0.0, 0.0, 0.5), lens=35.0, make_active=True):
    camera = link(scene, bpy.data.objects.new(name, bpy.data.cameras.new(name)))
    camera.data.lens = lens
    camera.location = location
    look_at(camera, target)
    if make_active:
        scene.camera = camera
    return camera


def look_at(obj, target):
    direction = Vector(target) - obj.location
    obj.rotation_euler = direction.to_track_quat("-Z", "Y").to_euler()


def mesh_object(scene, name, vertices, faces, location=(0, 0, 0), collection=None):
    mesh = bpy.data.meshes.new(name)
    mesh.from_pydata(vertices, [], faces)
    mesh.update()
    obj = link(scene, bpy.data.objects.new(name, mesh), collection)
    obj.location = location
    return obj


def box(scene, name, location, size=(1, 1, 1), collection=None):
    sx, sy, sz = (s / 2 for s in size)
    vertices = [(x * sx, y * sy, z * sz) for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)]
    faces = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
    return mesh_object(scene, name, vertices, faces, location, collection)


def uv_sphere(scene, name, location, radius=0.5, segments=24, rings=12, collection=None):
    vertices = [(0, 0, radius)]
    for ring in range(1, rings):
        theta = math.pi * ring / rings
        for segment in range(segments):
            phi = 2 * math.pi * segment / segments
            vertices.append((radius * math.sin(theta) * math.cos(phi), radius * math.sin(theta) * math.sin(phi), radius * math.cos(theta)))
    vertices.append((0, 0, -radius))
    faces = [(0, 1 + s, 1 + (s + 1) % segments) for s in range(segments)]
    for ring in range(rings - 2):
        a, b = 1 + ring * segments, 1 + (ring + 1) * segments
        faces += [(a + s, b + s, b + (s + 1) % segments, a + (s + 1) % segments) for s in range(segments)]
    last = len(vertices) - 1
    base = 1 + (rings - 2) * segments
    faces += [(base + s, last, base + (s + 1) % segments) for s in range(segments)]
    return mesh_object(scene, name, vertices, faces, location, collection)


def floor(scene, name="Floor", size=20.0):
    s = size / 2
    return mesh_object(scene, name, [(-s, -s, 0), (s, -s, 0), (s, s, 0), (-s, s, 0)], [(0, 1, 2, 3)])


def instance_on_points_modifier(obj, instanced_object, grid_size=3.0, vertices=3):
    """A geometry-nodes modifier that replaces obj's geometry with instances of another object on a grid."""
    tree = bpy.data.node_groups.new(f"{obj.name}_scatter", "GeometryNodeTree")
    tree.interface.new_socket(name="Geometry", in_out="INPUT", socket_type="NodeSocketGeometry")
    tree.interface.new_socket(name="Geometry", in_out="OUTPUT", socket_type="NodeSocketGeometry")
    nodes, links = tree.nodes, tree.links
    output = nodes.new("NodeGroupOutput")
    grid = nodes.new("GeometryNodeMeshGrid")
    grid.inputs["Size X"].default_value = grid_size
    grid.inputs["Size Y"].default_value = grid_size
    grid.inputs["Vertices X"].default_value = vertices
    grid.inputs["Vertices Y"].default_value = vertices
    info = nodes.new("GeometryNodeObjectInfo")
    info.inputs["Object"].default_value = instanced_object
    info.transform_space = "ORIGINAL"
    scatter = nodes.new("GeometryNodeInstanceOnPoints")
    links.new(grid.outputs["Mesh"], scatter.inputs["Points"])
    links.new(info.outputs["Geometry"], scatter.inputs["Instance"])
    links.new(scatter.outputs["Instances"], output.inputs[0])
    modifier = obj.modifiers.new("Scatter", "NODES")
    modifier.node_group = tree
    return modifier


def exactness_scene(scene):
    """Modifiers, animation, a collection instance, geometry-nodes instances and a 1001-based dollying camera."""
    scene.render.resolution_x, scene.render.resolution_y = 160, 90
    scene.render.resolution_percentage = 100
    scene.frame_start, scene.frame_end, scene.frame_step = 1001, 1006, 1
    floor(scene)

    walls = box(scene, "Wall", (0, 4, 1.5), (8, 0.3, 3))
    walls.modifiers.new("Repeat", "ARRAY").count = 2

    bevelled = box(scene, "Table", (-1.5, 0.5, 0.5), (1.6, 1.0, 1.0))
    bevelled.modifiers.new("Bevel", "BEVEL").width = 0.1
    subdivided = box(scene, "Pouf", (1.8, -0.8, 0.35), (0.7, 0.7, 0.7))
    subdivided.modifiers.new("Smooth", "SUBSURF").levels = 2

    walker = uv_sphere(scene, "Walker", (-2.0, -1.5, 0.6), radius=0.6)
    walker.keyframe_insert("location", frame=1001)
    walker.location = (1.0, -2.0, 0.6)
    walker.keyframe_insert("location", frame=1006)

    # Deformed on every frame: a shape key and a modifier, both animated.
    blob = box(scene, "Blob", (0.2, 1.2, 0.5), (0.8, 0.8, 0.8))
    blob.shape_key_add(name="Basis")
    raised = blob.shape_key_add(name="Raised")
    for vertex in raised.data:
        if vertex.co.z > 0:
            vertex.co.z += 0.8
    raised.value = 0.0
    raised.keyframe_insert("value", frame=1001)
    raised.value = 1.0
    raised.keyframe_insert("value", frame=1006)
    twist = box(scene, "Twister", (-0.6, 2.4, 0.8), (0.4, 0.4, 1.6))
    deform = twist.modifiers.new("Twist", "SIMPLE_DEFORM")
    deform.deform_method = "TWIST"
    deform.angle = 0.0
    deform.keyframe_insert("angle", frame=1001)
    deform.angle = 1.5
    deform.keyframe_insert("angle", frame=1006)

    # Geometry that is not a mesh: text and a bevelled curve, drawn through their evaluated meshes.
    text = link(scene, bpy.data.objects.new("Title", bpy.data.curves.new("Title", "FONT")))
    text.data.body = "PREVIS"
    text.data.extrude = 0.05
    text.location, text.rotation_euler = (-3.0, 3.7, 1.8), (math.pi / 2, 0, 0)
    rail_curve = bpy.data.curves.new("Rail", "CURVE")
    rail_curve.dimensions, rail_curve.bevel_depth = "3D", 0.06
    spline = rail_curve.splines.new("POLY")
    spline.points.add(2)
    for point, co in zip(spline.points, [(-3.5, -3.0, 0.3, 1), (-2.5, -2.0, 0.8, 1), (-1.0, -2.8, 0.3, 1)]):
        point.co = co
    link(scene, bpy.data.objects.new("Rail", rail_curve))

    # Hidden from render: neither may cover what is behind it.
    ghost = box(scene, "Ghost", (3.0, -3.5, 1.0), (1.5, 1.5, 2.0))
    ghost.hide_render = True
    hidden_collection = bpy.data.collections.new("HiddenInRender")
    scene.collection.children.link(hidden_collection)
    hidden_collection.hide_render = True
    box(scene, "HiddenCrate", (0.5, -2.5, 0.5), (1.0, 1.0, 1.0), collection=hidden_collection)

    props = bpy.data.collections.new("Props")  # not linked to the scene: only seen through the instance
    box(scene, "PropCrate", (0, 0, 0.25), (0.5, 0.5, 0.5), collection=props)
    uv_sphere(scene, "PropBall", (0.6, 0, 0.3), radius=0.3, collection=props)
    shelf = link(scene, bpy.data.objects.new("ShelfInstance", None))
    shelf.instance_type = "COLLECTION"
    shelf.instance_collection = props
    shelf.location = (2.2, 1.8, 0.0)
    shelf.rotation_euler = (0, 0, 0.4)

    pebble = uv_sphere(scene, "Pebble", (0, 0, -50), radius=0.15, segments=8, rings=4)
    pebble.hide_render = True  # only its instances are seen
    scatter = box(scene, "Scatter", (-2.5, 2.0, 0.15), (0.1, 0.1, 0.1))
    instance_on_points_modifier(scatter, pebble, grid_size=1.5, vertices=3)

    camera = add_camera(scene, location=(6.5, -7.5, 3.5), target=(0, 0, 0.6), lens=28)
    camera.data.shift_x, camera.data.shift_y = 0.07, -0.04
    camera.keyframe_insert("location", frame=1001)
    camera.location = (5.0, -8.0, 3.0)
    camera.keyframe_insert("location", frame=1006)
    return scene


def _armature(scene, name, location):
    """An armature with one upright bone, its pose rotated by keyframes (frames 1001 -> 1004)."""
    rig = link(scene, bpy.data.objects.new(name, bpy.data.armatures.new(name)))
    rig.location = location
    bpy.context.view_layer.objects.active = rig
    bpy.ops.object.mode_set(mode="EDIT")
    bone = rig.data.edit_bones.new("Bone")
    bone.head, bone.tail = (0, 0, 0), (0, 0, 1)
    bpy.ops.object.mode_set(mode="OBJECT")
    pose_bone = rig.pose.bones["Bone"]
    pose_bone.rotation_mode = "XYZ"
    pose_bone.keyframe_insert("rotation_euler", frame=1001)
    pose_bone.rotation_euler = (0.6, 0.0, 0.3)
    pose_bone.keyframe_insert("rotation_euler", frame=1004)
    return rig


def _time_offset_modifier(obj):
    """Geometry nodes moving every vertex up with the scene frame: the mesh changes in its own space."""
    tree = bpy.data.node_groups.new(f"{obj.name}_rise", "GeometryNodeTree")
    tree.interface.new_socket(name="Geometry", in_out="INPUT", socket_type="NodeSocketGeometry")
    tree.interface.new_socket(name="Geometry", in_out="OUTPUT", socket_type="NodeSocketGeometry")
    nodes, links = tree.nodes, tree.links
    group_in, group_out = nodes.new("NodeGroupInput"), nodes.new("NodeGroupOutput")
    time = nodes.new("GeometryNodeInputSceneTime")
    scale = nodes.new("ShaderNodeMath")
    scale.operation = "MULTIPLY"
    scale.inputs[1].default_value = 0.01
    offset = nodes.new("ShaderNodeCombineXYZ")
    move = nodes.new("GeometryNodeSetPosition")
    links.new(time.outputs["Frame"], scale.inputs[0])
    links.new(scale.outputs[0], offset.inputs["Z"])
    links.new(group_in.outputs[0], move.inputs["Geometry"])
    links.new(offset.outputs[0], move.inputs["Offset"])
    links.new(move.outputs["Geometry"], group_out.inputs[0])
    obj.modifiers.new("Rise", "NODES").node_group = tree


def motion_scene(scene):
    """Objects that move every way Blender moves things, frames 1001..1004: keyframes, parents, constraints, bones,
    instances; and objects that deform (armature, shape key, animated modifier, time-driven nodes, cloth, a moving
    part inside an instanced collection). Returns (rigid names, deforming names)."""
    scene.render.resolution_x, scene.render.resolution_y = 64, 48
    scene.frame_start, scene.frame_end = 1001, 1004
    floor(scene)
    spinner = box(scene, "Spinner", (0, 0, 0.5), (0.6, 0.4, 0.8))
    spinner.keyframe_insert("location", frame=1001)
    spinner.keyframe_insert("rotation_euler", frame=1001)
    spinner.keyframe_insert("scale", frame=1001)
    spinner.location, spinner.rotation_euler, spinner.scale = (1.0, 0.5, 0.7), (0.2, 0.1, 1.2), (1.0, 1.5, 0.8)
    spinner.keyframe_insert("location", frame=1004)
    spinner.keyframe_insert("rotation_euler", frame=1004)
    spinner.keyframe_insert("scale", frame=1004)
    child = uv_sphere(scene, "Child", (0.8, 0, 0.6), radius=0.2, segments=8, rings=4)
    child.parent = spinner
    follower = box(scene, "Follower", (0, 0, 0), (0.3, 0.3, 0.3))
    follower.constraints.new("COPY_LOCATION").target = spinner
    follower.constraints[-1].use_offset = True
    follower.location = (-1.0, -1.0, 0.3)
    follower.constraints.new("TRACK_TO").target = child
    bevelled = box(scene, "Bevelled", (-1.5, 1.0, 0.4), (0.8, 0.8, 0.8))
    bevelled.modifiers.new("Bevel", "BEVEL").width = 0.1

    rig = _armature(scene, "Rig", (1.8, -1.2, 0.0))
    rider = box(scene, "BoneRider", (0, 0, 0), (0.2, 0.2, 0.2))
    rider.parent, rider.parent_type, rider.parent_bone = rig, "BONE", "Bone"
    skinned = box(scene, "Skinned", (1.8, -1.2, 0.5), (0.3, 0.3, 1.0))
    group = skinned.vertex_groups.new(name="Bone")
    group.add([v.index for v in skinned.data.vertices if v.co.z > 0], 1.0, "REPLACE")
    skinned.modifiers.new("Armature", "ARMATURE").object = rig

    blob = box(scene, "Blob", (0.2, 1.6, 0.5), (0.6, 0.6, 0.6))
    blob.shape_key_add(name="Basis")
    raised = blob.shape_key_add(name="Raised")
    for vertex in raised.data:
        vertex.co.z += 0.5 if vertex.co.z > 0 else 0.0
    raised.value = 0.0
    raised.keyframe_insert("value", frame=1001)
    raised.value = 1.0
    raised.keyframe_insert("value", frame=1004)
    twister = box(scene, "Twister", (-0.8, 2.2, 0.8), (0.4, 0.4, 1.6))
    twist = twister.modifiers.new("Twist", "SIMPLE_DEFORM")
    twist.deform_method, twist.angle = "TWIST", 0.0
    twist.keyframe_insert("angle", frame=1001)
    twist.angle = 1.2
    twist.keyframe_insert("angle", frame=1004)
    rising = box(scene, "Rising", (-2.0, -0.5, 0.3), (0.4, 0.4, 0.4))
    _time_offset_modifier(rising)
    sheet = mesh_object(scene, "Sheet", [(-0.4, -0.4, 1.5), (0.4, -0.4, 1.5), (0.4, 0.4, 1.5), (-0.4, 0.4, 1.5)], [(0, 1, 2, 3)], (-2.2, 1.5, 0))
    sheet.modifiers.new("Cloth", "CLOTH")

    props = bpy.data.collections.new("Props")  # only seen through the instances
    box(scene, "PropCrate", (0, 0, 0.2), (0.4, 0.4, 0.4), collection=props)
    shelf = link(scene, bpy.data.objects.new("Shelf", None))
    shelf.instance_type, shelf.instance_collection = "COLLECTION", props
    shelf.location = (-1.2, -1.8, 0)
    shelf.keyframe_insert("rotation_euler", frame=1001)
    shelf.rotation_euler = (0, 0, 1.0)
    shelf.keyframe_insert("rotation_euler", frame=1004)
    ride = bpy.data.collections.new("Ride")
    horse = box(scene, "Horse", (0.5, 0, 0.2), (0.3, 0.3, 0.3), collection=ride)
    horse.keyframe_insert("location", frame=1001)
    horse.location = (0.5, 0.6, 0.2)
    horse.keyframe_insert("location", frame=1004)
    carousel = link(scene, bpy.data.objects.new("Carousel", None))
    carousel.instance_type, carousel.instance_collection = "COLLECTION", ride
    carousel.location = (2.5, 1.5, 0)
    pebble = uv_sphere(scene, "Pebble", (0, 0, -50), radius=0.1, segments=6, rings=3)
    pebble.hide_render = True
    scatter = box(scene, "Scatter", (-2.5, 2.5, 0.1), (0.1, 0.1, 0.1))
    instance_on_points_modifier(scatter, pebble, grid_size=1.0, vertices=2)
    scatter.keyframe_insert("location", frame=1001)
    scatter.location = (-2.0, 2.5, 0.1)
    scatter.keyframe_insert("location", frame=1004)

    add_camera(scene, location=(6, -7, 5), target=(0, 0, 0.5), lens=24)
    rigid = {"Floor", "Spinner", "Child", "Follower", "Bevelled", "BoneRider", "Shelf", "Scatter"}
    deforming = {"Skinned", "Blob", "Twister", "Rising", "Sheet", "Carousel"}
    return rigid, deforming
