"""The Sequencer's Neural Previs tab: the scene's takes newest first, and its buttons (no engine needed: takes from fixtures)."""

import importlib
import json
import os
import shutil
import sys

import bpy
import pytest
from PIL import Image

from demo.blender_session import EXTENSION_MODULE
from take_fixtures import write_take


def strips_of(scene):
    editor = scene.sequence_editor
    return editor.strips if hasattr(editor, "strips") else editor.sequences


def mutes(scene):
    return {s.name: s.mute for s in strips_of(scene)}


@pytest.fixture
def takes():
    return importlib.import_module(f"{EXTENSION_MODULE}.addon.takes")


def add_take(folder, frames, prompt, seed, seconds=None, quality="final"):
    write_take(folder, frames, params={"prompt": prompt, "seed": seed, "steps": 2, "model": "tiny-random", "quality": quality})
    record = json.loads((folder / "take.json").read_text())
    record["resolved"]["seed"] = seed
    if seconds is not None:
        record["timings_seconds"] = {"total": seconds}
    (folder / "take.json").write_text(json.dumps(record))
    assert bpy.ops.neural_previs.import_take(directory=str(folder)) == {"FINISHED"}


@pytest.fixture
def three_takes(empty_scene, tmp_path):
    """Takes 1 and 2 over frames 1-10, take 3 over 21-30, and the artist's own strip over 1-40."""
    scene = empty_scene
    scene.sequence_editor_create()
    Image.new("RGB", (8, 8), (200, 10, 10)).save(tmp_path / "mine.png")
    strips_of(scene).new_image(name="Blockout", filepath=str(tmp_path / "mine.png"), channel=1, frame_start=1).frame_final_duration = 40
    add_take(tmp_path / "a", list(range(1, 11)), "first look", 11, seconds=12.5)
    add_take(tmp_path / "b", list(range(1, 11)), "second look\nwith a second line", 22, quality="preview")
    add_take(tmp_path / "c", list(range(21, 31)), "later shot", 33, seconds=3.25)
    return scene


def test_takes_are_listed_newest_first_with_what_made_them(three_takes, takes):
    rows = [takes.take_row(strip) for strip in takes.take_strips(three_takes)]
    assert [r.strip_name for r in rows] == ["Scene_take_003", "Scene_take_002", "Scene_take_001"]
    assert [(r.prompt, r.model, r.seed, r.quality, r.seconds) for r in rows] == [
        ("later shot", "tiny-random", "33", "final", 3.25),
        ("second look\nwith a second line", "tiny-random", "22", "preview", None),
        ("first look", "tiny-random", "11", "final", 12.5),
    ]
    assert not any(r.missing for r in rows) and all(r.qc is None for r in rows)


def test_a_take_whose_folder_is_gone_is_marked(three_takes, takes, tmp_path):
    shutil.rmtree(tmp_path / "b")
    rows = {r.strip_name: r for r in map(takes.take_row, takes.take_strips(three_takes))}
    assert rows["Scene_take_002"].missing and not rows["Scene_take_001"].missing
    with pytest.raises(RuntimeError, match="folder of 'Scene_take_002' is missing"):
        bpy.ops.neural_previs.take_open_folder(strip="Scene_take_002")


def test_show_only_mutes_exactly_the_other_takes_of_the_shot(three_takes):
    before = mutes(three_takes)
    assert bpy.ops.neural_previs.take_show_only(strip="Scene_take_001") == {"FINISHED"}
    # Take 2 covers the same frames and is muted; take 3 (other frames) and the artist's strip are left alone.
    assert mutes(three_takes) == {**before, "Scene_take_002": True}
    assert bpy.ops.neural_previs.take_show_only(strip="Scene_take_002") == {"FINISHED"}
    assert mutes(three_takes) == {**before, "Scene_take_001": True}
    strips_of(three_takes)["Blockout"].mute = True  # the artist's own choice
    assert bpy.ops.neural_previs.take_show_all() == {"FINISHED"}
    assert mutes(three_takes) == {**before, "Blockout": True}


