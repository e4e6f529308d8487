"""Which bones are which keypoints, the custom mapping, and what the camera sees of the points."""

import json

import numpy as np
import pytest

from neural_previs.addon import pose_keypoints as pk

RIGIFY_LIMBS = ["upper_arm", "forearm", "hand", "thigh", "shin", "foot"]
MIXAMO_LIMBS = ["Arm", "ForeArm", "Hand", "UpLeg", "Leg", "Foot"]


def rigify_names(prefix="", head="spine.006"):
    return [f"{prefix}{b}.{s}" for b in RIGIFY_LIMBS for s in "LR"] + [prefix + head, prefix + "spine"]


def mixamo_names(prefix="mixamorig:"):
    return [f"{prefix}{s}{b}" for b in MIXAMO_LIMBS for s in ("Left", "Right")] + [prefix + "Head", prefix + "Hips", prefix + "HeadTop_End"]


@pytest.mark.parametrize("prefix", ["", "DEF-", "ORG-"])
def test_rigify_and_metarig_names(prefix):
    body = pk.recognised_body(rigify_names(prefix))
    assert body.scheme == "rigify" and body.head == prefix + "spine.006"
    assert body.bones["r_wrist"] == prefix + "hand.R" and body.bones["l_ankle"] == prefix + "foot.L"
    assert set(body.bones) == set(pk.LIMB_KEYPOINTS)


def test_generated_rigify_rig_prefers_the_org_bones():
    names = rigify_names("ORG-") + rigify_names("DEF-") + ["head", "eye.L", "ORG-eye.L", "ORG-eye.R", "ORG-nose.002", "ear.L"]
    body = pk.recognised_body(names)
    assert body.bones["l_shoulder"] == "ORG-upper_arm.L" and body.head == "ORG-spine.006"
    assert body.bones["l_eye"] == "ORG-eye.L" and body.bones["nose"] == "ORG-nose.002" and body.bones["l_ear"] == "ear.L"


def test_older_rigs_name_their_head_head():
    assert pk.recognised_body(rigify_names(head="head")).head == "head"


@pytest.mark.parametrize("prefix", ["mixamorig:", "mixamorig1:", "mixamorig12:", ""])
def test_mixamo_names(prefix):
    body = pk.recognised_body(mixamo_names(prefix) + [prefix + "LeftEye"])
    assert body.scheme == "mixamo" and body.head == prefix + "Head" and body.head_top == prefix + "HeadTop_End"
    assert body.bones["l_shoulder"] == prefix + "LeftArm" and body.bones["r_knee"] == prefix + "RightLeg"
    assert body.bones["l_eye"] == prefix + "LeftEye" and "r_eye" not in body.bones


@pytest.mark.parametrize("names", [rigify_names()[1:], mixamo_names()[1:], mixamo_names("other:"), ["Bone", "Bone.001"]])
def test_incomplete_or_unknown_rigs_are_not_bodies(names):
    assert pk.recognised_body(names) is None


def test_custom_mapping_overrides_entry_by_entry():
    names = rigify_names() + ["Wrist_Twist", "Skull"]
    custom = pk.parse_custom_map(json.dumps({"l_wrist": "Wrist_Twist", "head": "Skull"}), names, "Hero", "neural_previs_pose_map")
    body = pk.body_map(names, custom)
    assert body.scheme == "rigify+custom" and body.bones["l_wrist"] == "Wrist_Twist" and body.bones["r_wrist"] == "hand.R"
    assert body.head == "Skull"
    only = pk.body_map(["a", "b"], pk.parse_custom_map({"l_wrist": "a"}, ["a", "b"], "Hero", "p"))
    assert only.scheme == "custom" and only.bones == {"l_wrist": "a"} and only.head is None


@pytest.mark.parametrize(
    "value, fragment",
    [
        ("{not json", "is not valid JSON"),
        ("[1, 2]", "must map keypoint names to bone names"),
        ({"neck": "a"}, "has the key 'neck'; keys are nose, r_shoulder"),
        ({"l_wrist": "missing"}, "maps 'l_wrist' to 'missing', which is not a bone"),
        ({"l_wrist": 3}, "maps 'l_wrist' to 3"),
    ],
)
def test_bad_custom_mappings_say_what_to_fix(value, fragment):
    with pytest.raises(pk.PoseMapError) as caught:
        pk.parse_custom_map(value, ["a"], "Hero", "neural_previs_pose_map")
    message = str(caught.value)
    assert fragment in message and "Armature 'Hero'" in message and "neural_previs_pose_map" in message and "\n" not in message


