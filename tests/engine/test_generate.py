"""End-to-end generation in-process with tiny-random (the real WanVACEPipeline with tiny weights)."""

import json
import re
import subprocess
import threading

import imageio_ffmpeg
import numpy as np
import pytest
from PIL import Image

from engine.errors import BundleError, GenerationCancelled, ParamsError, TakeError
from engine.generation.generate import generate_take
from engine.formats.params import GenerateParams
from engine_testlib import make_bundle, write_depth_exr


def tiny(**fields) -> GenerateParams:
    return GenerateParams(**{"prompt": "rainy neon street", "model": "tiny-random", "seed": 7, "steps": 2, **fields})


class Recorder:
    def __init__(self):
        self.events = []

    def __call__(self, phase, step, total, **extra):
        self.events.append((phase, step, total, extra))


def frames_of(take):
    return {p.name: np.asarray(Image.open(p)) for p in sorted((take / "frames").iterdir())}


def test_end_to_end_take(session, bundle, tmp_path):
    recorder = Recorder()
    summary = generate_take(session, bundle, tmp_path / "take", tiny(), recorder)
    take = tmp_path / "take"
    assert summary.path == take and summary.frames == 9 and summary.synthetic
    assert sorted(p.name for p in take.iterdir()) == ["frames", "preview.mp4", "qc.json", "qc.png", "take.json"]
    record = json.loads((take / "take.json").read_text())
    assert record["schema"] == "neural_previs.take/1"
    assert record["resolved"] == {"backend": "tiny-random", "steps": 2, "guidance": 5.0, "seed": 7, "window_seeds": "seed + window index",
                                  "quality": "final"}
    assert record["loras"] == []
    assert record["params"]["prompt"] == "rainy neon street"
    assert record["model"]["name"] == "tiny-random" and record["model"]["revision"].startswith("tiny-random/")
    assert record["model"]["fingerprint"].startswith("sha256-fp:") and "noise" in record["model"]["note"]
    assert record["bundle"]["hash"].startswith("sha256:") and record["bundle"]["frame_count"] == 9
    assert record["bundle"]["schema"] == "neural_previs.bundle/1"  # the bundle's own step (this test writes a 1.0 bundle)
    assert set(record["timings_seconds"]) == {"loading", "encoding", "denoising", "decoding", "writing", "total"}
    assert record["peak_memory"]["host_process_peak_bytes"] > 0
    assert record["engine_version"] and "noise" in record["note"]
    assert [f["frame"] for f in record["frames"]] == list(range(1, 10))
    # phases in order, denoising steps counted from 1
    phases = [event[0] for event in recorder.events]
    assert phases[0] == "loading" and phases[-1] == "writing"
    order = ["loading", "encoding", "denoising", "decoding", "writing"]
    assert [order.index(p) for p in phases] == sorted(order.index(p) for p in phases)
    assert [e[1] for e in recorder.events if e[0] == "denoising"] == [1, 2]
    assert any("noise" in e[3].get("note", "") for e in recorder.events)


def preview_info(path):
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    probe = subprocess.run([ffmpeg, "-hide_banner", "-i", str(path)], capture_output=True, text=True)
    stream = next(line for line in probe.stderr.splitlines() if "Video:" in line)
    frames, _ = imageio_ffmpeg.count_frames_and_secs(str(path))
    return stream, frames


