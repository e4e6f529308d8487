"""Skeletons in the bundle are the rig's own bones, as Blender projects them, hidden only by other geometry."""

import json

import bpy
import numpy as np
import pytest
from bpy_extras.object_utils import world_to_camera_view
from mathutils import Vector
from PIL import Image

import oracle
import rigs
import scenes
from bundle_io import read_mask, read_shot

KEYPOINTS = (
    "nose", "neck", "r_shoulder", "r_elbow", "r_wrist", "l_shoulder", "l_elbow", "l_wrist", "r_hip", "r_knee",
    "r_ankle", "l_hip", "l_knee", "l_ankle", "r_eye", "l_eye", "r_ear", "l_ear",
)
LIMBS = KEYPOINTS[2:14]


def render(tmp_path, name="bundle"):
    directory = tmp_path / name
    assert bpy.ops.neural_previs.render_conditioning(directory=str(directory)) == {"FINISHED"}
    return directory, read_shot(directory)


def blender_projection(scene, camera, point):
    """Pixel position (OpenCV, centres at +0.5) and depth of a world point, by Blender's own projection."""
    ndc = world_to_camera_view(scene, camera, Vector(point))
    return np.array([ndc.x * scene.render.resolution_x, (1.0 - ndc.y) * scene.render.resolution_y]), ndc.z


def bone_head(armature, bone):
    return np.array(armature.matrix_world @ armature.pose.bones[bone].head)


def skeleton_of(record, name):
    (skeleton,) = [s for s in record["skeletons"] if s["object"] == name]
    return dict(zip(KEYPOINTS, skeleton["keypoints"]))


def assert_point(actual, expected_uv, expected_visible, where):
    u, v, visible = actual
    assert (u, v) == pytest.approx(tuple(expected_uv), abs=1e-3), where
    assert visible == expected_visible, where


@pytest.fixture
def animated_shot(empty_scene):
    """A metarig-named character walking and waving, its head turned by a constraint, a camera that pans
    until the character's right side leaves the frame; frames 1001..1004."""
    scene = empty_scene
    scene.render.resolution_x, scene.render.resolution_y = 64, 48
    scene.frame_start, scene.frame_end = 1001, 1004
    scenes.floor(scene)
    names = rigs.RIGIFY
    hero = rigs.build_rig(scene, "Hero", names)
    rigs.body_mesh(scene, hero, names)
    for frame, x in ((1001, -0.3), (1004, 0.4)):
        hero.location = (x, 0.0, 0.0)
        hero.keyframe_insert("location", frame=frame)
    arm = rigs.pose_bone(hero, names, "upper_arm.L")
    arm.rotation_mode = "XYZ"
    for frame, angle in ((1001, 0.0), (1004, -1.2)):
        arm.rotation_euler = (angle, 0.0, 0.4 * angle)
        arm.keyframe_insert("rotation_euler", frame=frame)
    knee = rigs.pose_bone(hero, names, "shin.R")
    knee.rotation_mode = "XYZ"
    for frame, angle in ((1001, 0.0), (1004, 0.9)):
        knee.rotation_euler = (angle, 0.0, 0.0)
        knee.keyframe_insert("rotation_euler", frame=frame)
    target = scenes.link(scene, bpy.data.objects.new("LookAt", None))
    for frame, location in ((1001, (-1.5, -2.0, 1.7)), (1004, (1.5, -2.0, 2.0))):
        target.location = location
        target.keyframe_insert("location", frame=frame)
    track = rigs.pose_bone(hero, names, "head").constraints.new("DAMPED_TRACK")
    track.target, track.track_axis = target, "TRACK_Y"
    camera = scenes.add_camera(scene, location=(0.0, -4.5, 1.1), target=(0.0, 0.0, 1.0), lens=35)
    for frame, (x, yaw) in ((1001, (0.0, 0.0)), (1004, (0.5, -0.42))):
        camera.location.x = x
        camera.rotation_euler.z = yaw
        camera.keyframe_insert("location", frame=frame)
        camera.keyframe_insert("rotation_euler", frame=frame)
    return scene, hero, camera, names


