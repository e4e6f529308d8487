"""The consistency score on takes made of true renders (Cycles, demo/textured_set.py): near 0 as rendered, about 10
where every other frame is brightened by 10 levels (and those frames flagged), high when the frames are shuffled.
Scored by the engine's own command, `python -m engine qc`, in the engine's Python."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from demo.blender_session import REPO
from engine.formats.bundle import bundle_hash, read_bundle

ENGINE_PYTHON = os.environ.get("NEURAL_PREVIS_TEST_ENGINE_PYTHON", sys.executable)


def write_take(folder, bundle_dir, images: dict):
    """A take folder as the engine writes it, its frames given."""
    (folder / "frames").mkdir(parents=True)
    entries = []
    for frame, pixels in images.items():
        Image.fromarray(pixels).save(folder / "frames" / f"{frame:04d}.png")
        entries.append({"frame": frame, "file": f"frames/{frame:04d}.png"})
    bundle = read_bundle(bundle_dir)
    record = {"schema": "neural_previs.take/1", "bundle": {"path": str(bundle.root), "hash": bundle_hash(bundle)}, "frames": entries}
    (folder / "take.json").write_text(json.dumps(record))
    return folder


def qc(take):
    result = subprocess.run([ENGINE_PYTHON, "-m", "engine", "qc", str(take)], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    report = json.loads((take / "qc.json").read_text())
    return result.stdout, report, {f["frame"]: f for f in report["frames"]}


@pytest.fixture(scope="module")
def renders(textured_renders):
    return {frame: np.asarray(Image.open(path).convert("RGB")) for frame, path in textured_renders.frames.items()}


def test_true_renders_score_near_zero(textured_renders, renders, tmp_path):
    take = write_take(tmp_path / "take_001", textured_renders.bundle, renders)
    frames_before = {p.name: p.read_bytes() for p in (take / "frames").iterdir()}
    stdout, report, by_frame = qc(take)
    assert report["schema"] == "neural_previs.qc/1"
    assert list(by_frame) == sorted(renders)[1:]
    assert all(0.3 < f["valid_fraction"] < 1 for f in report["frames"])
    assert all(f["consistency"] < 2.0 and f["flicker"] < 1.0 for f in report["frames"])
    assert report["summary"]["worst_frames"] == []
    assert "worst frames: none" in stdout
    assert {p.name: p.read_bytes() for p in (take / "frames").iterdir()} == frames_before
    with Image.open(take / "qc.png") as plot:
        assert plot.format == "PNG"


def test_brightened_frames_score_about_ten_and_are_flagged(textured_renders, renders, tmp_path):
    frames = sorted(renders)
    brightened = set(frames[1::2])
    assert max(int(renders[f].max()) for f in frames) <= 245  # so +10 neither clips nor wraps
    images = {f: (renders[f] + 10 if f in brightened else renders[f]) for f in frames}
    _, report, by_frame = qc(write_take(tmp_path / "take_002", textured_renders.bundle, images))
    for frame in brightened:
        assert by_frame[frame]["consistency"] == pytest.approx(10, abs=1.5)
        assert by_frame[frame]["flicker"] == pytest.approx(10, abs=1.0)
    assert brightened <= set(report["summary"]["worst_frames"])
    assert report["summary"]["flicker_max"] == pytest.approx(10, abs=1.0)


def test_shuffled_frames_score_high(textured_renders, renders, tmp_path):
    frames = sorted(renders)
    order = [frames[i] for i in (3, 0, 5, 1, 4, 2)]
    _, report, by_frame = qc(write_take(tmp_path / "take_003", textured_renders.bundle, dict(zip(frames, (renders[f] for f in order)))))
    assert min(f["consistency"] for f in report["frames"]) > 15
    assert report["summary"]["consistency_mean"] > 20
    assert report["summary"]["worst_frames"]
