"""The bundle reader's 1.1 fields: per-frame skeletons and pose images, optional and checked."""

import numpy as np
import pytest
from PIL import Image

from engine.errors import BundleError
from engine.formats import bundle as bundle_format
from engine_testlib import edit_shot, make_bundle


def skeleton(name="Hero", visible=True):
    points = [[10.0 + i, 5.0 + i / 2, visible] for i in range(18)]
    points[4] = [None, None, False]  # a rig without that point
    points[7] = [47.5, 31.25, False]  # outside the frame
    return {"object": name, "ids": [1], "keypoints": points}


def posed_bundle(tmp_path, frames=(1001, 1002)):
    root = make_bundle(tmp_path / "b", frames=list(frames))
    rng = np.random.default_rng(0)
    images = {}
    (root / "pose").mkdir()
    for frame in frames:
        images[frame] = rng.integers(0, 256, (32, 48, 3), dtype=np.uint8)
        Image.fromarray(images[frame]).save(root / "pose" / f"{frame:06d}.png")

    def add(shot):
        shot["schema"] = "neural_previs.bundle/1.1"
        for entry in shot["frames"]:
            entry["skeletons"] = [skeleton("Hero"), skeleton("Villain", visible=False)]
            entry["pose"] = f"pose/{entry['frame']:06d}.png"

    edit_shot(root, add)
    return root, images


def test_reads_skeletons_and_pose_images(tmp_path):
    root, images = posed_bundle(tmp_path)
    loaded = bundle_format.read_bundle(root)
    bundle_format.validate_pixels(loaded)
    frame = loaded.frames[0]
    assert [s.object for s in frame.skeletons] == ["Hero", "Villain"]
    assert frame.skeletons[0].ids == (1,)
    hero = frame.skeletons[0].array()
    assert hero.shape == (18, 3)
    assert hero[0].tolist() == [10.0, 5.0, 1.0]
    assert np.isnan(hero[4, :2]).all() and hero[4, 2] == 0.0
    assert hero[7].tolist() == [47.5, 31.25, 0.0]
    assert (frame.skeletons[1].array()[:, 2] == 0).all()
    assert bundle_format.KEYPOINTS[1] == "neck" and len(bundle_format.KEYPOINTS) == 18
    for index, number in enumerate(loaded.frame_numbers):
        assert np.array_equal(loaded.read_pose(index), images[number])


def test_bundles_without_poses_read_as_before(tmp_path):
    loaded = bundle_format.read_bundle(make_bundle(tmp_path / "b", frames=[1]))
    assert loaded.frames[0].skeletons is None and loaded.frames[0].pose is None
    assert loaded.read_pose(0) is None


def test_pose_images_count_in_the_bundle_hash(tmp_path):
    root, images = posed_bundle(tmp_path)
    before = bundle_format.bundle_hash(bundle_format.read_bundle(root))
    Image.fromarray(255 - images[1002]).save(root / "pose" / "001002.png")
    assert bundle_format.bundle_hash(bundle_format.read_bundle(root)) != before


@pytest.mark.parametrize(
    "change, fragment",
    [
        (lambda f: f.update(skeletons={"Hero": []}), "skeletons must be a list"),
        (lambda f: f["skeletons"].append(skeleton("Hero")), "repeats the object 'Hero'"),
        (lambda f: f["skeletons"][0].update(object=""), "non-empty 'object'"),
        (lambda f: f["skeletons"][0].update(ids=[1, "2"]), "ids must be a list of object ids"),
        (lambda f: f["skeletons"][0].update(ids=[3]), "Hero's ids [3] are not in objects"),
        (lambda f: f["skeletons"][0]["keypoints"].pop(), "must list 18"),
        (lambda f: f["skeletons"][0]["keypoints"].__setitem__(3, [1.0, 2.0, 1]), "keypoints[3] (r_elbow)"),
        (lambda f: f["skeletons"][0]["keypoints"].__setitem__(4, [None, None, True]), "visible but has no position"),
        (lambda f: f["skeletons"][0]["keypoints"].__setitem__(5, [None, 3.0, False]), "null for both"),
        (lambda f: f["skeletons"][0]["keypoints"].__setitem__(2, [48.0, 3.0, True]), "r_shoulder is visible at (48, 3), outside the 48x32"),
        (lambda f: f.update(pose="../elsewhere.png"), "points outside the bundle"),
        (lambda f: f.update(pose="pose/missing.png"), "pose file pose/missing.png is missing"),
    ],
)
def test_malformed_pose_fields(tmp_path, change, fragment):
    root, _ = posed_bundle(tmp_path)
    edit_shot(root, lambda shot: change(shot["frames"][1]))
    with pytest.raises(BundleError) as caught:
        bundle_format.read_bundle(root)
    assert fragment in caught.value.message and "\n" not in caught.value.message


@pytest.mark.parametrize("image, fragment", [(np.zeros((32, 48), np.uint8), "a pose image is an 8-bit RGB PNG"), (np.zeros((30, 48, 3), np.uint8), "48x30")])
def test_bad_pose_images(tmp_path, image, fragment):
    root, _ = posed_bundle(tmp_path)
    Image.fromarray(image).save(root / "pose" / "001002.png")
    with pytest.raises(BundleError) as caught:
        bundle_format.validate_pixels(bundle_format.read_bundle(root))
    assert "frame 1002" in caught.value.message and fragment in caught.value.message