def test_face_offsets_turn_with_the_head_bone():
    # A head bone pointing up (+Z) whose own x axis points forward (-Y): the face frame comes from the
    # shoulders, not from the bone's roll.
    rest = np.eye(4)
    rest[:3, :3] = np.column_stack([[0, -1, 0], [0, 0, 1], [-1, 0, 0]])
    rest[:3, 3] = [0, 0, 1.6]
    offsets = pk.face_offsets_in_head_space(rest, [0, 0, 1.85], [-0.2, 0, 1.45], [0.2, 0, 1.45])
    world = {k: (rest @ np.append(v, 1))[:3] for k, v in offsets.items()}
    up, forward, left = pk.FACE_OFFSETS["nose"]
    assert world["nose"] == pytest.approx([0, -0.25 * forward, 1.6 + 0.25 * up])
    assert world["l_ear"][0] == pytest.approx(0.25 * pk.FACE_OFFSETS["l_ear"][2]) and world["r_ear"][0] < 0


def test_projection_leaves_points_behind_the_camera_without_a_position():
    K = np.array([[100.0, 0, 50], [0, 100.0, 40], [0, 0, 1]])
    uv, z = pk.project(np.array([[0.0, 0.0, 2.0], [1.0, 0.0, -2.0], [np.nan] * 3]), K, np.eye(4))
    assert uv[0].tolist() == [50.0, 40.0] and z[0] == 2.0
    assert np.isnan(uv[1:]).all() and z[1] == -2.0


class DepthWithoutOwn:
    def __init__(self, depth):
        self.depth, self.calls = depth, 0

    def __call__(self, rows, cols):
        self.calls += 1
        return self.depth[rows, cols]


def test_visibility_rules():
    depth = np.full((4, 8), np.inf, np.float32)
    ids = np.zeros((4, 8), np.uint16)
    depth[0, 0], ids[0, 0] = 1.0, 5  # another object well in front of a point at depth 2
    depth[0, 1], ids[0, 1] = 1.99, 5  # another object within the tolerance of the point
    depth[0, 2], ids[0, 2] = 1.0, 7  # the character's own body in front; nothing else behind it
    depth[0, 3], ids[0, 3] = 1.0, 7  # own body in front of a wall that is in front of the point
    depth[0, 4], ids[0, 4] = 3.0, 5  # something behind the point
    without_own = np.full((4, 8), np.inf, np.float32)
    without_own[0, 3] = 1.5
    uv = np.array([[0.5, 0.5], [1.9, 0.2], [2.5, 0.5], [3.5, 0.99], [4.5, 0.5], [8.0, 0.5], [np.nan, np.nan], [5.5, -0.01]])
    z = np.array([2.0, 2.0, 2.0, 2.0, 2.0, 2.0, -1.0, 2.0])
    others = DepthWithoutOwn(without_own)
    visible = pk.visibility(uv, z, depth, ids, {7}, others)
    assert visible.tolist() == [False, True, True, False, True, False, False, False]
    assert others.calls == 1
    others = DepthWithoutOwn(without_own)
    pk.visibility(uv[[0, 1, 4]], z[[0, 1, 4]], depth, ids, {7}, others)
    assert others.calls == 0  # no own surface in front of a point: the frame's raster decides alone


def test_neck_is_the_midpoint_of_the_shoulders_and_seen_with_both():
    uv = np.arange(34, dtype=float).reshape(17, 2)
    seen = np.ones(17, bool)
    points = pk.skeleton_keypoints(uv, seen)
    assert points[1, :2].tolist() == [(uv[1, 0] + uv[4, 0]) / 2, (uv[1, 1] + uv[4, 1]) / 2] and points[1, 2] == 1
    seen[4] = False  # l_shoulder (17-row index 4: the neck is not among them)
    assert pk.skeleton_keypoints(uv, seen)[1, 2] == 0
    rows = pk.keypoints_json(pk.skeleton_keypoints(np.full((17, 2), np.nan), np.zeros(17, bool)))
    assert rows == [[None, None, False]] * 18
