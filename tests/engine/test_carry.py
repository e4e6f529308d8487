"""Carry (issue 16 §3, §4) on the closed-form set (analytic_set.py) and the tiny-random model.

Within a take: a window after the first keeps (mask black) exactly the pixels that reprojection carries from the
frames already generated, with their colours; frames generated equal the plan. Across shots: a shot generated with
``plate_from`` a take made of true frames of the set keeps, exactly, true colours of its own frames where both
cameras see the same rigid surfaces, and nothing on a deforming object. (tests/blender/test_plate_from.py does the
same with Cycles renders.)"""

import json

import numpy as np
import pytest
from PIL import Image

import analytic_set as sets
from engine.errors import ParamsError
from engine.formats.bundle import read_bundle
from engine.formats.params import GenerateParams
from engine.generation import carry
from engine.generation.generate import generate_take
from engine.generation.reprojection import frame_view, reproject
from engine.generation.shot import build_shot_conditioning, window_inputs
from engine.generation.snapping import FrameRule, plan_size, plan_windows

TINY = dict(prompt="neon", model="tiny-random", seed=5, steps=1)
FRAMES = 12  # tiny-random windows are 9 frames carrying >= 3: two windows


@pytest.fixture(scope="module")
def shot():
    return sets.render_shot(FRAMES)


@pytest.fixture(scope="module")
def bundle_dir(shot, tmp_path_factory):
    return sets.write_bundle(tmp_path_factory.mktemp("carry") / "bundle", shot)


def test_new_frames_keep_exactly_what_reprojection_carries(shot, bundle_dir):
    bundle = read_bundle(bundle_dir)
    conditioning = build_shot_conditioning(bundle, GenerateParams(**TINY))
    plan = plan_size(bundle.width, bundle.height, 16, 64 * 64)
    assert (plan.work_width, plan.work_height) == (bundle.width, bundle.height)  # pixels compare directly
    first, second = plan_windows(FRAMES, 9, 3, FrameRule(4, 1))
    output = np.stack([frame.image for frame in shot])  # as if the first window had generated the true frames
    output[first.stop :] = 0  # not generated yet: must never be carried
    inputs = window_inputs(conditioning, second, plan, output, seed=0, carry_pixels=True)
    assert inputs.frames == second.generated
    checked = 0
    for offset in range(second.carried, second.length):
        index = second.start + offset
        target = frame_view(bundle, index)
        expected = np.zeros(target.shape, bool)
        colours = np.zeros((*target.shape, 3), np.float32)
        for source in carry.carry_sources(first.stop):
            assert source < first.stop
            result = reproject(output[source], frame_view(bundle, source), target)
            new = result.valid & ~expected
            colours[new], expected = result.image[new], expected | new
        assert expected.mean() > 0.3
        # mask black exactly where reprojection is valid, depth where it is not
        np.testing.assert_array_equal(~inputs.generate[offset], expected)
        np.testing.assert_array_equal(inputs.control[offset][expected], np.round(colours[expected]).astype(np.uint8))
        np.testing.assert_array_equal(inputs.control[offset][~expected], conditioning.depth[index][~expected])
        # and what is kept is the set's true colour there
        error = np.abs(inputs.control[offset][expected].astype(float) - shot[index].image[expected].astype(float))
        assert error.mean() <= 2.0
        checked += 1
    assert checked == second.length - second.carried


def test_the_first_window_carries_nothing(shot, bundle_dir):
    bundle = read_bundle(bundle_dir)
    conditioning = build_shot_conditioning(bundle, GenerateParams(**TINY))
    plan = plan_size(bundle.width, bundle.height, 16, 64 * 64)
    first = plan_windows(FRAMES, 9, 3, FrameRule(4, 1))[0]
    inputs = window_inputs(conditioning, first, plan, np.stack([f.image for f in shot]), seed=0, carry_pixels=True)
    assert all(generate.all() for generate in inputs.generate)


def test_frames_generated_are_the_plan(session, bundle_dir, tmp_path, monkeypatch):
    from engine.backends import wan_vace

    calls = []
    denoise = wan_vace.Backend.denoise

    def counting(self, pipeline, window, *args, **kwargs):
        calls.append((window.frames, int((~np.stack(window.generate)).sum())))
        return denoise(self, pipeline, window, *args, **kwargs)

    monkeypatch.setattr(wan_vace.Backend, "denoise", counting)
    take = generate_take(session, bundle_dir, tmp_path / "take", GenerateParams(**TINY), lambda *a, **k: None).path
    plan = json.loads((take / "take.json").read_text())["plan"]
    windows = plan_windows(FRAMES, 9, 3, FrameRule(4, 1))
    assert [frames for frames, _ in calls] == [w.generated for w in windows] == [w["generated"] for w in plan["windows"]]
    assert plan["generated_frames"] == sum(w.generated for w in windows)
    assert plan["cost"] == round(plan["generated_frames"] / FRAMES, 4)
    assert calls[0][1] == 0 and calls[1][1] > windows[1].carried * sets.WIDTH * sets.HEIGHT  # more than the overlap kept
    assert len(list((take / "frames").iterdir())) == FRAMES and not (take / "kept").exists()


# --- plate_from -------------------------------------------------------------------------------------------------


def other_shot(count=3, moving_plate=True):
    """Shot B of the same set: another camera path, at other times of the plate's motion."""
    cameras = [sets.look_at((1.2 - 0.3 * i, -3.2, 3.6), (0.0, 0.6 + 0.1 * i, 0.0)) for i in range(count)]
    return [sets.render(w2c, sets.plate_pose(i + 2, moving_plate)) for i, w2c in enumerate(cameras)]


