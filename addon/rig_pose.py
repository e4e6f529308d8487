"""Characters' poses from their rigs: per frame, the 18 OpenPose keypoints of every armature with a
recognised body, taken from the evaluated pose (actions, drivers, constraints and parenting evaluated).

A *character* is an armature object of the scene whose bones are recognised (addon/pose_keypoints.py:
metarig/Rigify or Mixamo names) or mapped by the user with the custom property `neural_previs_pose_map`
on the armature. Its *own* geometry is every object of the shot that its armature deforms (an Armature
modifier pointing at it) or that is parented to it, at any depth: that geometry never hides its points.
"""

from __future__ import annotations

from dataclasses import dataclass

import bpy
import numpy as np

from . import pose_keypoints
from .pose_keypoints import KEYPOINTS, BodyMap
from .scene_geometry import FrameGeometry, _hidden_in_render, _render_hidden_collections

CUSTOM_MAP_PROPERTY = "neural_previs_pose_map"


@dataclass
class Character:
    """One rig whose pose the bundle records."""

    armature: bpy.types.Object
    body: BodyMap
    face_offsets: dict
    """face keypoint -> offset in the head bone's coordinates, for face points without a bone of their own."""
    own: frozenset
    """Full names of the shot's objects that are the character's own geometry."""

    @property
    def name(self) -> str:
        return self.armature.name_full


def _custom_map(armature: bpy.types.Object) -> dict | None:
    for holder in (armature, armature.data):
        if CUSTOM_MAP_PROPERTY in holder.keys():
            value = holder[CUSTOM_MAP_PROPERTY]
            if hasattr(value, "to_dict"):
                value = value.to_dict()
            return pose_keypoints.parse_custom_map(value, armature.data.bones.keys(), armature.name_full, CUSTOM_MAP_PROPERTY)
    return None


def _is_own(obj: bpy.types.Object, armature: bpy.types.Object) -> bool:
    if any(m.type == "ARMATURE" and m.object == armature for m in getattr(obj, "modifiers", ())):
        return True
    parent = obj.parent
    while parent is not None:
        if parent == armature:
            return True
        parent = parent.parent
    return False


def _face_offsets(armature: bpy.types.Object, body: BodyMap) -> dict:
    if body.head is None:
        return {}
    bones = armature.data.bones
    head = bones[body.head]
    top = bones[body.head_top].head_local if body.head_top else head.tail_local
    shoulders = [bones[body.bones[k]].head_local if k in body.bones else None for k in ("r_shoulder", "l_shoulder")]
    offsets = pose_keypoints.face_offsets_in_head_space(np.array(head.matrix_local), np.array(top), *shoulders)
    return {k: v for k, v in offsets.items() if k not in body.bones}


def shot_characters(scene: bpy.types.Scene, owners) -> list[Character]:
    """The scene's characters, sorted by name. An armature hidden from render counts when some of its own
    geometry is in the shot (rigs often live in a collection that does not render). Raises PoseMapError."""
    hidden_collections = _render_hidden_collections(scene)
    owner_objects = [scene.objects[name] for name in owners]
    characters = []
    for armature in sorted((o for o in scene.objects if o.type == "ARMATURE"), key=lambda o: o.name_full):
        body = pose_keypoints.body_map(armature.data.bones.keys(), _custom_map(armature))
        if body is None:
            continue
        own = frozenset(o.name_full for o in owner_objects if _is_own(o, armature))
        if _hidden_in_render(armature, hidden_collections) and not own:
            continue
        characters.append(Character(armature, body, _face_offsets(armature, body), own))
    return characters


def _world_keypoints(character: Character, armature_eval: bpy.types.Object) -> np.ndarray:
    """(17, 3) world positions of every keypoint but the neck, OpenPose order; NaN where the rig has none."""
    to_world = np.array(armature_eval.matrix_world)
    pose_bones = armature_eval.pose.bones
    points = []
    head_matrix = to_world @ np.array(pose_bones[character.body.head].matrix) if character.body.head else None
    for key in KEYPOINTS:
        if key == "neck":
            continue
        if key in character.body.bones:
            points.append((to_world @ np.append(np.array(pose_bones[character.body.bones[key]].head), 1.0))[:3])
        elif key in character.face_offsets and head_matrix is not None:
            points.append((head_matrix @ np.append(character.face_offsets[key], 1.0))[:3])
        else:
            points.append(np.full(3, np.nan))
    return np.array(points)


def _without(geometry: FrameGeometry, excluded: frozenset) -> FrameGeometry:
    return FrameGeometry(geometry.meshes, [instance for instance in geometry.instances if instance[1] not in excluded])


def frame_skeletons(characters, depsgraph, K, world_to_cam, depth, ids, owner_ids, geometry: FrameGeometry, render_depth) -> np.ndarray:
    """(characters, 18, 3) keypoints (u, v, visible) of one frame, in the order of `characters`.

    `render_depth(geometry, region)` rasterises a FrameGeometry with this frame's camera, only the pixels of
    `region` (col0, row0, col1, row1), and returns its depth; it is called for a character only when its own
    surface lies in front of one of its points, over the box of those points' pixels.
    """
    skeletons = np.zeros((len(characters), len(KEYPOINTS), 3))
    for index, character in enumerate(characters):
        armature_eval = character.armature.evaluated_get(depsgraph)
        uv, z = pose_keypoints.project(_world_keypoints(character, armature_eval), K, world_to_cam)
        own_ids = {owner_ids[name] for name in character.own}
        def depth_without_own(rows, cols, own=character.own):
            region = (int(cols.min()), int(rows.min()), int(cols.max()), int(rows.max()))
            return render_depth(_without(geometry, own), region)[rows, cols]

        visible = pose_keypoints.visibility(uv, z, depth, ids, own_ids, depth_without_own)
        skeletons[index] = pose_keypoints.skeleton_keypoints(uv, visible)
    return skeletons


def skeleton_records(characters, skeletons: np.ndarray, owner_ids: dict) -> list[dict]:
    """shot.json's per-frame "skeletons": the armature, the mask ids of its own geometry, its keypoints."""
    return [
        {"object": c.name, "ids": sorted(owner_ids[name] for name in c.own), "keypoints": pose_keypoints.keypoints_json(k)}
        for c, k in zip(characters, skeletons)
    ]
