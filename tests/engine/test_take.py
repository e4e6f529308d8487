"""Writing takes: exact frame rates, all-or-nothing folders, never overwriting."""

from fractions import Fraction

import numpy as np
import pytest

from engine.errors import TakeError
from engine.formats.preview import exact_fps
from engine.formats.take import TakeWriter, frame_file_name


@pytest.mark.parametrize(
    "fps, exact",
    [(23.976, Fraction(24000, 1001)), (29.97, Fraction(30000, 1001)), (59.94, Fraction(60000, 1001)), (24.0, 24), (25, 25), (12.5, Fraction(25, 2))],
)
def test_exact_frame_rates(fps, exact):
    assert exact_fps(fps) == exact


def test_frame_file_names_sort_as_image_sequences():
    assert [frame_file_name(f) for f in (7, 1001, 12345)] == ["0007.png", "1001.png", "12345.png"]


def test_take_appears_only_on_commit(tmp_path):
    writer = TakeWriter(tmp_path / "take")
    partial = writer.begin()
    assert partial.parent == tmp_path and partial.name.startswith(".take.partial-")
    writer.write_frames([1, 2], np.zeros((2, 4, 6, 3), np.uint8))
    assert not (tmp_path / "take").exists()
    assert writer.commit() == tmp_path / "take"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["take"]
    assert sorted(p.name for p in (tmp_path / "take" / "frames").iterdir()) == ["0001.png", "0002.png"]


def test_a_take_that_appears_meanwhile_is_not_replaced(tmp_path):
    writer = TakeWriter(tmp_path / "take")
    writer.begin()
    (tmp_path / "take").mkdir()  # e.g. another artist's render landed there while generating
    with pytest.raises(TakeError, match="appeared while generating"):
        writer.commit()
    writer.abort()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["take"] and not any((tmp_path / "take").iterdir())


def test_abort_removes_the_partial_folder(tmp_path):
    writer = TakeWriter(tmp_path / "take")
    writer.begin()
    writer.abort()
    assert list(tmp_path.iterdir()) == []