@pytest.mark.parametrize(
    "width, height, frames",
    [
        (45, 31, list(range(1001, 1012))),  # odd size, 1001-based, 11 frames: not 4k+1, two windows
        (90, 70, [1, 2, 3]),  # more pixels than tiny-random's area: scaled down and back; 3 -> 5 frames
        (17, 16, [7]),  # a single frame
        (33, 17, list(range(-2, 21))),  # 23 frames from a negative frame number: several windows
        (48, 32, [1001, 1003, 1005, 1007, 1009, 1011]),  # frame_step 2
    ],
)
def test_awkward_shots_have_exact_frames_and_sizes(session, tmp_path, width, height, frames):
    root = make_bundle(tmp_path / "b", width=width, height=height, frames=frames, fps=23.976)
    generate_take(session, root, tmp_path / "take", tiny(), Recorder())
    images = frames_of(tmp_path / "take")
    assert list(images) == sorted(f"{f:04d}.png" for f in frames)
    assert all(image.shape == (height, width, 3) and image.dtype == np.uint8 for image in images.values())
    record = json.loads((tmp_path / "take" / "take.json").read_text())
    assert [f["file"] for f in record["frames"]] == [f"frames/{f:04d}.png" for f in frames]
    stream, count = preview_info(tmp_path / "take" / "preview.mp4")
    assert "h264" in stream and "yuv420p" in stream and "23.98 fps" in stream
    assert f"{width + width % 2}x{height + height % 2}" in stream
    assert count == len(frames)


def test_same_seed_same_frames_other_seed_other_frames(session, tmp_path):
    root = make_bundle(tmp_path / "bundle", frames=list(range(1, 12)))  # two windows
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        generate_take(session, root, tmp_path / name, tiny(seed=seed), Recorder())
    a, b, c = (frames_of(tmp_path / name) for name in "abc")
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert any(not np.array_equal(a[k], c[k]) for k in a)


def test_seed_is_drawn_and_recorded_when_absent(session, bundle, tmp_path):
    generate_take(session, bundle, tmp_path / "take", tiny(seed=None), Recorder())
    seed = json.loads((tmp_path / "take" / "take.json").read_text())["resolved"]["seed"]
    # Blender stores seeds in 32-bit properties; a drawn seed from the old 0..2**63 range would not fit
    # (it was above 2**31 with probability 1 - 2**-32).
    assert 0 <= seed <= 2**31 - 1
    generate_take(session, bundle, tmp_path / "again", tiny(seed=seed), Recorder())
    first, again = frames_of(tmp_path / "take"), frames_of(tmp_path / "again")
    assert all(np.array_equal(first[k], again[k]) for k in first)


def test_selective_mode_with_plate_and_reference(session, bundle, tmp_path):
    plate = tmp_path / "plate"
    plate.mkdir()
    for frame in range(1, 10):
        Image.new("RGB", (48, 32), (200, 20, 20)).save(plate / f"{frame:04d}.png")
    Image.new("RGB", (64, 64), (0, 0, 255)).save(tmp_path / "ref.png")
    params = tiny(mode="selective", objects=["Cube"], plate=str(plate), reference=str(tmp_path / "ref.png"))
    generate_take(session, bundle, tmp_path / "take", params, Recorder())
    record = json.loads((tmp_path / "take" / "take.json").read_text())
    assert record["params"]["objects"] == ["Cube"] and record["params"]["mode"] == "selective"
    assert len(frames_of(tmp_path / "take")) == 9


def distance_to_selection(selected: np.ndarray) -> np.ndarray:
    """Brute force: for every pixel centre, the Euclidean distance to the nearest selected one."""
    ys, xs = np.mgrid[0 : selected.shape[0], 0 : selected.shape[1]]
    sy, sx = ys[selected], xs[selected]
    if not len(sy):
        return np.full(selected.shape, np.inf)
    return np.sqrt(((ys[..., None] - sy) ** 2 + (xs[..., None] - sx) ** 2).min(axis=-1))


def test_selective_take_is_its_plate_to_the_byte_outside_the_selection(session, bundle, tmp_path):
    generate_take(session, bundle, tmp_path / "plate_take", tiny(seed=3), Recorder())
    params = tiny(mode="selective", objects=["Cube"], plate=str(tmp_path / "plate_take"), seed=4)
    generate_take(session, bundle, tmp_path / "take", params, Recorder())
    plate, take = frames_of(tmp_path / "plate_take"), frames_of(tmp_path / "take")
    assert plate.keys() == take.keys()
    feathered = 0
    for name in take:
        with Image.open(bundle / "mask" / name) as mask:
            selected = np.asarray(mask) == 1  # the Cube's id in the test bundle
        distance = distance_to_selection(selected)
        changed = np.any(take[name] != plate[name], axis=-1)
        assert not changed[distance >= 3].any()  # beyond the 3-pixel feather: the plate, exactly
        assert changed[selected].mean() > 0.9  # on the Cube: the model's pixels
        feathered += changed[(distance > 0) & (distance < 3)].sum()
    assert feathered > 0  # the seam is blended, not cut


