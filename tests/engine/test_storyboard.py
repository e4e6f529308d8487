"""Issue 15 §1 and §3: keyframes pinned at frames, and a control per object, on tiny-random takes.

- the frames the mask sampling reads are diffusers' own (``WanVACEPipeline.prepare_masks``);
- exact keyframes at the first, a middle and the last frame are the image in the take, byte for byte,
  in a one-window and a multi-window shot; guide keyframes leave the model's frame;
- through the conformance harness, the engine's take equals stock ``WanVACEPipeline`` fed the
  documented keyframe and pose-control convention (``conformance.stock_arguments``);
- bad keyframes and controls fail in one line before any model is loaded;
- take.json records keyframes (with the image's sha256) and controls.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image, ImageFilter

import conformance  # noqa: E402
from conformance import FRAME_TOLERANCE, Shot, engine_output, levels, load_stock_pipeline, stock_arguments, stock_output
from engine.errors import ParamsError
from engine.formats.params import GenerateParams
from engine.generation.generate import check_inputs
from engine.generation.keyframes import held_offsets, mask_sampled_frames, parse_keyframe_argument
from engine.generation.snapping import FrameRule, plan_windows
from engine_testlib import edit_shot, make_bundle

SEED = 5


def board(path, width=48, height=32, salt=0):
    """A keyframe image: a distinct, non-constant picture."""
    ys, xs = np.mgrid[0:height, 0:width]
    pixels = np.stack([(xs * 9 + salt) % 256, (ys * 13 + 3 * salt) % 256, (xs * ys + salt * 50) % 256], axis=2)
    Image.fromarray(pixels.astype(np.uint8)).save(path)
    return path


def posed(root, frames):
    """Make the bundle's Cube (id 1) a character's geometry: skeletons and random pose images."""
    rng = np.random.default_rng(1)
    (root / "pose").mkdir()
    for frame in frames:
        Image.fromarray(rng.integers(0, 256, (32, 48, 3), dtype=np.uint8)).save(root / "pose" / f"{frame:06d}.png")

    def add(shot):
        shot["schema"] = "neural_previs.bundle/1.1"
        for entry in shot["frames"]:
            points = [[4.5 + 2 * i, 2.5 + i, True] for i in range(18)]
            points[5] = [None, None, False]
            entry["skeletons"] = [{"object": "Hero", "ids": [1], "keypoints": points}]
            entry["pose"] = f"pose/{entry['frame']:06d}.png"

    edit_shot(root, add)
    return root


@pytest.fixture(scope="module")
def stock(engine_cache):
    from engine.backends import tiny_random

    return load_stock_pipeline(tiny_random.built_folder(engine_cache))


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    root = tmp_path_factory.mktemp("storyboard")
    one = make_bundle(root / "one", frames=list(range(1001, 1010)))  # 9 frames: one window of tiny-random
    many = make_bundle(root / "many", frames=list(range(1001, 1018)))  # 17 frames: three windows
    posed(one, range(1001, 1010))
    boards = [board(root / f"board{i}.png", salt=40 * i) for i in range(3)]
    base = GenerateParams(prompt="rainy neon street", model="tiny-random", seed=SEED, steps=2, guidance=5.0)
    return dict(root=root, one=one, many=many, boards=boards, base=base)


def pins(boards, frames, mode="exact"):
    return [{"frame": f, "image": str(b), "mode": mode} for f, b in zip(frames, boards)]


# --------------------------------------------------------------------- the mask's latent sampling


@pytest.mark.parametrize("frames", [5, 9, 13, 17, 81])
def test_held_frames_reach_the_latent_mask_of_stock_prepare_masks(stock, frames):
    """For every keyframe position, the mask held black makes one latent frame's mask channel black,
    as diffusers' own ``prepare_masks`` samples it; a keyframe black on its own frame alone would miss."""
    import torch

    assert mask_sampled_frames(frames, 4)[0] != 0 and mask_sampled_frames(frames, 4)[-1] != frames - 1
    for k in range(frames):
        mask = torch.ones(1, 3, frames, 32, 48)
        mask[:, :, list(held_offsets(k, frames, 4))] = 0
        latent = stock.prepare_masks(mask, [[]])  # as __call__ passes it without a reference: (1, 64, latent frames, 4, 6)
        assert latent.shape[2] == (frames + 3) // 4
        assert (latent[0, :, :, :, :].amax(dim=(0, 2, 3)) == 0).any(), k
    lone = torch.ones(1, 3, frames, 32, 48)
    lone[:, :, 0] = 0
    assert (stock.prepare_masks(lone, [[]]) == 1).all()  # the first frame alone never reaches the mask channel


