"""Reprojection against an oracle: Cycles renders of a set with view-independent colours, a rigidly moving box, a
deforming box and a moving camera. Frame a's render carried into frame b must be frame b's render wherever it is
valid, and never valid where frame a's camera did not see the surface (Blender's own ray casts) or on the deforming
box."""

import numpy as np
import pytest
from PIL import Image

from demo import textured_set
from engine.formats.bundle import read_bundle
from engine.generation.reprojection import FrameView, ObjectPose, frame_view, reproject
from rendered_set import ORACLE_PAIRS


def image(path):
    return np.asarray(Image.open(path).convert("RGB"))


@pytest.fixture(scope="module")
def bundle(textured_renders):
    return read_bundle(textured_renders.bundle)


def view_of(bundle, frame):
    return frame_view(bundle, bundle.frame_numbers.index(frame))


def error(warped, truth):
    return np.abs(warped - truth.astype(np.float32)).mean(axis=2)


@pytest.mark.parametrize("source, target", ORACLE_PAIRS)
def test_the_carried_render_is_the_true_render_where_valid(textured_renders, bundle, source, target):
    result = reproject(image(textured_renders.frames[source]), view_of(bundle, source), view_of(bundle, target))
    truth = image(textured_renders.frames[target])
    valid = result.valid
    assert valid.mean() > 0.35
    assert error(result.image, truth)[valid].mean() <= 2.0
    names = textured_renders.names[target]
    for name in ("Floor", "Wall", "Pillar", textured_set.RIGID_MOVER):
        on = names == name
        assert (valid & on).sum() >= 0.15 * on.sum() > 0, name
        assert error(result.image, truth)[valid & on].mean() <= 2.0, name


@pytest.mark.parametrize("source, target", ORACLE_PAIRS)
def test_never_valid_where_the_source_camera_did_not_see(textured_renders, bundle, source, target):
    result = reproject(image(textured_renders.frames[source]), view_of(bundle, source), view_of(bundle, target))
    names = textured_renders.names[target]
    hidden = (names != "") & (names != textured_set.DEFORMING) & ~textured_renders.seen[(source, target)]
    assert hidden.sum() >= 30  # behind the pillar and the boxes, or outside frame a's picture
    assert not (result.valid & hidden).any()
    deforming = names == textured_set.DEFORMING
    assert deforming.sum() >= 30
    assert not (result.valid & deforming).any()
    assert not (result.valid & (names == "")).any()


def test_the_moving_box_is_followed_with_its_motion(textured_renders, bundle):
    source, target = ORACLE_PAIRS[0]
    source_view, target_view = view_of(bundle, source), view_of(bundle, target)
    mover = next(o.id for o in bundle.objects if o.name == textured_set.RIGID_MOVER)
    # The same frames with the box's motion forgotten, as if it stood still: its pixels no longer line up.
    poses = dict(source_view.objects)
    poses[mover] = ObjectPose(**{**vars(poses[mover]), "object_to_world": target_view.objects[mover].object_to_world})
    forgotten = FrameView(source_view.depth, source_view.ids, source_view.K, source_view.world_to_camera, poses)
    on = textured_renders.names[target] == textured_set.RIGID_MOVER
    followed = reproject(image(textured_renders.frames[source]), source_view, target_view)
    still = reproject(image(textured_renders.frames[source]), forgotten, target_view)
    assert (followed.valid & on).sum() > 3 * (still.valid & on).sum()


def test_into_another_bundle_of_the_same_scene(textured_renders, bundle):
    """Objects are matched by name between bundles (their ids differ here), rigid ones only with equal geometry."""
    other = read_bundle(textured_renders.other_bundle)
    assert {o.name: o.id for o in other.objects} != {o.name: o.id for o in bundle.objects}
    first, last = textured_set.FIRST_FRAME, textured_set.LAST_FRAME
    source_image = image(textured_renders.frames[first])
    across = reproject(source_image, view_of(bundle, first), frame_view(other, 0))
    within = reproject(source_image, view_of(bundle, first), view_of(bundle, last))
    assert across.valid.mean() > 0.35
    assert np.array_equal(across.valid, within.valid)
    assert np.allclose(across.image, within.image)
    # One frame cannot show the blob deforming, but it is not the geometry the first bundle saw on any of its frames.
    blob = next(o.id for o in other.objects if o.name == textured_set.DEFORMING)
    assert other.motion.rigid[blob]
    assert not (across.valid & (frame_view(other, 0).ids == blob)).any()
