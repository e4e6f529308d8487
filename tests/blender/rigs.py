"""Small humanoid armatures the pose tests build from nothing, with the bone names of each naming scheme.

The character faces -Y with its left on +X (Blender's convention for rigs); heights in metres.
"""

from __future__ import annotations

import bpy

import scenes

# joint -> (head, tail, parent joint); right-side joints mirror the left ones in x.
_LEFT = {
    "thigh": ((0.1, 0.0, 0.95), (0.1, 0.0, 0.5), "hips"),
    "shin": ((0.1, 0.0, 0.5), (0.1, 0.0, 0.08), "thigh"),
    "foot": ((0.1, 0.0, 0.08), (0.1, -0.15, 0.0), "shin"),
    "upper_arm": ((0.2, 0.0, 1.45), (0.24, 0.0, 1.17), "chest"),
    "forearm": ((0.24, 0.0, 1.17), (0.27, -0.06, 0.92), "upper_arm"),
    "hand": ((0.27, -0.06, 0.92), (0.28, -0.08, 0.82), "forearm"),
    "eye": ((0.032, -0.1, 1.72), (0.032, -0.115, 1.72), "head"),
    "ear": ((0.075, -0.01, 1.7), (0.08, -0.01, 1.75), "head"),
}
_CENTRE = {
    "hips": ((0.0, 0.0, 0.95), (0.0, 0.0, 1.2), None),
    "chest": ((0.0, 0.0, 1.2), (0.0, 0.0, 1.5), "hips"),
    "neck": ((0.0, 0.0, 1.5), (0.0, 0.0, 1.6), "chest"),
    "head": ((0.0, 0.0, 1.6), (0.0, 0.0, 1.85), "neck"),
    "nose": ((0.0, -0.12, 1.68), (0.0, -0.14, 1.66), "head"),
    "head_top": ((0.0, 0.0, 1.85), (0.0, 0.0, 1.9), "head"),
}

RIGIFY = {
    "hips": "spine", "chest": "spine.003", "neck": "spine.004", "head": "spine.006", "nose": "nose.002",
    **{f"{joint}.{side}": f"{joint}.{side}" for joint in ("thigh", "shin", "foot", "upper_arm", "forearm", "hand", "eye", "ear") for side in "LR"},
}
MIXAMO = {
    "hips": "Hips", "chest": "Spine2", "neck": "Neck", "head": "Head", "head_top": "HeadTop_End",
    "eye.L": "LeftEye", "eye.R": "RightEye",
    **{f"{joint}.{side}": f"{'Left' if side == 'L' else 'Right'}{name}" for joint, name in
       (("thigh", "UpLeg"), ("shin", "Leg"), ("foot", "Foot"), ("upper_arm", "Arm"), ("forearm", "ForeArm"), ("hand", "Hand")) for side in "LR"},
}
# Names no scheme knows: only a custom mapping makes this rig a character.
ODD = {joint: f"bone_{index:02d}" for index, joint in enumerate(sorted(set(RIGIFY) | {"head_top"}))}

# Which joint each keypoint is, for a rig built here.
KEYPOINT_JOINTS = {
    "r_shoulder": "upper_arm.R", "r_elbow": "forearm.R", "r_wrist": "hand.R",
    "l_shoulder": "upper_arm.L", "l_elbow": "forearm.L", "l_wrist": "hand.L",
    "r_hip": "thigh.R", "r_knee": "shin.R", "r_ankle": "foot.R",
    "l_hip": "thigh.L", "l_knee": "shin.L", "l_ankle": "foot.L",
    "nose": "nose", "r_eye": "eye.R", "l_eye": "eye.L", "r_ear": "ear.R", "l_ear": "ear.L",
}


def _joints():
    joints = {name: spec for name, spec in _CENTRE.items()}
    for name, (head, tail, parent) in _LEFT.items():
        for side, sign in (("L", 1.0), ("R", -1.0)):
            mirror = lambda p: (sign * p[0], p[1], p[2])  # noqa: E731
            parent_name = parent if parent in _CENTRE else f"{parent}.{side}"
            joints[f"{name}.{side}"] = (mirror(head), mirror(tail), parent_name)
    return joints


def build_rig(scene, name, names: dict, joints_wanted=None, location=(0.0, 0.0, 0.0)):
    """An armature object with the given joint -> bone names (joints missing from `names` are left out)."""
    armature = scenes.link(scene, bpy.data.objects.new(name, bpy.data.armatures.new(name)))
    armature.location = location
    view_layer = bpy.context.view_layer
    view_layer.objects.active = armature
    bpy.ops.object.mode_set(mode="EDIT")
    edit_bones = armature.data.edit_bones
    joints = _joints()
    created = {}
    for joint, (head, tail, parent) in joints.items():
        if joint not in names or (joints_wanted and joint not in joints_wanted):
            continue
        bone = edit_bones.new(names[joint])
        bone.head, bone.tail = head, tail
        created[joint] = bone
    for joint, bone in created.items():
        parent = joints[joint][2]
        while parent is not None and parent not in created:
            parent = joints[parent][2]
        if parent is not None:
            bone.parent = created[parent]
    bpy.ops.object.mode_set(mode="OBJECT")
    return armature


def pose_bone(armature, names, joint):
    return armature.pose.bones[names[joint]]


def body_mesh(scene, armature, names, name="Body"):
    """A box around the whole skeleton, parented to the armature and deformed by it (every vertex follows
    the hips bone), as rigged characters are set up."""
    body = scenes.box(scene, name, (0.0, 0.0, 0.95), (0.7, 0.4, 1.95))
    body.parent = armature
    group = body.vertex_groups.new(name=names["hips"])
    group.add(list(range(len(body.data.vertices))), 1.0, "REPLACE")
    modifier = body.modifiers.new("Armature", "ARMATURE")
    modifier.object = armature
    return body