def test_keyframe_argument():
    assert parse_keyframe_argument("1024=/b/a.png") == {"frame": 1024, "image": "/b/a.png", "mode": "exact"}
    assert parse_keyframe_argument("1001=C:\\boards\\a b.png:guide") == {"frame": 1001, "image": "C:\\boards\\a b.png", "mode": "guide"}
    with pytest.raises(ParamsError, match="FRAME=IMAGE"):
        parse_keyframe_argument("a.png")


def test_windows_cover_every_frame_with_keyframes_preferred_inside():
    rule = FrameRule(4, 1)
    for count in (17, 30, 61):
        for keyframe in range(count):
            windows = plan_windows(count, 9, 3, rule, prefer_inside=[keyframe])
            covered = sorted({i for w in windows for i in range(w.start, w.stop)})
            assert covered == list(range(count))
            assert all(w.carried == windows[i - 1].stop - w.start for i, w in enumerate(windows) if i)
            assert all(w.carried >= 3 for w in windows[1:])


# ------------------------------------------------------------------------------------ exactness


@pytest.mark.parametrize("shot", ["one", "many"])
def test_exact_keyframes_are_the_image_to_the_byte(session, scene, shot, tmp_path):
    frames = [1001, 1009, 1017] if shot == "many" else [1001, 1005, 1009]  # first, middle, last
    params = replace(scene["base"], keyframes=pins(scene["boards"], frames))
    take = engine_output(session, Shot(scene[shot], params), tmp_path / "take")
    numbers = [f["frame"] for f in take.record["frames"]]
    for frame, image in zip(frames, scene["boards"]):
        assert np.array_equal(take.frames[numbers.index(frame)], np.asarray(Image.open(image).convert("RGB")))
    assert (len(take.record["plan"]["windows"]) > 1) == (shot == "many")
    assert len(take.frames) == len(numbers) == (17 if shot == "many" else 9)
    recorded = take.record["keyframes"]
    assert [k["frame"] for k in recorded] == frames and all(k["mode"] == "exact" for k in recorded)
    assert recorded[0]["image_sha256"] == hashlib.sha256(scene["boards"][0].read_bytes()).hexdigest()
    assert take.record["controls"]["objects"] == {}


def test_guide_keyframe_is_the_models_frame_and_changes_the_take(session, scene, tmp_path):
    plain = engine_output(session, Shot(scene["one"], scene["base"]), tmp_path / "plain")
    guided = engine_output(session, Shot(scene["one"], replace(scene["base"], keyframes=pins(scene["boards"], [1005], "guide"))),
                           tmp_path / "guided")
    image = np.asarray(Image.open(scene["boards"][0]).convert("RGB"))
    assert levels(guided.frames[4], image) > 20  # not pasted: tiny-random's frame
    assert levels(guided.frames, plain.frames) > 5  # but conditioned on it
    assert guided.record["keyframes"][0]["mode"] == "guide"


