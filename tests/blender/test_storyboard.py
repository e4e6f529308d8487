"""Keyframes and per-object controls in Blender (issue 15), with the real bpy and the real engine (tiny-random).

- Pin Render renders the current frame with the scene's own engine and settings, leaves the scene as it
  was, and its image equals a plain render of that frame;
- the panel's Keyframes list and the objects' controls reach the generate request and the take (an exact
  keyframe is the image in the take), and come back with Apply Settings; so does the headless --keyframe;
- a keyframe outside the shot is one line naming the list, before anything renders;
- Pin Current Frame pins the frame of the take under the playhead.
"""

import json
from pathlib import Path

import bpy
import numpy as np
import pytest
from PIL import Image

import rigs
from engine_shot import engine_python, shot, strips_of  # noqa: F401
from test_generate import run_headless


def board(path, salt=0):
    ys, xs = np.mgrid[0:32, 0:48]
    Image.fromarray(np.stack([(xs * 9 + salt) % 256, (ys * 13) % 256, (xs * ys + salt) % 256], axis=2).astype(np.uint8)).save(path)
    return path


def pixels(path):
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def take_folder_of(strip):
    return Path(bpy.path.abspath(strip["neural_previs"]["take"]))


def scene_state(scene):
    render, image = scene.render, scene.render.image_settings
    return (render.engine, render.filepath, render.use_sequencer, render.use_compositing, render.resolution_x, render.resolution_y,
            render.resolution_percentage, image.file_format, image.color_mode, image.color_depth, image.exr_codec,
            scene.frame_current, scene.frame_subframe, scene.camera.name, sorted(o.name for o in scene.objects))


def test_pin_render_leaves_the_scene_and_equals_a_plain_render(shot, tmp_path):
    shot.render.engine = "BLENDER_WORKBENCH"
    shot.render.filepath = "/tmp/the_artists_own_output_####"
    shot.render.image_settings.file_format = "OPEN_EXR"
    shot.render.image_settings.color_depth = "32"
    shot.frame_set(1003)
    before = scene_state(shot)
    assert bpy.ops.neural_previs.keyframe_pin_render() == {"FINISHED"}
    assert scene_state(shot) == before
    (keyframe,) = shot.neural_previs.keyframes
    assert (keyframe.frame, keyframe.mode) == (1003, "exact")
    pinned = Path(keyframe.image)
    assert pinned.parent == tmp_path / "takes" / "Scene" / "keyframes"
    # a second pin never overwrites the first image
    assert bpy.ops.neural_previs.keyframe_pin_render() == {"FINISHED"}
    assert len(list(pinned.parent.iterdir())) == 2 and pinned.is_file()

    shot.render.filepath = str(tmp_path / "check_")
    shot.render.image_settings.file_format = "PNG"
    shot.render.image_settings.color_mode = "RGB"
    shot.render.image_settings.color_depth = "8"
    shot.render.use_sequencer = False
    bpy.ops.render.render(write_still=True)
    (check,) = tmp_path.glob("check_*.png")
    assert np.array_equal(pixels(check), pixels(pinned))


def test_the_keyframes_list_and_controls_reach_the_take(shot, tmp_path):
    names = rigs.RIGIFY
    hero = rigs.build_rig(shot, "Hero", names, location=(-1.5, 0.0, 0.0))
    body = rigs.body_mesh(shot, hero, names, name="HeroBody")
    body.neural_previs_control = "pose"
    settings = shot.neural_previs
    first, middle = board(tmp_path / "board a.png", 10), board(tmp_path / "board b.png", 90)
    for frame, image, mode in ((1001, first, "exact"), (1003, middle, "guide")):
        item = settings.keyframes.add()
        item.frame, item.image, item.mode = frame, str(image), mode
    assert bpy.ops.neural_previs.generate() == {"FINISHED"}
    strip = strips_of(shot)["Scene_take_001"]
    take = take_folder_of(strip)
    record = json.loads((take / "take.json").read_text())
    assert [(k["frame"], k["image"], k["mode"]) for k in record["keyframes"]] == [(1001, str(first), "exact"), (1003, str(middle), "guide")]
    assert record["controls"]["objects"] == {"HeroBody": "pose"}
    assert np.array_equal(pixels(take / "frames" / "1001.png"), pixels(first))  # exact: the image itself
    assert not np.array_equal(pixels(take / "frames" / "1003.png"), pixels(middle))  # guide: the model's frame
    assert json.loads(strip["neural_previs"]["params"]["keyframes"])[0]["frame"] == 1001
    # Apply Settings brings them back, so Generate makes the take again
    settings.keyframes.clear()
    body.neural_previs_control = "depth"
    assert bpy.ops.neural_previs.take_apply_settings(strip=strip.name) == {"FINISHED"}
    assert [(k.frame, k.image, k.mode) for k in settings.keyframes] == [(1001, str(first), "exact"), (1003, str(middle), "guide")]
    assert body.neural_previs_control == "pose" and shot.objects["Crate"].neural_previs_control == "depth"


