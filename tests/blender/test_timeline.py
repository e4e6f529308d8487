"""Takes land on the Sequencer frame-accurately, on a free channel, and never disturb other strips."""

import json
import shutil
from pathlib import Path

import bpy
import pytest
from PIL import Image

from demo.blender_session import EXTENSION_MODULE
from take_fixtures import write_take


def strips_of(scene):
    editor = scene.sequence_editor
    return editor.strips if hasattr(editor, "strips") else editor.sequences


def snapshot(scene):
    return sorted((s.name, s.channel, s.frame_final_start, s.frame_final_end) for s in strips_of(scene))


@pytest.fixture
def shot_with_user_strips(empty_scene, tmp_path):
    scene = empty_scene
    scene.frame_start, scene.frame_end = 1001, 1012
    scene.sequence_editor_create()
    plate = tmp_path / "plate.png"
    Image.new("RGB", (8, 8), (200, 10, 10)).save(plate)
    strips = strips_of(scene)
    strips.new_image(name="Plate", filepath=str(plate), channel=1, frame_start=995)
    strips["Plate"].frame_final_duration = 30
    strips.new_image(name="Notes", filepath=str(plate), channel=2, frame_start=1005)
    return scene


def import_take(folder):
    return bpy.ops.neural_previs.import_take(directory=str(folder))


def test_take_lands_frame_accurate_on_the_lowest_free_channel(shot_with_user_strips, tmp_path):
    scene = shot_with_user_strips
    user_strips = snapshot(scene)
    frames = list(range(1001, 1013))
    assert import_take(write_take(tmp_path / "take_a", frames)) == {"FINISHED"}
    strip = strips_of(scene)["Scene_take_001"]
    assert strip.channel == 3  # channels 1 and 2 hold the user's strips over this range
    assert (strip.frame_final_start, strip.frame_final_end) == (1001, 1013)
    for frame in frames:
        assert strip.strip_elem_from_frame(frame).filename == f"{frame:04d}.png"
    assert [s for s in snapshot(scene) if s[0] != "Scene_take_001"] == user_strips
    assert strip["neural_previs"]["params"]["prompt"] == "a rainy neon street"
    assert strip["neural_previs"]["params"]["seed"] == 7


def test_second_take_is_added_and_first_left_alone(shot_with_user_strips, tmp_path):
    scene = shot_with_user_strips
    frames = list(range(1001, 1013))
    import_take(write_take(tmp_path / "take_a", frames))
    before = snapshot(scene)
    assert import_take(write_take(tmp_path / "take_b", frames, params={"prompt": "watercolour", "seed": 8})) == {"FINISHED"}
    second = strips_of(scene)["Scene_take_002"]
    assert second.channel == 4
    assert second["neural_previs"]["params"]["prompt"] == "watercolour"
    assert [s for s in snapshot(scene) if s[0] != "Scene_take_002"] == before
    assert strips_of(scene)["Scene_take_001"]["neural_previs"]["params"]["prompt"] == "a rainy neon street"


def test_takes_survive_save_and_reopen(shot_with_user_strips, tmp_path):
    import_take(write_take(tmp_path / "take_a", list(range(1001, 1013))))
    import_take(write_take(tmp_path / "take_b", list(range(1001, 1013)), params={"prompt": "b"}))
    blend = tmp_path / "shot.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    bpy.ops.wm.open_mainfile(filepath=str(blend))
    strips = strips_of(bpy.context.scene)
    assert strips["Scene_take_001"]["neural_previs"]["params"]["prompt"] == "a rainy neon street"
    assert strips["Scene_take_002"]["neural_previs"]["params"]["prompt"] == "b"
    assert strips["Scene_take_002"].strip_elem_from_frame(1007).filename == "1007.png"
    assert EXTENSION_MODULE in bpy.context.preferences.addons


def test_stepped_take_holds_each_image_until_the_next(empty_scene, tmp_path):
    assert import_take(write_take(tmp_path / "take", [1, 3, 5])) == {"FINISHED"}
    strip = strips_of(empty_scene)["Scene_take_001"]
    assert [strip.strip_elem_from_frame(f).filename for f in range(1, 6)] == ["0001.png", "0001.png", "0003.png", "0003.png", "0005.png"]


@pytest.mark.parametrize("damage, fragment", [("no_json", "no take.json"), ("missing_frame", "missing"), ("bad_schema", "schema")])
def test_damaged_takes_are_refused_with_one_line(empty_scene, tmp_path, damage, fragment):
    folder = write_take(tmp_path / "take", [1, 2, 3])
    if damage == "no_json":
        (folder / "take.json").unlink()
    elif damage == "missing_frame":
        (folder / "frames" / "0002.png").unlink()
    else:
        (folder / "take.json").write_text((folder / "take.json").read_text().replace("take/1", "take/9"))
    with pytest.raises(RuntimeError) as error:
        import_take(folder)
    assert fragment in str(error.value) and "\n" not in str(error.value).strip()
    assert empty_scene.sequence_editor is None or len(strips_of(empty_scene)) == 0


OLD_TAKE = Path(__file__).parent / "fixtures" / "take_before_seed_fix" / "take.json"


def test_take_from_before_32_bit_seeds_imports_with_its_seed_kept(empty_scene, tmp_path):
    """A take.json the engine wrote when it drew seeds below 2**63: the seed is kept, as text."""
    folder = tmp_path / "old_take"
    (folder / "frames").mkdir(parents=True)
    shutil.copy(OLD_TAKE, folder / "take.json")
    record = json.loads(OLD_TAKE.read_text())
    for entry in record["frames"]:
        Image.new("RGB", (48, 32), (9, 9, 9)).save(folder / entry["file"])
    assert record["resolved"]["seed"] >= 2**31
    assert import_take(folder) == {"FINISHED"}
    strip = strips_of(empty_scene)["Scene_take_001"]
    assert strip["neural_previs"]["resolved"]["seed"] == str(record["resolved"]["seed"])
    assert strip["neural_previs"]["resolved"]["steps"] == 2
    # Apply Settings copies the rest and leaves the seed to be drawn; Use This Seed says why it cannot
    settings = empty_scene.neural_previs
    settings.seed, settings.random_seed, settings.steps = 5, True, 30
    assert bpy.ops.neural_previs.take_apply_settings(strip="Scene_take_001") == {"FINISHED"}
    assert (settings.seed, settings.random_seed, settings.steps, settings.prompt) == (5, True, 2, "a rainy neon street")
    with pytest.raises(RuntimeError, match=rf"'Scene_take_001' has no seed that fits the Seed field \({record['resolved']['seed']}\)"):
        bpy.ops.neural_previs.take_use_seed(strip="Scene_take_001")
    assert (settings.seed, settings.random_seed) == (5, True)
    blend = tmp_path / "old.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    bpy.ops.wm.open_mainfile(filepath=str(blend))
    reopened = strips_of(bpy.context.scene)["Scene_take_001"]
    assert int(reopened["neural_previs"]["resolved"]["seed"]) == record["resolved"]["seed"]