def source_take(tmp_path, shot_a, rigid_plate=True):
    bundle = sets.write_bundle(tmp_path / "take_a_bundle", shot_a, rigid_plate=rigid_plate)
    return sets.write_take(tmp_path / "take_a", bundle, [frame.image for frame in shot_a])


def test_plate_from_keeps_true_colours_exactly_where_both_cameras_see_the_set(session, shot, tmp_path):
    take_a = source_take(tmp_path, shot[:6])
    shot_b = other_shot()
    bundle_b = sets.write_bundle(tmp_path / "b_bundle", shot_b, first_frame=1)
    params = GenerateParams(**TINY, plate_from=[str(take_a)])
    take_b = generate_take(session, bundle_b, tmp_path / "take_b", params, lambda *a, **k: None).path
    record = json.loads((take_b / "take.json").read_text())
    kept_record = record["plate_from"]
    assert kept_record["sources"][0]["take"] == str(take_a)
    assert kept_record["sources"][0]["hash"].startswith("sha256:")
    assert kept_record["sources"][0]["bundle"]["hash"] == json.loads((take_a / "take.json").read_text())["bundle"]["hash"]
    assert record["params"]["plate_from"] == [str(take_a)]
    b = read_bundle(bundle_b)
    kept_layers = carry.set_pixels(b, carry.FrameViews(b), [carry.open_source_take(str(take_a))])
    for index, (frame, entry) in enumerate(zip(shot_b, kept_record["frames"])):
        assert entry["kept"] == f"kept/{index + 1:04d}.png" == record["frames"][index]["file"].replace("frames", "kept")
        kept = np.asarray(Image.open(take_b / entry["kept"]))
        assert kept.dtype == np.uint8 and kept.shape == frame.ids.shape
        exact = kept == 255
        assert entry["kept_fraction"] == round(float(exact.mean()), 4) > 0.2
        output = np.asarray(Image.open(take_b / record["frames"][index]["file"]))
        # exactly the source take's pixels carried into B (the model's output replaced after decoding)
        np.testing.assert_array_equal(output[exact], kept_layers[index].image[exact])
        # kept pixels are B's own true frame, within the reprojection's tolerance
        error = np.abs(output[exact].astype(float) - frame.image[exact].astype(float))
        assert error.mean() <= 2.0 and error.max() <= 12
        # and they cover the surfaces some source frame's camera sees (interior: the feather eats 3 pixels at edges)
        seen = np.zeros(frame.ids.shape, bool)
        for source in shot[:6]:
            seen |= sets.seen_from(source, frame.points, frame.ids, lambda object_id, s=source: s.plate @ np.linalg.inv(frame.plate) if object_id == sets.PLATE else np.eye(4))
        assert not (exact & ~seen).any()
        assert exact.sum() >= 0.6 * seen.sum()


def test_nothing_is_kept_on_a_deforming_object(session, shot, tmp_path):
    take_a = source_take(tmp_path, shot[:6], rigid_plate=False)
    shot_b = other_shot(moving_plate=True)
    bundle_b = sets.write_bundle(tmp_path / "b_bundle", shot_b, rigid_plate=False)
    take_b = generate_take(session, bundle_b, tmp_path / "take_b", GenerateParams(**TINY, plate_from=[str(take_a)]), lambda *a, **k: None).path
    for index, frame in enumerate(shot_b):
        kept = np.asarray(Image.open(take_b / "kept" / f"{1001 + index:04d}.png"))
        assert not kept[frame.ids == sets.PLATE].any()
        assert (kept[frame.ids == sets.GROUND] == 255).mean() > 0.2


def test_a_source_take_moved_with_its_bundle_still_resolves(shot, tmp_path):
    take_a = source_take(tmp_path / "before", shot[:3])
    moved = tmp_path / "after"
    (tmp_path / "before").rename(moved)
    source = carry.open_source_take(str(moved / "take_a"))
    assert source.bundle.root == (moved / "take_a_bundle").absolute()


@pytest.mark.parametrize("problem, fragment", [("missing", "holds no take.json"), ("no motion", "no object motion")])
def test_a_bad_source_take_is_one_line_before_any_model(session, shot, tmp_path, problem, fragment):
    if problem == "missing":
        source = tmp_path / "nothing"
    else:
        bundle = sets.write_bundle(tmp_path / "take_a_bundle", shot[:2], motion=False)
        source = sets.write_take(tmp_path / "take_a", bundle, [f.image for f in shot[:2]])
    bundle_b = sets.write_bundle(tmp_path / "b_bundle", other_shot(2))
    with pytest.raises(ParamsError, match=fragment) as error:
        generate_take(session, bundle_b, tmp_path / "take_b", GenerateParams(**TINY, plate_from=[str(source)]), lambda *a, **k: None)
    assert "\n" not in str(error.value) and not (tmp_path / "take_b").exists()


def test_plate_from_on_the_command_line_and_in_the_protocol():
    from engine.cli import build_parser, params_from_args

    args = build_parser().parse_args(["generate", "b", "--out", "t", "--prompt", "p", "--plate-from", "x y", "--plate-from", "z"])
    assert params_from_args(args).plate_from == ["x y", "z"]
    assert GenerateParams.from_dict({"prompt": "p", "plate_from": ["a"]}).plate_from == ["a"]
    with pytest.raises(ParamsError, match="plate_from must be a list of take folders"):
        GenerateParams.from_dict({"prompt": "p", "plate_from": "a"}).check()