def test_use_as_plate_and_select(three_takes):
    assert bpy.ops.neural_previs.take_use_as_plate(strip="Scene_take_002") == {"FINISHED"}
    settings = three_takes.neural_previs
    assert (settings.plate_source, settings.plate_take) == ("TAKE", "Scene_take_002")
    assert bpy.ops.neural_previs.take_select(strip="Scene_take_003") == {"FINISHED"}
    assert three_takes.sequence_editor.active_strip.name == "Scene_take_003"
    with pytest.raises(RuntimeError, match="'Blockout' is not a Neural Previs take"):
        bpy.ops.neural_previs.take_use_as_plate(strip="Blockout")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Blender opens folders with xdg-open on Linux")
def test_open_folder_hands_the_take_folder_to_the_file_browser(three_takes, tmp_path, monkeypatch):
    bin_folder = tmp_path / "bin"
    bin_folder.mkdir()
    opener = bin_folder / "xdg-open"
    opener.write_text(f"#!/bin/sh\nprintf '%s' \"$1\" > '{tmp_path / 'opened.txt'}'\n")
    opener.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_folder}{os.pathsep}{os.environ['PATH']}")
    assert bpy.ops.neural_previs.take_open_folder(strip="Scene_take_001") == {"FINISHED"}
    assert (tmp_path / "opened.txt").read_text() == str(tmp_path / "a")


def test_use_as_set_reference_lists_each_take_once_and_removes_it(three_takes, takes, tmp_path):
    settings = three_takes.neural_previs
    assert bpy.ops.neural_previs.take_use_as_set_reference(strip="Scene_take_001") == {"FINISHED"}
    assert bpy.ops.neural_previs.take_use_as_set_reference(strip="Scene_take_003") == {"FINISHED"}
    assert bpy.ops.neural_previs.take_use_as_set_reference(strip="Scene_take_001") == {"FINISHED"}  # already one
    rows = takes.set_reference_rows(three_takes)
    assert [(name, folder) for name, folder, _ in rows] == [("Scene_take_001", str(tmp_path / "a")), ("Scene_take_003", str(tmp_path / "c"))]
    shutil.rmtree(tmp_path / "c")
    assert [missing for _, _, missing in takes.set_reference_rows(three_takes)] == [False, True]
    assert bpy.ops.neural_previs.set_reference_remove(index=1) == {"FINISHED"}
    assert [item.name for item in settings.set_references] == ["Scene_take_001"]
    with pytest.raises(RuntimeError, match="no set reference number 3"):
        bpy.ops.neural_previs.set_reference_remove(index=2)


def test_a_scored_take_shows_its_consistency_in_the_tab(empty_scene, tmp_path, takes):
    """take.json's `qc` (the engine's own summary of a take whose frames flicker) reaches the strip and its line."""
    from engine.qc.score import FrameScore, TakeScore

    qc_summary = importlib.import_module(f"{EXTENSION_MODULE}.addon.qc_summary")
    empty_scene.sequence_editor_create()
    scored = TakeScore(tuple(FrameScore(f, c, c / 3, 0.8) for f, c in ((2, 1.0), (3, 14.0), (4, 2.0))))
    unscored = TakeScore(tuple(FrameScore(f, None, None, 0.0) for f in (2, 3, 4)))
    for name, score in (("scored", scored), ("unscored", unscored)):
        folder = write_take(tmp_path / name, [1, 2, 3, 4])
        record = json.loads((folder / "take.json").read_text())
        record["qc"] = score.summary
        (folder / "take.json").write_text(json.dumps(record))
        assert bpy.ops.neural_previs.import_take(directory=str(folder)) == {"FINISHED"}
    unscored_row, scored_row = map(takes.take_row, takes.take_strips(empty_scene))
    assert scored_row.qc["consistency_mean"] == scored.summary["consistency_mean"]
    assert qc_summary.qc_line(scored_row.qc) == ("Consistency 5.7 (max 14.0), flicker 4.7, check 3", True)
    assert qc_summary.qc_line(unscored_row.qc) == ("Consistency: not scored (no frame sees the last one's surfaces)", False)
