"""The 18 OpenPose body keypoints of a rig: which bones they are, where the face points sit, what the
camera sees of them. Pure maths and names: no bpy (addon/rig_pose.py reads the armatures).

Conventions (docs/bundle.md, "1.1: skeletons and pose images"):
- OpenPose order: nose, neck, r_shoulder, r_elbow, r_wrist, l_shoulder, l_elbow, l_wrist, r_hip, r_knee,
  r_ankle, l_hip, l_knee, l_ankle, r_eye, l_eye, r_ear, l_ear. "Right" is the character's right.
- Limb points are bone heads: shoulder = upper arm, elbow = forearm, wrist = hand, hip = thigh,
  knee = shin, ankle = foot.
- The neck is the midpoint of the two shoulders in the image, visible when both are: how the DWPose
  estimator behind VACE's pose annotator makes it (vace/annotators/dwpose/wholebody.py).
- Nose, eyes and ears: bones named for them when the rig has them, else fixed offsets in the head's
  frame scaled by the head's length, measured on Blender's human metarig.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import numpy as np

KEYPOINTS = (
    "nose", "neck", "r_shoulder", "r_elbow", "r_wrist", "l_shoulder", "l_elbow", "l_wrist", "r_hip", "r_knee",
    "r_ankle", "l_hip", "l_knee", "l_ankle", "r_eye", "l_eye", "r_ear", "l_ear",
)
LIMB_KEYPOINTS = KEYPOINTS[2:14]
FACE_KEYPOINTS = ("nose", "r_eye", "l_eye", "r_ear", "l_ear")
#: Keys of the custom mapping: every keypoint but the neck (always the shoulders' midpoint), plus the
#: head bone the face offsets hang from.
MAPPABLE = tuple(k for k in KEYPOINTS if k != "neck") + ("head",)

# A point is hidden when something else is nearer the camera than it by more than this share of its depth.
OCCLUSION_TOLERANCE = 0.01

# Face points in the head's frame, in units of the head's length (head bone head to top of the head):
# (up the head, forward, to the character's left). Measured on Blender's human metarig (Rigify
# metarigs/human.py: spine.006 is the head; nose.002's head the nose tip; eye.L, ear.L heads).
FACE_OFFSETS = {
    "nose": (0.321, 0.866, 0.0),
    "r_eye": (0.569, 0.485, -0.260),
    "l_eye": (0.569, 0.485, 0.260),
    "r_ear": (0.408, 0.031, -0.463),
    "l_ear": (0.408, 0.031, 0.463),
}

# Bone names per keypoint in the metarig / Rigify scheme (tried with the ORG-, DEF- and no prefix).
_RIGIFY = {
    "r_shoulder": "upper_arm.R", "r_elbow": "forearm.R", "r_wrist": "hand.R",
    "l_shoulder": "upper_arm.L", "l_elbow": "forearm.L", "l_wrist": "hand.L",
    "r_hip": "thigh.R", "r_knee": "shin.R", "r_ankle": "foot.R",
    "l_hip": "thigh.L", "l_knee": "shin.L", "l_ankle": "foot.L",
}
_RIGIFY_HEAD = ("spine.006", "head")  # today's metarig names its head spine.006; older rigs 'head'
_RIGIFY_FACE = {"nose": "nose.002", "r_eye": "eye.R", "l_eye": "eye.L", "r_ear": "ear.R", "l_ear": "ear.L"}
# Rigify's generated rigs keep the metarig's bones as ORG- (following the deformation) and DEF- copies;
# their unprefixed names are controls (eye.L is the eye target, in front of the face).
_RIGIFY_PREFIXES = ("ORG-", "DEF-", "")

_MIXAMO = {
    "r_shoulder": "RightArm", "r_elbow": "RightForeArm", "r_wrist": "RightHand",
    "l_shoulder": "LeftArm", "l_elbow": "LeftForeArm", "l_wrist": "LeftHand",
    "r_hip": "RightUpLeg", "r_knee": "RightLeg", "r_ankle": "RightFoot",
    "l_hip": "LeftUpLeg", "l_knee": "LeftLeg", "l_ankle": "LeftFoot",
}
_MIXAMO_FACE = {"r_eye": "RightEye", "l_eye": "LeftEye"}
_MIXAMO_PREFIX = re.compile(r"^(mixamorig\d*:)?$")


class PoseMapError(ValueError):
    """A custom keypoint mapping that cannot be used; the message is one line for the user."""


@dataclass(frozen=True)
class BodyMap:
    """Which bones a rig's keypoints come from."""

    scheme: str
    """'rigify', 'mixamo', 'custom', or 'rigify+custom' / 'mixamo+custom'."""
    bones: dict
    """keypoint -> bone whose head is that point (limb points, and face points the rig has bones for)."""
    head: str | None
    """The head bone the remaining face points are placed from (None: those points are missing)."""
    head_top: str | None = None
    """A bone at the top of the head (Mixamo's HeadTop_End) giving the head's length and up direction."""


