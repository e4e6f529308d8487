"""The bundle reader: a valid bundle reads back exactly; each kind of bad bundle gives one precise line."""

import os

import numpy as np
import pytest

from engine.formats import bundle as bundle_format
from engine.errors import BundleError
from engine_testlib import edit_shot, make_bundle, write_depth_exr, write_id_png


def read_and_validate(root):
    loaded = bundle_format.read_bundle(root)
    bundle_format.validate_pixels(loaded)
    return loaded


def test_reads_a_valid_bundle(tmp_path):
    root = make_bundle(tmp_path / "b", width=37, height=21, frames=[1001, 1002, 1004], fps=23.976)
    loaded = read_and_validate(root)
    assert (loaded.width, loaded.height, loaded.fps) == (37, 21, 23.976)
    assert loaded.frame_numbers == [1001, 1002, 1004]
    assert [o.name for o in loaded.objects] == ["Cube", "Floor"]
    depth = loaded.read_depth(0)
    assert depth.shape == (21, 37) and depth.dtype == np.float32 and np.isinf(depth[0, 0])
    mask = loaded.read_mask(0)
    assert mask.dtype == np.uint16 and set(np.unique(mask)) == {0, 1, 2}
    assert loaded.object_ids(["Floor"]) == [2]


def test_depth_channel_may_have_any_name(tmp_path):
    root = make_bundle(tmp_path / "b", frames=[1])
    depth = np.full((32, 48), 3.0, np.float32)
    write_depth_exr(root / "depth" / "0001.exr", depth, channel="depth.Z")
    assert np.array_equal(bundle_format.read_bundle(root).read_depth(0), depth)


def test_bundle_hash_changes_with_any_pixel(tmp_path):
    root = make_bundle(tmp_path / "b", frames=[1, 2])
    before = bundle_format.bundle_hash(bundle_format.read_bundle(root))
    write_id_png(root / "mask" / "0002.png", np.zeros((32, 48), np.uint16))
    assert bundle_format.bundle_hash(bundle_format.read_bundle(root)) != before


def expect_error(root, *fragments):
    with pytest.raises(BundleError) as caught:
        read_and_validate(root)
    message = caught.value.message
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message
    return message


def test_missing_bundle_folder(tmp_path):
    expect_error(tmp_path / "nowhere", "does not exist")


def test_missing_shot_json(tmp_path):
    root = make_bundle(tmp_path / "b", frames=[1])
    (root / "shot.json").unlink()
    expect_error(root, "shot.json is missing")


def test_corrupt_shot_json(tmp_path):
    root = make_bundle(tmp_path / "b", frames=[1])
    (root / "shot.json").write_text('{"schema": "neural_previs.bundle/1", "width": ')
    expect_error(root, "corrupt", "line 1")


@pytest.mark.parametrize("schema", ["neural_previs.bundle/2", "neural_previs.bundle/10", "neural_previs.bundle/1.x", None])
def test_unknown_schema(tmp_path, schema):
    root = make_bundle(tmp_path / "b", frames=[1])
    edit_shot(root, lambda shot: shot.update(schema=schema))
    expect_error(root, repr(schema), "neural_previs.bundle/1")


def test_minor_schema_steps_are_read(tmp_path):
    """A minor step only adds optional fields: readers of /1 read /1.N bundles."""
    from engine.formats.bundle import read_bundle

    root = make_bundle(tmp_path / "b", frames=[1])
    edit_shot(root, lambda shot: shot.update(schema="neural_previs.bundle/1.3"))
    assert read_bundle(root).width == 48


@pytest.mark.parametrize(
    "change, fragment",
    [
        (lambda s: s.update(width=0), "width"),
        (lambda s: s.update(fps="24"), "fps"),
        (lambda s: s.update(near=5.0, far=2.0), "near < far"),
        (lambda s: s.update(frames=[]), "non-empty"),
        (lambda s: s["frames"][0].update(K=[[1, 0], [0, 1]]), "frames[0].K"),
        (lambda s: s["frames"][1].update(frame=s["frames"][0]["frame"]), "increasing"),
        (lambda s: s["objects"].append({"id": 1, "name": "Again"}), "repeats"),
    ],
)
def test_malformed_fields(tmp_path, change, fragment):
    root = make_bundle(tmp_path / "b", frames=[1, 2])
    edit_shot(root, change)
    expect_error(root, fragment)


def test_missing_frame_file(tmp_path):
    root = make_bundle(tmp_path / "b", frames=[1001, 1002])
    (root / "depth" / "1002.exr").unlink()
    expect_error(root, "frame 1002", "depth/1002.exr", "missing")


def test_mismatched_frame_size(tmp_path):
    root = make_bundle(tmp_path / "b", frames=[1, 2])
    write_id_png(root / "mask" / "0002.png", np.zeros((30, 48), np.uint16))
    expect_error(root, "frame 2", "48x30", "48x32")


def test_depth_with_two_channels(tmp_path):
    import OpenEXR

    root = make_bundle(tmp_path / "b", frames=[1])
    plane = np.ones((32, 48), np.float32)
    OpenEXR.File({}, {"Z": plane, "A": plane}).write(str(root / "depth" / "0001.exr"))
    expect_error(root, "exactly one")


def test_corrupt_depth_file(tmp_path):
    root = make_bundle(tmp_path / "b", frames=[1])
    (root / "depth" / "0001.exr").write_bytes(b"not an exr")
    expect_error(root, "frame 1", "not a readable OpenEXR")


@pytest.mark.parametrize("bad, fragment", [(np.nan, "NaN"), (-np.inf, "-inf"), (-1.0, "<= 0")])
def test_bad_depth_values(tmp_path, bad, fragment):
    root = make_bundle(tmp_path / "b", frames=[1, 2])
    depth = np.full((32, 48), 2.0, np.float32)
    depth[3, 4] = bad
    write_depth_exr(root / "depth" / "0002.exr", depth)
    expect_error(root, "frame 2", fragment)


def test_mask_with_unlisted_id(tmp_path):
    root = make_bundle(tmp_path / "b", frames=[1])
    ids = np.zeros((32, 48), np.uint16)
    ids[0, 0] = 7
    write_id_png(root / "mask" / "0001.png", ids)
    expect_error(root, "id(s) 7")


def test_eight_bit_rgb_mask_is_rejected(tmp_path):
    from PIL import Image

    root = make_bundle(tmp_path / "b", frames=[1])
    Image.new("RGB", (48, 32)).save(root / "mask" / "0001.png")
    expect_error(root, "16-bit")


@pytest.mark.parametrize("path", ["../outside.exr", "/etc/passwd", "depth/../../outside.exr"])
def test_paths_escaping_the_bundle(tmp_path, path):
    root = make_bundle(tmp_path / "b", frames=[1])
    write_depth_exr(tmp_path / "outside.exr", np.ones((32, 48), np.float32))
    edit_shot(root, lambda shot: shot["frames"][0].update(depth=path))
    expect_error(root, "frames[0].depth")


def test_symlink_escaping_the_bundle(tmp_path):
    root = make_bundle(tmp_path / "b", frames=[1])
    write_depth_exr(tmp_path / "outside.exr", np.ones((32, 48), np.float32))
    (root / "depth" / "0001.exr").unlink()
    os.symlink(tmp_path / "outside.exr", root / "depth" / "0001.exr")
    expect_error(root, "outside the bundle")


def test_unknown_object_name(tmp_path):
    loaded = bundle_format.read_bundle(make_bundle(tmp_path / "b", frames=[1]))
    with pytest.raises(BundleError, match="Teapot.*Cube, Floor"):
        loaded.object_ids(["Teapot"])