def test_a_keyframe_outside_the_shot_is_one_line_before_anything_renders(shot, tmp_path):
    item = shot.neural_previs.keyframes.add()
    item.frame, item.image = 990, str(board(tmp_path / "board.png"))
    with pytest.raises(RuntimeError) as error:
        bpy.ops.neural_previs.generate()
    message = str(error.value).strip().removeprefix("Error: ")
    assert message == ("The keyframe at frame 990 is outside the shot (frames 1001-1005); "
                       "change its Frame in the Keyframes list or remove it")
    assert not (tmp_path / "takes").exists()


def test_pose_on_an_object_without_a_rig_names_the_control(shot, tmp_path):
    shot.objects["Crate"].neural_previs_control = "pose"
    with pytest.raises(RuntimeError) as error:
        bpy.ops.neural_previs.generate()
    assert "'Crate' is not driven by a rig" in str(error.value) and "Neural Previs Control" in str(error.value)
    assert "\n" not in str(error.value).strip()


def test_pin_current_frame_takes_the_take_under_the_playhead(shot, tmp_path):
    assert bpy.ops.neural_previs.generate() == {"FINISHED"}
    take = take_folder_of(strips_of(shot)["Scene_take_001"])
    shot.frame_set(1004)
    assert bpy.ops.neural_previs.keyframe_pin_frame() == {"FINISHED"}
    (keyframe,) = shot.neural_previs.keyframes
    assert keyframe.frame == 1004
    assert np.array_equal(pixels(keyframe.image), pixels(take / "frames" / "1004.png"))
    assert Path(keyframe.image).parent == tmp_path / "takes" / "Scene" / "keyframes"
    shot.frame_set(1010)
    with pytest.raises(RuntimeError, match="No take is under the playhead at frame 1010"):
        bpy.ops.neural_previs.keyframe_pin_frame()


def test_headless_keyframe_and_control(shot, tmp_path):
    image = board(tmp_path / "b.png", 33)
    blend = tmp_path / "shot.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    done = run_headless(blend, ["generate", "--model", "tiny-random", "--keyframe", f"1005={image}", "--save"])
    assert done.returncode == 0, done.stderr[-2000:]
    bpy.ops.wm.open_mainfile(filepath=str(blend))
    take = take_folder_of(strips_of(bpy.context.scene)["Scene_take_001"])
    assert np.array_equal(pixels(take / "frames" / "1005.png"), pixels(image))
    outside = run_headless(blend, ["generate", "--model", "tiny-random", "--keyframe", f"2000={image}"])
    assert outside.returncode == 1 and "keyframe at frame 2000 is outside the shot" in outside.stderr.strip().splitlines()[-1]
    unposed = run_headless(blend, ["generate", "--model", "tiny-random", "--control", "Crate=pose"])
    assert unposed.returncode == 1 and "'Crate' is not driven by a rig" in unposed.stderr.strip().splitlines()[-1]


def test_keep_without_a_plate_names_the_three_ways(shot, tmp_path):
    shot.objects["Crate"].neural_previs_control = "keep"
    shot.neural_previs.plate_source, shot.neural_previs.plate_take = "TAKE", ""
    with pytest.raises(RuntimeError) as error:
        bpy.ops.neural_previs.generate()
    assert str(error.value).strip().removeprefix("Error: ") == (
        "Objects whose control is Keep take their pixels from a plate: pick a take under Plate, choose a folder of frames, "
        "or choose Render Plate")
    assert not (tmp_path / "takes").exists()


def test_an_unreadable_keyframe_image_is_one_line_and_no_take(shot, tmp_path):
    notes = tmp_path / "notes.png"
    notes.write_text("not an image")
    item = shot.neural_previs.keyframes.add()
    item.frame, item.image = 1002, str(notes)
    images = len(bpy.data.images)
    with pytest.raises(RuntimeError) as error:
        bpy.ops.neural_previs.generate()
    message = str(error.value).strip().removeprefix("Error: ")
    assert message == (f"The keyframe image {notes} (frame 1002) is not a readable image; "
                       "choose a PNG or JPEG as its Image in the Keyframes list")
    assert len(bpy.data.images) == images  # the check left no image behind in the artist's file
    assert not list((tmp_path / "takes").rglob("*")) and not strips_of(shot).get("Scene_take_001")  # nothing rendered
