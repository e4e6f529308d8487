"""Reprojection on a set solved in closed form (analytic_set.py): exact depth, ids and colours at every pixel centre,
and exactly which surface points another frame's camera sees. (tests/blender/test_reprojection.py checks it against
Cycles renders of a Blender scene.)"""

import numpy as np
import pytest

import analytic_set as sets
from engine.formats.bundle import read_bundle
from engine.generation.reprojection import FrameView, depth_edges, frame_view, reproject


@pytest.fixture(scope="module")
def shot():
    return sets.render_shot(4)


@pytest.fixture(scope="module")
def bundle(shot, tmp_path_factory):
    return read_bundle(sets.write_bundle(tmp_path_factory.mktemp("analytic") / "bundle", shot))


def carry(shot, bundle, source, target, **options):
    return reproject(shot[source].image, frame_view(bundle, source, **options), frame_view(bundle, target, **options))


def seen(shot, source, target):
    def to_source(object_id):
        if object_id == sets.PLATE:
            return shot[source].plate @ np.linalg.inv(shot[target].plate)
        return np.eye(4)

    return sets.seen_from(shot[source], shot[target].points, shot[target].ids, to_source)


@pytest.mark.parametrize("source, target", [(1, 3), (0, 3), (3, 0)])
def test_carried_colours_are_the_true_colours_and_only_where_seen(shot, bundle, source, target):
    result = carry(shot, bundle, source, target)
    truth = shot[target].image.astype(np.float32)
    assert result.valid_fraction > 0.4
    assert np.abs(result.image - truth)[result.valid].mean() < 1.0
    for object_id in (sets.GROUND, sets.PLATE):
        assert (result.valid & (shot[target].ids == object_id)).sum() > 0.4 * (shot[target].ids == object_id).sum()
    hidden = (shot[target].ids > 0) & ~seen(shot, source, target)
    assert hidden.sum() > 20  # ground under the plate, or outside the other picture
    assert not (result.valid & hidden).any()
    assert not (result.valid & (shot[target].ids == 0)).any()


def test_a_deforming_object_is_never_valid(shot, tmp_path):
    bundle = read_bundle(sets.write_bundle(tmp_path / "bundle", shot, rigid_plate=False))
    result = carry(shot, bundle, 0, 2)
    assert not (result.valid & (shot[2].ids == sets.PLATE)).any()
    assert (result.valid & (shot[2].ids == sets.GROUND)).any()


def test_without_motion_nothing_is_valid_unless_the_scene_is_declared_static(tmp_path):
    still = sets.render_shot(3, moving_plate=False)
    bundle = read_bundle(sets.write_bundle(tmp_path / "bundle", still, motion=False))
    assert bundle.motion is None
    assert not carry(still, bundle, 0, 2).valid.any()
    declared = carry(still, bundle, 0, 2, assume_static=True)
    assert declared.valid_fraction > 0.5
    assert np.abs(declared.image - still[2].image)[declared.valid].mean() < 1.0


def test_objects_are_matched_by_name_between_bundles(shot, bundle):
    source, target = frame_view(bundle, 0), frame_view(bundle, 2)
    # The target as another bundle would have it: the same objects under swapped ids.
    swap = np.array([0, sets.PLATE, sets.GROUND], dtype=np.uint16)
    renamed = FrameView(target.depth, swap[target.ids], target.K, target.world_to_camera, {swap[i]: pose for i, pose in target.objects.items()})
    original, across = reproject(shot[0].image, source, target), reproject(shot[0].image, source, renamed)
    assert np.array_equal(original.valid, across.valid) and np.array_equal(original.image, across.image)
    other = dict(source.objects)
    other[sets.PLATE] = type(other[sets.PLATE])(**{**vars(other[sets.PLATE]), "geometry": "sha256:an edited plate"})
    edited = reproject(shot[0].image, FrameView(source.depth, source.ids, source.K, source.world_to_camera, other), target)
    assert not (edited.valid & (target.ids == sets.PLATE)).any()


def test_depth_edges_are_object_borders_creases_and_jumps_not_planes():
    height, width = 20, 30
    v, u = np.mgrid[0:height, 0:width] + 0.5
    inverse = (0.02 * u + 0.01 * v + 0.2).astype(np.float32)  # a plane: 1/z is affine in the image
    ids = np.ones((height, width), np.uint16)
    assert not depth_edges(inverse, ids)[1:-1, 1:-1].any()
    jump = inverse.copy()
    jump[:, 15:] *= 0.5  # the same object, farther away from column 15 on
    assert depth_edges(jump, ids)[5, 14:16].all() and not depth_edges(jump, ids)[5, 3:12].any()
    crease = np.where(u < 15, inverse, inverse[:, 14:15] + 0.05 * (u - 14.5)).astype(np.float32)
    assert depth_edges(crease, ids)[5, 14:16].any()
    other = ids.copy()
    other[8:12, 8:12] = 2
    edges = depth_edges(inverse, other)
    # Both sides of an object border (8 neighbours), nothing inside either object.
    assert edges[7:13, 7:13].sum() == 36 - 4 and not edges[9:11, 9:11].any() and not edges[3, 3]


def test_rigid_objects_without_geometry_hash_are_followed_only_within_their_bundle(shot, bundle, tmp_path):
    unhashed = read_bundle(sets.write_bundle(tmp_path / "unhashed", shot, hashes=False))
    within = reproject(shot[0].image, frame_view(unhashed, 0), frame_view(unhashed, 3))
    assert np.array_equal(within.valid, carry(shot, bundle, 0, 3).valid)
    across = reproject(shot[0].image, frame_view(bundle, 0), frame_view(unhashed, 3))
    assert not across.valid.any()