def _rigify_map(bone_names: set[str]) -> BodyMap | None:
    def find(name):
        return next((p + name for p in _RIGIFY_PREFIXES if p + name in bone_names), None)

    bones = {key: find(name) for key, name in _RIGIFY.items()}
    head = next((b for b in map(find, _RIGIFY_HEAD) if b), None)
    if None in bones.values() or head is None:
        return None
    bones.update({key: find(name) for key, name in _RIGIFY_FACE.items() if find(name)})
    return BodyMap("rigify", bones, head)


def _mixamo_map(bone_names: set[str]) -> BodyMap | None:
    prefixes = sorted({n[: -len("LeftArm")] for n in bone_names if n.endswith("LeftArm")})
    for prefix in prefixes:
        if not _MIXAMO_PREFIX.match(prefix):
            continue
        bones = {key: prefix + name for key, name in _MIXAMO.items()}
        head = prefix + "Head"
        if all(b in bone_names for b in bones.values()) and head in bone_names:
            bones.update({key: prefix + name for key, name in _MIXAMO_FACE.items() if prefix + name in bone_names})
            top = prefix + "HeadTop_End"
            return BodyMap("mixamo", bones, head, top if top in bone_names else None)
    return None


def recognised_body(bone_names) -> BodyMap | None:
    """The body of a rig with metarig/Rigify or Mixamo bone names, else None."""
    names = set(bone_names)
    return _rigify_map(names) or _mixamo_map(names)


def parse_custom_map(value, bone_names, armature: str, property_name: str) -> dict:
    """The user's keypoint -> bone mapping (a dict, or a JSON object in a string), checked against the rig."""
    where = f"Armature '{armature}': the custom property {property_name}"
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as error:
            raise PoseMapError(f"{where} is not valid JSON ({error.msg}); write it as {{\"l_wrist\": \"hand.L\", ...}}") from None
    if not isinstance(value, dict):
        raise PoseMapError(f"{where} must map keypoint names to bone names, like {{\"l_wrist\": \"hand.L\"}}")
    names = set(bone_names)
    mapping = {}
    for key, bone in value.items():
        if key not in MAPPABLE:
            raise PoseMapError(f"{where} has the key '{key}'; keys are {', '.join(MAPPABLE)}")
        if not isinstance(bone, str) or bone not in names:
            raise PoseMapError(f"{where} maps '{key}' to {bone!r}, which is not a bone of this armature; name one of its bones")
        mapping[key] = bone
    return mapping


def body_map(bone_names, custom: dict | None) -> BodyMap | None:
    """The recognised scheme, with the user's mapping (if any) taking precedence entry by entry."""
    found = recognised_body(bone_names)
    if not custom:
        return found
    bones = dict(found.bones) if found else {}
    bones.update({k: b for k, b in custom.items() if k != "head"})
    head = custom.get("head", found.head if found else None)
    top = found.head_top if found and head == found.head else None
    scheme = f"{found.scheme}+custom" if found else "custom"
    return BodyMap(scheme, bones, head, top)