def test_selective_mode_without_a_plate_is_refused(session, bundle, tmp_path):
    Image.new("RGB", (8, 8)).save(tmp_path / "ref.png")
    with pytest.raises(ParamsError, match="plate"):
        generate_take(session, bundle, tmp_path / "take", tiny(mode="selective", objects=["Cube"], reference=str(tmp_path / "ref.png")), Recorder())
    assert not (tmp_path / "take").exists()


def test_cancel_stops_within_one_step_and_writes_nothing(session, tmp_path):
    root = make_bundle(tmp_path / "b", frames=list(range(1, 12)))
    cancel = threading.Event()
    steps = []

    def report(phase, step, total, **extra):
        if phase == "denoising":
            steps.append(step)
            cancel.set()  # cancel as soon as the first step reports

    with pytest.raises(GenerationCancelled):
        generate_take(session, root, tmp_path / "take", tiny(steps=3), report, cancel)
    assert steps == [1]
    assert list(tmp_path.iterdir()) == [tmp_path / "b"]  # no take, no partial folder


def test_existing_take_is_never_overwritten(session, bundle, tmp_path):
    (tmp_path / "take").mkdir()
    (tmp_path / "take" / "keep.txt").write_text("mine")
    with pytest.raises(TakeError, match="already exists"):
        generate_take(session, bundle, tmp_path / "take", tiny(), Recorder())
    assert (tmp_path / "take" / "keep.txt").read_text() == "mine"


def test_missing_take_parent(session, bundle, tmp_path):
    with pytest.raises(TakeError, match="does not exist"):
        generate_take(session, bundle, tmp_path / "no" / "take", tiny(), Recorder())


def test_bad_bundle_fails_before_loading_and_leaves_nothing(session, tmp_path):
    root = make_bundle(tmp_path / "b", frames=[1, 2])
    depth = np.full((32, 48), 2.0, np.float32)
    depth[0, 0] = np.nan
    write_depth_exr(root / "depth" / "0002.exr", depth)
    recorder = Recorder()
    with pytest.raises(BundleError, match="NaN"):
        generate_take(session, root, tmp_path / "take", tiny(), recorder)
    assert recorder.events == [] and not (tmp_path / "take").exists()


@pytest.mark.parametrize(
    "fields, error, fragment",
    [
        ({"mode": "selective", "objects": ["Teapot"], "plate": "PLATE"}, BundleError, "Teapot"),
        ({"reference": "/does/not/exist.png"}, ParamsError, "does not exist"),
        ({"mode": "selective", "objects": ["Cube"], "plate": "PLATE"}, ParamsError, "no frame 1"),
        ({"offload": "model", "device": "cpu"}, ParamsError, "--offload none"),
    ],
)
def test_bad_params_give_one_line(session, bundle, tmp_path, fields, error, fragment):
    Image.new("RGB", (8, 8)).save(tmp_path / "ref.png")
    (tmp_path / "plate").mkdir()
    fields = {k: {"REF": str(tmp_path / "ref.png"), "PLATE": str(tmp_path / "plate")}.get(v, v) if isinstance(v, str) else v for k, v in fields.items()}
    with pytest.raises(error, match=re.escape(fragment)) as caught:
        generate_take(session, bundle, tmp_path / "take", tiny(**fields), Recorder())
    assert "\n" not in caught.value.message and not (tmp_path / "take").exists()


def test_warm_session_does_not_reload(session, bundle, tmp_path):
    generate_take(session, bundle, tmp_path / "one", tiny(), Recorder())
    generate_take(session, bundle, tmp_path / "two", tiny(), Recorder())
    record = json.loads((tmp_path / "two" / "take.json").read_text())
    assert record["warm"] is True
