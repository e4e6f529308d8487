"""Bundle folders appear complete or not at all, and never replace something that is not a bundle."""

import json

import numpy as np
import OpenEXR
import pytest
from PIL import Image

from neural_previs.addon.bundle_files import BundleLocationError, BundleWriter, check_destination


def write_bundle(destination, frames=(1, 2)):
    writer = BundleWriter(check_destination(str(destination)))
    records = [writer.add_frame(f, np.full((4, 5), float(f), np.float32), np.full((4, 5), f, np.uint16)) for f in frames]
    return writer, records


def test_bundle_appears_only_when_finished(tmp_path):
    destination = tmp_path / "shots" / "bundle"
    writer, records = write_bundle(destination)
    assert not destination.exists()
    writer.finish({"schema": "x", "frames": records}, ["shot", "row"])
    assert sorted(p.name for p in destination.iterdir()) == ["camera.txt", "depth", "mask", "shot.json"]
    assert json.loads((destination / "shot.json").read_text())["frames"][1]["depth"] == "depth/000002.exr"
    assert [p.name for p in destination.parent.iterdir()] == ["bundle"]  # no staging folders left
    with OpenEXR.File(str(destination / "depth" / "000002.exr")) as exr:
        assert np.array_equal(exr.channels()["Z"].pixels, np.full((4, 5), 2.0, np.float32))
    with Image.open(destination / "mask" / "000001.png") as image:
        assert np.array_equal(np.array(image), np.full((4, 5), 1, np.uint16))


def test_an_encoding_failure_publishes_nothing(tmp_path):
    writer, records = write_bundle(tmp_path / "bundle")
    # The disk loses the folder under the encoder (renamed away, a file in its place: no race with writes in flight).
    (writer.staging / "mask").rename(writer.staging / "mask_gone")
    (writer.staging / "mask").write_text("not a folder")
    writer.add_frame(3, np.ones((4, 5), np.float32), np.ones((4, 5), np.uint16))
    with pytest.raises(BundleLocationError, match="Writing the bundle failed"):
        writer.finish({"frames": records}, ["x"])
    assert list(tmp_path.iterdir()) == []


def test_abort_leaves_nothing(tmp_path):
    writer, _ = write_bundle(tmp_path / "bundle")
    writer.abort()
    assert list(tmp_path.iterdir()) == []


def test_an_earlier_bundle_is_replaced_whole(tmp_path):
    destination = tmp_path / "bundle"
    writer, records = write_bundle(destination, frames=(1, 2, 3))
    writer.finish({"frames": records}, ["a"])
    writer, records = write_bundle(destination, frames=(7,))
    writer.finish({"frames": records}, ["b"])
    assert sorted(p.name for p in (destination / "depth").iterdir()) == ["000007.exr"]
    assert [p.name for p in tmp_path.iterdir()] == ["bundle"]


def test_a_folder_with_other_files_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(BundleLocationError, match="not empty"):
        check_destination(str(tmp_path))


def test_a_file_is_refused(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(BundleLocationError, match="is a file"):
        check_destination(str(tmp_path / "f"))


@pytest.mark.parametrize("below", ["a_file", "/proc"])
def test_an_unwritable_location_is_refused(tmp_path, below):
    # Tests run as root in CI, where permission bits do not stop writes: use places nobody can write.
    if below == "a_file":
        (tmp_path / "a_file").write_text("x")
        below = tmp_path / "a_file"
    with pytest.raises(BundleLocationError, match="choose a writable folder"):
        BundleWriter(check_destination(f"{below}/shots/bundle"))


def test_two_shots_creating_the_same_output_root_at_once_both_succeed(tmp_path):
    """A batch renders shots side by side into one output root: each writer creating the missing parents
    must accept a parent another process made a moment earlier (it raised 'File exists' and failed a shot)."""
    import threading

    failures = []
    for attempt in range(40):
        root = tmp_path / f"night{attempt}" / "takes"
        start = threading.Barrier(2)

        def write(shot):
            start.wait()
            try:
                writer, records = write_bundle(root / shot / "bundle", frames=(1,))
                writer.finish({"schema": "x", "frames": records}, ["shot", "row"])
            except BundleLocationError as error:
                failures.append(str(error))

        threads = [threading.Thread(target=write, args=(name,)) for name in ("sh010", "sh020")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert (root / "sh010" / "bundle" / "shot.json").is_file() and (root / "sh020" / "bundle" / "shot.json").is_file()
    assert failures == []


def test_a_file_in_the_way_of_a_parent_is_one_line(tmp_path):
    (tmp_path / "takes").write_text("not a folder")
    with pytest.raises(BundleLocationError) as error:
        check_destination(str(tmp_path / "takes" / "sh010" / "bundle"))
    assert "takes" in str(error.value) and "\n" not in str(error.value)