def face_offsets_in_head_space(head_rest: np.ndarray, top_rest: np.ndarray, r_shoulder_rest, l_shoulder_rest) -> dict:
    """Offsets (in the head bone's own coordinates) of the face points, from the rig's rest pose.

    `head_rest`: the head bone's 4x4 rest matrix in armature space (Bone.matrix_local); `top_rest`: the top
    of the head in armature space (the bone's tail, or Mixamo's HeadTop_End). The head's frame: up = head
    to top; left = from the right to the left shoulder (when both are mapped; else the bone's x axis), made
    square to up; forward = left x up. Written in bone coordinates, the points turn with the posed head.
    """
    head_rest = np.asarray(head_rest, dtype=np.float64)
    origin = head_rest[:3, 3]
    up = np.asarray(top_rest, dtype=np.float64) - origin
    length = float(np.linalg.norm(up))
    if length < 1e-9:
        return {}
    up /= length
    if r_shoulder_rest is not None and l_shoulder_rest is not None:
        left = np.asarray(l_shoulder_rest, dtype=np.float64) - np.asarray(r_shoulder_rest, dtype=np.float64)
    else:
        left = head_rest[:3, 0].copy()
    left -= up * float(left @ up)
    if np.linalg.norm(left) < 1e-9:
        left = head_rest[:3, 0] - up * float(head_rest[:3, 0] @ up)
    left /= np.linalg.norm(left)
    forward = np.cross(left, up)
    to_bone = np.linalg.inv(head_rest)
    offsets = {}
    for key, (a, b, c) in FACE_OFFSETS.items():
        point = origin + length * (a * up + b * forward + c * left)
        offsets[key] = (to_bone @ np.append(point, 1.0))[:3]
    return offsets


def project(points_world: np.ndarray, K: np.ndarray, world_to_cam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pixel positions (N, 2) and planar depths (N,) of world points; NaN rows stay NaN, and so do the
    positions of points at or behind the camera plane (depth <= 0)."""
    points = np.asarray(points_world, dtype=np.float64).reshape(-1, 3)
    camera = points @ world_to_cam[:3, :3].T + world_to_cam[:3, 3]
    z = camera[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        uv = (camera @ K.T)[:, :2] / z[:, None]
    uv[~(z > 0)] = np.nan
    return uv, z


def visibility(uv, z, depth, ids, own_ids, depth_without_own, tolerance: float = OCCLUSION_TOLERANCE) -> np.ndarray:
    """Which points the camera sees: inside the frame, in front of the camera, and not hidden by anything
    but the character's own geometry by more than `tolerance` of their depth.

    Each point is tested at the pixel that contains it against the frame's depth and ids. Where the
    character's own surface is nearest there (joints sit inside the body), what lies behind it is not in
    that raster: `depth_without_own(rows, cols)` gives the depth at those pixels of the frame drawn without
    the character's geometry, and is called only then.
    """
    height, width = depth.shape
    uv = np.asarray(uv, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        visible = (z > 0) & (uv[:, 0] >= 0) & (uv[:, 0] < width) & (uv[:, 1] >= 0) & (uv[:, 1] < height)
    index = np.flatnonzero(visible)
    if index.size == 0:
        return visible
    cols = np.floor(uv[index, 0]).astype(np.int64)
    rows = np.floor(uv[index, 1]).astype(np.int64)
    limit = z[index] * (1.0 - tolerance)
    nearest = depth[rows, cols].astype(np.float64)
    own_in_front = np.isin(ids[rows, cols], list(own_ids)) & (nearest < limit)
    if own_in_front.any():
        others = np.asarray(depth_without_own(rows[own_in_front], cols[own_in_front]), dtype=np.float64)
        nearest[own_in_front] = others
    visible[index] = ~(nearest < limit)
    return visible


def skeleton_keypoints(uv: np.ndarray, visible: np.ndarray) -> np.ndarray:
    """(18, 3) of (u, v, visible) in OpenPose order, the neck made from the shoulders; missing positions NaN.

    `uv` and `visible` hold every keypoint but the neck, in OpenPose order (17 rows)."""
    keypoints = np.full((len(KEYPOINTS), 3), np.nan)
    others = [i for i, k in enumerate(KEYPOINTS) if k != "neck"]
    keypoints[others, :2] = uv
    keypoints[others, 2] = visible
    r, l = KEYPOINTS.index("r_shoulder"), KEYPOINTS.index("l_shoulder")
    neck = KEYPOINTS.index("neck")
    keypoints[neck, :2] = (keypoints[r, :2] + keypoints[l, :2]) / 2.0
    keypoints[neck, 2] = float(keypoints[r, 2] == 1 and keypoints[l, 2] == 1)
    return keypoints


def keypoints_json(keypoints: np.ndarray) -> list:
    """[[u, v, visible], ...] for shot.json: null positions where a point is missing or behind the camera."""
    rows = []
    for u, v, seen in np.asarray(keypoints, dtype=np.float64):
        if np.isfinite(u) and np.isfinite(v):
            rows.append([float(u), float(v), bool(seen == 1)])
        else:
            rows.append([None, None, False])
    return rows