def test_keypoints_are_the_projected_bone_heads(animated_shot, tmp_path):
    scene, hero, camera, names = animated_shot
    bundle, shot = render(tmp_path)
    assert shot["schema"] == "neural_previs.bundle/1.1"
    assert [f["frame"] for f in shot["frames"]] == [1001, 1002, 1003, 1004]
    width, height = shot["width"], shot["height"]
    left_frame = False
    for record in shot["frames"]:
        scene.frame_set(record["frame"])
        skeleton = skeleton_of(record, "Hero")
        for key, joint in rigs.KEYPOINT_JOINTS.items():
            uv, z = blender_projection(scene, camera, bone_head(hero, names[joint]))
            inside = z > 0 and 0 <= uv[0] < width and 0 <= uv[1] < height
            left_frame |= not inside
            # The body box encloses every joint: the character's own mesh hides none of them.
            assert_point(skeleton[key], uv, inside, f"frame {record['frame']} {key}")
        r, l = np.array(skeleton["r_shoulder"][:2]), np.array(skeleton["l_shoulder"][:2])
        assert skeleton["neck"][:2] == pytest.approx(list((r + l) / 2))
        assert skeleton["neck"][2] == (skeleton["r_shoulder"][2] and skeleton["l_shoulder"][2])
    assert left_frame, "the camera should pan part of the character out of the frame"
    for record in shot["frames"]:
        assert record["pose"] == f"pose/{record['frame']:06d}.png"
        with Image.open(bundle / record["pose"]) as image:
            assert image.mode == "RGB" and image.size == (width, height)
            assert np.asarray(image).any() == any(seen for _, _, seen in record["skeletons"][0]["keypoints"])


def test_pose_images_are_the_skeletons_drawn(animated_shot, tmp_path):
    from bl_ext.user_default.neural_previs.addon.pose_drawing import render_pose_image

    bundle, shot = render(tmp_path)
    for record in shot["frames"]:
        keypoints = np.array([[[np.nan if u is None else u, np.nan if v is None else v, seen] for u, v, seen in s["keypoints"]] for s in record["skeletons"]], dtype=float)
        with Image.open(bundle / record["pose"]) as image:
            assert np.array_equal(np.asarray(image), render_pose_image(keypoints, shot["width"], shot["height"]))


def head_frame_point(armature, head_bone, top, key):
    """A face point from the documented offsets, built here from the rest pose and the posed head matrix."""
    offsets = {"nose": (0.321, 0.866, 0.0), "r_ear": (0.408, 0.031, -0.463), "l_ear": (0.408, 0.031, 0.463)}
    bones = armature.data.bones
    origin = np.array(bones[head_bone].head_local)
    up = np.array(top) - origin
    length = np.linalg.norm(up)
    up /= length
    left = np.array(bones["mixamorig1:LeftArm"].head_local) - np.array(bones["mixamorig1:RightArm"].head_local)
    left -= up * (left @ up)
    left /= np.linalg.norm(left)
    forward = np.cross(left, up)
    a, b, c = offsets[key]
    rest_point = origin + length * (a * up + b * forward + c * left)
    # rest armature space -> posed armature space -> world
    posed = np.array(armature.pose.bones[head_bone].matrix) @ np.linalg.inv(np.array(bones[head_bone].matrix_local))
    return (np.array(armature.matrix_world) @ posed @ np.append(rest_point, 1.0))[:3]


