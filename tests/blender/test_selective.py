"""Selective mode from Blender with the real engine (tiny-random on CPU): the plate is another take or a render of
the scene, and outside the regenerated objects the take's pixels are the plate's, to the byte."""

import json
from pathlib import Path

import bpy
import numpy as np
import pytest
from PIL import Image

from engine_shot import engine_python, shot, strip_snapshot, strips_of  # noqa: F401

FEATHER_PX = 3  # the engine's promise: farther than this from every regenerated object, the plate exactly


def frames_in(folder: Path) -> dict:
    return {p.name: np.asarray(Image.open(p).convert("RGB")) for p in sorted(folder.glob("*.png"))}


def take_folder_of(strip) -> Path:
    return Path(bpy.path.abspath(strip["neural_previs"]["take"]))


def selection_masks(take: Path, objects: list[str]) -> dict:
    """Per frame file, True where the bundle's id mask shows one of `objects` (the take's own bundle)."""
    record = json.loads((take / "take.json").read_text())
    bundle = Path(record["bundle"]["path"])
    shot_json = json.loads((bundle / "shot.json").read_text())
    ids = [o["id"] for o in shot_json["objects"] if o["name"] in objects]
    return {f"{f['frame']:04d}.png": np.isin(np.asarray(Image.open(bundle / f["mask"])), ids) for f in shot_json["frames"]}


def distance_to(selected: np.ndarray) -> np.ndarray:
    ys, xs = np.mgrid[0 : selected.shape[0], 0 : selected.shape[1]]
    if not selected.any():
        return np.full(selected.shape, np.inf)
    return np.sqrt(((ys[..., None] - ys[selected]) ** 2 + (xs[..., None] - xs[selected]) ** 2).min(axis=-1))


def assert_kept_exactly(take: Path, plate: dict, objects: list[str]) -> None:
    frames = frames_in(take / "frames")
    assert frames.keys() == plate.keys() and frames
    regenerated = 0
    for name, selected in selection_masks(take, objects).items():
        changed = np.any(frames[name] != plate[name], axis=-1)
        assert not changed[distance_to(selected) > FEATHER_PX].any(), name  # the plate, to the byte
        regenerated += changed[selected].sum()
    assert regenerated > 0  # on the objects: the model's pixels


def test_use_as_plate_feeds_selective_mode(shot):
    assert bpy.ops.neural_previs.generate() == {"FINISHED"}
    assert bpy.ops.neural_previs.take_use_as_plate(strip="Scene_take_001") == {"FINISHED"}
    settings = shot.neural_previs
    settings.mode, settings.selective_objects, settings.seed = "selective", "Crate", 12
    assert bpy.ops.neural_previs.generate() == {"FINISHED"}
    first, second = strips_of(shot)["Scene_take_001"], strips_of(shot)["Scene_take_002"]
    record = second["neural_previs"].to_dict()
    assert Path(record["params"]["plate"]) == take_folder_of(first)
    assert record["settings"]["plate_take"] == "Scene_take_001"
    assert_kept_exactly(take_folder_of(second), frames_in(take_folder_of(first) / "frames"), ["Crate"])


def test_selective_without_a_plate_names_the_three_ways(shot, tmp_path):
    settings = shot.neural_previs
    settings.mode, settings.selective_objects, settings.plate_source, settings.plate_take = "selective", "Crate", "TAKE", ""
    before = strip_snapshot(shot)
    with pytest.raises(RuntimeError) as error:
        bpy.ops.neural_previs.generate()
    message = str(error.value).strip().removeprefix("Error: ")
    assert message == (
        "Selective mode keeps the rest of each frame from a plate: pick a take under Plate, choose a folder of frames, "
        "or choose Render Plate"
    )
    assert strip_snapshot(shot) == before and not (tmp_path / "takes").exists()


def render_settings(scene):
    render = scene.render
    image = render.image_settings
    return (render.engine, render.filepath, render.use_sequencer, render.use_compositing, render.resolution_x, render.resolution_y,
            image.file_format, image.color_mode, image.color_depth, image.exr_codec, scene.frame_current, scene.camera.name)


def test_render_plate_renders_the_scene_and_keeps_it_exactly(shot, tmp_path):
    shot.render.engine = "BLENDER_WORKBENCH"
    shot.render.filepath = "/tmp/the_artists_own_output_####"
    shot.render.image_settings.file_format = "OPEN_EXR"
    shot.render.image_settings.color_depth = "32"
    shot.render.image_settings.exr_codec = "PIZ"
    shot.frame_set(1003)
    before = render_settings(shot)
    settings = shot.neural_previs
    settings.mode, settings.selective_objects, settings.plate_source = "selective", "Ball", "RENDER"
    assert bpy.ops.neural_previs.generate() == {"FINISHED"}
    assert render_settings(shot) == before  # the artist's scene, exactly as it was
    take = take_folder_of(strips_of(shot)["Scene_take_001"])
    plate_folder = take.with_name(f"{take.name}_plate")
    plate = frames_in(plate_folder)
    assert sorted(plate) == [f"{frame}.png" for frame in range(1001, 1006)]
    assert_kept_exactly(take, plate, ["Ball"])

    # The plate is the scene's own render: the same frame rendered here, the usual way, gives the same pixels.
    shot.render.filepath = str(tmp_path / "check_")
    shot.render.image_settings.file_format = "PNG"
    shot.render.image_settings.color_mode = "RGB"
    shot.render.image_settings.color_depth = "8"
    shot.render.use_sequencer = False
    shot.frame_set(1004)
    bpy.ops.render.render(write_still=True)
    (check,) = tmp_path.glob("check_*.png")
    assert np.array_equal(np.asarray(Image.open(check).convert("RGB")), plate["1004.png"])
