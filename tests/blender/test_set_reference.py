"""Use as Set Reference with the real engine (tiny-random on CPU): the next take keeps the reference take's set, and
records it; a reference whose folder is gone is refused in the artist's words before anything renders."""

import json
import shutil
from pathlib import Path

import bpy
import numpy as np
import pytest
from PIL import Image

from engine_shot import engine_python, shot, strips_of  # noqa: F401


def take_of(strip) -> Path:
    return Path(bpy.path.abspath(strip["neural_previs"].to_dict()["take"]))


def test_the_next_take_keeps_the_reference_takes_set(shot):
    assert bpy.ops.neural_previs.generate() == {"FINISHED"}
    first = take_of(strips_of(shot)["Scene_take_001"])
    assert bpy.ops.neural_previs.take_use_as_set_reference(strip="Scene_take_001") == {"FINISHED"}
    shot.camera.location.x += 0.3  # another shot of the same blockout
    assert bpy.ops.neural_previs.generate() == {"FINISHED"}
    second = take_of(strips_of(shot)["Scene_take_002"])
    record = json.loads((second / "take.json").read_text())
    assert record["params"]["plate_from"] == [str(first)]
    assert record["plate_from"]["sources"][0]["take"] == str(first)
    assert sorted(p.name for p in (second / "kept").iterdir()) == sorted(p.name for p in (second / "frames").iterdir())
    assert record["plate_from"]["kept_fraction_mean"] > 0.05
    kept = np.asarray(Image.open(second / "kept" / "1001.png"))
    assert kept.dtype == np.uint8 and kept.shape == (32, 48)


def test_a_reference_whose_folder_is_gone_is_refused_before_rendering(shot, tmp_path):
    assert bpy.ops.neural_previs.generate() == {"FINISHED"}
    assert bpy.ops.neural_previs.take_use_as_set_reference(strip="Scene_take_001") == {"FINISHED"}
    shutil.rmtree(take_of(strips_of(shot)["Scene_take_001"]))
    with pytest.raises(RuntimeError, match="set reference take 'Scene_take_001' is missing .*remove it under Set Reference"):
        bpy.ops.neural_previs.generate()
    assert not (tmp_path / "takes" / "Scene" / "take_002_bundle").exists()