def test_mixamo_names_with_face_points_from_the_head(empty_scene, tmp_path):
    scene = empty_scene
    scene.render.resolution_x, scene.render.resolution_y = 48, 64
    scene.frame_start, scene.frame_end = 1001, 1002
    scenes.floor(scene)
    names = {joint: f"mixamorig1:{bone}" for joint, bone in rigs.MIXAMO.items()}
    hero = rigs.build_rig(scene, "Mixer", names)
    hero.rotation_euler.z = 0.3
    rigs.body_mesh(scene, hero, names)
    head = rigs.pose_bone(hero, names, "head")
    head.rotation_mode = "XYZ"
    for frame, angle in ((1001, 0.0), (1002, 0.7)):
        head.rotation_euler = (0.2 * angle, 0.0, angle)
        head.keyframe_insert("rotation_euler", frame=frame)
    camera = scenes.add_camera(scene, location=(0.8, -3.5, 1.2), target=(0.0, 0.0, 1.0), lens=35)
    _, shot = render(tmp_path)
    for record in shot["frames"]:
        scene.frame_set(record["frame"])
        skeleton = skeleton_of(record, "Mixer")
        for key in LIMBS + ("r_eye", "l_eye"):
            uv, _ = blender_projection(scene, camera, bone_head(hero, names[rigs.KEYPOINT_JOINTS[key]]))
            assert_point(skeleton[key], uv, True, f"frame {record['frame']} {key}")
        top = hero.data.bones[names["head_top"]].head_local
        for key in ("nose", "r_ear", "l_ear"):
            uv, _ = blender_projection(scene, camera, head_frame_point(hero, names["head"], top, key))
            assert_point(skeleton[key], uv, True, f"frame {record['frame']} {key}")


@pytest.mark.parametrize("holder, as_json", [("object", True), ("data", False)])
def test_a_custom_mapping_makes_any_rig_a_character(empty_scene, tmp_path, holder, as_json):
    scene = empty_scene
    scene.render.resolution_x, scene.render.resolution_y = 48, 48
    scene.frame_start = scene.frame_end = 1001
    scenes.floor(scene)
    names = rigs.ODD
    odd = rigs.build_rig(scene, "Puppet", names)
    camera = scenes.add_camera(scene, location=(0.0, -4.0, 1.0), target=(0.0, 0.0, 1.0), lens=35)
    _, shot = render(tmp_path, "unmapped")
    assert shot["frames"][0]["skeletons"] == [] and "pose" not in shot["frames"][0]
    mapping = {key: names[joint] for key, joint in rigs.KEYPOINT_JOINTS.items() if key not in ("nose",)}
    mapping["head"] = names["head"]
    target = odd if holder == "object" else odd.data
    target["neural_previs_pose_map"] = json.dumps(mapping) if as_json else mapping
    bundle, shot = render(tmp_path, "mapped")
    (record,) = shot["frames"]
    skeleton = skeleton_of(record, "Puppet")
    scene.frame_set(1001)
    for key, bone in mapping.items():
        if key != "head":
            uv, _ = blender_projection(scene, camera, bone_head(odd, bone))
            assert_point(skeleton[key], uv, True, key)
    nose_uv = np.array(skeleton["nose"][:2])
    head_uv, _ = blender_projection(scene, camera, bone_head(odd, names["head"]))
    assert skeleton["nose"][2] and nose_uv[1] < head_uv[1]  # from the head's offsets: above the head bone's base
    assert (bundle / record["pose"]).is_file()


def test_a_mapping_to_a_missing_bone_is_refused_before_rendering(empty_scene, tmp_path):
    scene = empty_scene
    scene.render.resolution_x, scene.render.resolution_y = 32, 32
    scene.frame_start = scene.frame_end = 1
    scenes.floor(scene)
    puppet = rigs.build_rig(scene, "Puppet", rigs.ODD)
    puppet["neural_previs_pose_map"] = '{"l_wrist": "no_such_bone"}'
    scenes.add_camera(scene, location=(0.0, -4.0, 1.0), target=(0.0, 0.0, 1.0))
    with pytest.raises(RuntimeError) as caught:
        bpy.ops.neural_previs.render_conditioning(directory=str(tmp_path / "b"))
    message = str(caught.value)
    assert "Armature 'Puppet'" in message and "neural_previs_pose_map" in message and "no_such_bone" in message
    assert not (tmp_path / "b").exists()