def test_an_image_of_another_size_covers_the_frame_centre_cropped(session, scene, tmp_path):
    wide = scene["root"] / "wide.png"
    board(wide, width=200, height=100, salt=7)  # scaled by 0.32 to 64x32, 8 columns cropped each side
    params = replace(scene["base"], keyframes=[{"frame": 1003, "image": str(wide)}])
    take = engine_output(session, Shot(scene["one"], params), tmp_path / "take")
    with Image.open(wide) as image:
        expected = np.asarray(image.convert("RGB").resize((64, 32), Image.LANCZOS))[:, 8:56]
    assert np.array_equal(take.frames[2], expected)


# ------------------------------------------------------------------------------------ conformance


@pytest.mark.parametrize("case", ["keyframes", "pose"])
def test_the_take_equals_stock_fed_the_documented_inputs(session, stock, scene, case, tmp_path):
    base = replace(scene["base"], negative_prompt="dark", steps=3)
    if case == "keyframes":
        params = replace(base, keyframes=pins(scene["boards"], [1001, 1005, 1009]) [:2] + pins(scene["boards"][2:], [1009], "guide"))
    else:
        params = replace(base, controls={"Hero": "pose"}, keyframes=pins(scene["boards"], [1006]))
    shot = Shot(scene["one"], params)
    arguments = stock_arguments(shot)
    masks = [np.asarray(m) for m in arguments["mask"]]
    if case == "keyframes":  # the documented frames: 0-1 (first), 4 (middle, itself read), 7-8 (last)
        assert [i for i, m in enumerate(masks) if not m.any()] == [0, 1, 4, 7, 8]
    else:
        pose = np.asarray(Image.open(scene["one"] / "pose" / "001001.png").convert("RGB"))
        first = np.asarray(arguments["video"][0])
        assert (first == pose).all(axis=2).mean() > 0.1 and not np.array_equal(first, pose)
    # The engine's own pipeline inputs are the documented ones, value for value.
    engine_window = engine_window_inputs(shot, tmp_path)[0][0]
    assert len(engine_window.control) == len(arguments["video"]) == 9
    for control, generate, video, mask in zip(engine_window.control, engine_window.generate, arguments["video"], arguments["mask"]):
        assert np.array_equal(control, np.asarray(video)) and np.array_equal(generate, np.asarray(mask) > 0)
    take = engine_output(session, shot, tmp_path / "take")
    expected = stock_output(stock, shot)
    assert levels(take.frames, expected) <= FRAME_TOLERANCE
    plain = stock_output(stock, Shot(scene["one"], base))
    assert levels(expected, plain) > 20  # the convention changes the stock call's frames
    if case == "pose":
        assert take.record["controls"]["objects"] == {"Hero": "pose"} and take.record["controls"]["pose_armatures"] == {"Hero": [1]}


def engine_window_inputs(shot: Shot, tmp_path):
    """Every window's ``WindowInputs`` as generate_take builds them (no model: the conditioning only)."""
    from engine.backends import get_spec
    from engine.generation.shot import window_inputs
    from engine.generation.snapping import plan_size

    inputs = check_inputs(shot.bundle, tmp_path / "never-written", shot.params)
    spec = get_spec("tiny-random")
    bundle = inputs.bundle
    size = plan_size(bundle.width, bundle.height, spec.size_multiple, 10**9)
    windows = plan_windows(len(bundle.frames), spec.window, spec.overlap, spec.frame_rule,
                           prefer_inside=[k.index for k in inputs.shot.keyframes])
    output = np.zeros((len(bundle.frames), bundle.height, bundle.width, 3), np.uint8)
    return [window_inputs(inputs.shot, w, size, output, 0, carry_pixels=True) for w in windows], windows