def test_points_behind_a_wall_are_hidden_and_the_character_never_hides_itself(empty_scene, tmp_path):
    """A low wall in front of the legs; a shield the character carries (its own, parented to it) in front
    of the wall over the right knee: there the nearest surface is the character's own, and the wall behind
    it still hides the knee. The body box around every joint hides nothing."""
    scene = empty_scene
    scene.render.resolution_x, scene.render.resolution_y = 96, 72
    scene.frame_start, scene.frame_end = 1001, 1002
    scenes.floor(scene)
    names = rigs.RIGIFY
    hero = rigs.build_rig(scene, "Hero", names)
    body = rigs.body_mesh(scene, hero, names)
    shield = scenes.box(scene, "Shield", (-0.11, -0.9, 0.6), (0.2, 0.02, 0.2))
    shield.parent = hero
    scenes.box(scene, "Wall", (0.0, -0.6, 0.35), (2.0, 0.1, 0.7))
    scenes.box(scene, "BackWall", (0.0, 1.5, 1.5), (6.0, 0.1, 3.0))
    for frame, x in ((1001, 0.0), (1002, 0.05)):
        hero.location.x = x
        hero.keyframe_insert("location", frame=frame)
    camera = scenes.add_camera(scene, location=(0.0, -5.0, 1.0), target=(0.0, 0.0, 0.9), lens=30)
    bundle, shot = render(tmp_path)
    owner_ids = {o["name"]: o["id"] for o in shot["objects"]}
    others = set(owner_ids) - {body.name, shield.name}
    for record in shot["frames"]:
        scene.frame_set(record["frame"])
        skeleton = skeleton_of(record, "Hero")
        assert [k for k in LIMBS if not skeleton[k][2]] == ["r_knee", "r_ankle", "l_knee", "l_ankle"]
        # The hard case is there: the right knee's pixel shows the shield, the left knee's the wall.
        ids = read_mask(bundle / record["mask"])
        pixel = lambda key: ids[int(skeleton[key][1]), int(skeleton[key][0])]  # noqa: E731
        assert pixel("r_knee") == owner_ids["Shield"] and pixel("l_knee") == owner_ids["Wall"]
        assert pixel("r_shoulder") == owner_ids["Body"]
        (entry,) = record["skeletons"]
        assert entry["ids"] == sorted([owner_ids["Body"], owner_ids["Shield"]])
        assert all(skeleton[k][2] for k in ("nose", "neck", "r_eye", "l_eye", "r_ear", "l_ear"))
        # Independently: a ray from the camera to each point through everything but the character's own meshes.
        triangles, _ = oracle.world_triangles(oracle.evaluated_depsgraph(), others)
        origin = np.array(camera.matrix_world.translation)
        for key in LIMBS:
            point = bone_head(hero, names[rigs.KEYPOINT_JOINTS[key]])
            hit = ray_hits_before(triangles, origin, point)
            assert skeleton[key][2] == (not hit), f"frame {record['frame']} {key}"


def ray_hits_before(triangles, origin, point, tolerance=0.01):
    import trimesh

    mesh = trimesh.Trimesh(vertices=triangles.reshape(-1, 3), faces=np.arange(len(triangles) * 3).reshape(-1, 3), process=False)
    direction = point - origin
    distance = np.linalg.norm(direction)
    locations, _, _ = trimesh.ray.ray_pyembree.RayMeshIntersector(mesh).intersects_location([origin], [direction / distance], multiple_hits=True)
    return bool(len(locations)) and bool((np.linalg.norm(locations - origin, axis=1) < distance * (1 - tolerance)).any())