def test_every_window_containing_a_keyframe_is_conditioned_on_it(scene, tmp_path):
    frames = [1001, 1006, 1009, 1012, 1017]
    shot = Shot(scene["many"], replace(scene["base"], keyframes=pins(scene["boards"] * 2, frames)))
    inputs, windows = engine_window_inputs(shot, tmp_path)
    assert len(windows) == 3
    covered = held = 0
    for window, window_in in zip(windows, inputs):
        for frame, image in zip(frames, scene["boards"] * 2):
            index = frame - 1001
            if window.start <= index < window.stop:
                offset = index - window.start
                assert np.array_equal(window_in.control[offset], pixels_of(image)) and not window_in.generate[offset].any()
                covered += 1
        # and the frames held around each keyframe, by the documented rule applied to this window's own frames
        numbers = list(range(1001 + window.start, 1001 + window.stop))
        for offset, image in conformance.keyframe_holds(shot, numbers).items():
            assert np.array_equal(window_in.control[offset], image) and not window_in.generate[offset].any(), (window, offset)
            held += 1
    assert covered >= len(frames) + 1  # some keyframe lies in two windows' overlap
    assert held > covered  # frames were held beside the keyframes themselves


def pixels_of(path):
    return np.asarray(Image.open(path).convert("RGB"))


# ------------------------------------------------------------------------------------- controls


def test_keep_control_keeps_the_plate_outside_the_feather(session, scene, tmp_path):
    plate = tmp_path / "plate"
    plate.mkdir()
    for frame in range(1001, 1010):
        board(plate / f"{frame:04d}.png", salt=frame % 17)
    params = replace(scene["base"], controls={"Floor": "keep", "Hero": "pose"}, plate=str(plate))
    take = engine_output(session, Shot(scene["one"], params), tmp_path / "take")
    for index, frame in enumerate(range(1001, 1010)):
        ids = np.asarray(Image.open(scene["one"] / "mask" / f"{frame:04d}.png"))
        generated = ids != 2  # everything but the kept floor
        # 3 px or more from every generated pixel: the plate's own pixels
        far = ~np.asarray(Image.fromarray(generated.astype(np.uint8) * 255).filter(ImageFilter.MaxFilter(7))).astype(bool)
        plate_pixels = np.asarray(Image.open(plate / f"{frame:04d}.png").convert("RGB"))
        assert far.any() and np.array_equal(take.frames[index][far], plate_pixels[far])


@pytest.mark.parametrize("change, fragment", [
    (dict(keyframes=[{"frame": 1020, "image": "BOARD"}]), "keyframe at frame 1020 is outside the shot (frames 1001-1009)"),
    (dict(keyframes=[{"frame": 1002, "image": "MISSING"}]), "does not exist"),
    (dict(keyframes=[{"frame": 1002, "image": "NOTANIMAGE"}]), "is not a readable image"),
    (dict(keyframes=[{"frame": 1002, "image": "BOARD", "mode": "soft"}]), "mode must be exact or guide"),
    (dict(controls={"Nobody": "pose"}), "control for Nobody: no such object in this bundle"),
    (dict(controls={"Floor": "pose"}), "Floor has no skeleton to pose"),
    (dict(controls={"Floor": "keep"}), "there is no plate"),
    (dict(controls={"Floor": "shiny"}), "must be depth, pose or keep"),
])
def test_bad_keyframes_and_controls_give_one_line_before_loading(scene, tmp_path, change, fragment):
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    for entry in change.get("keyframes", []):
        entry["image"] = {"BOARD": str(scene["boards"][0]), "MISSING": str(tmp_path / "none.png"), "NOTANIMAGE": str(text)}[entry["image"]]
    with pytest.raises(ParamsError) as error:
        check_inputs(scene["one"], tmp_path / "take", replace(scene["base"], **change))
    assert fragment in error.value.message and "\n" not in error.value.message
    assert not (tmp_path / "take").exists()


def test_params_round_trip_through_json(scene):
    params = replace(scene["base"], keyframes=pins(scene["boards"], [1001]), controls={"Hero": "pose"})
    again = GenerateParams.from_dict(json.loads(json.dumps(params.to_dict())))
    assert again == params
    again.check()
