"""`python -m engine qc` and the score written at the end of every generation, on takes whose frames are the exact
pictures of a set solved in closed form (analytic_set.py): the files, their format, finding the take's bundle
after a move, bundles without motion. (tests/blender/test_qc.py scores Cycles renders.)"""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

import analytic_set as sets
from engine.errors import BundleError
from engine.formats.take_folder import find_take_bundle, read_take
from engine.generation.generate import generate_take
from engine.formats.params import GenerateParams
from engine.qc.report import read_qc_summary
from engine_testlib import REPO_ROOT

FRAMES = 6


@pytest.fixture(scope="module")
def shot():
    return sets.render_shot(FRAMES)


@pytest.fixture
def scene(shot, tmp_path):
    """A bundle of the set and a take made of its exact pictures, side by side as the add-on writes them."""
    bundle = sets.write_bundle(tmp_path / "take_001_bundle", shot)
    return bundle, sets.write_take(tmp_path / "take_001", bundle, [f.image for f in shot])


def qc(*args):
    return subprocess.run([sys.executable, "-m", "engine", "qc", *map(str, args)], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)


def test_qc_writes_exactly_its_two_files_and_never_touches_the_frames(scene):
    _, take = scene
    frames = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in (take / "frames").iterdir()}
    record = (take / "take.json").read_bytes()
    result = qc(take)
    assert result.returncode == 0, result.stderr
    assert "worst frames: none" in result.stdout and "qc.json" in result.stdout
    assert sorted(p.name for p in take.iterdir()) == ["frames", "qc.json", "qc.png", "take.json"]
    report = json.loads((take / "qc.json").read_text())
    assert set(report) == {"schema", "frames", "summary"} and report["schema"] == "neural_previs.qc/1"
    assert [f["frame"] for f in report["frames"]] == list(range(1002, 1001 + FRAMES))
    assert all(set(f) == {"frame", "consistency", "flicker", "valid_fraction"} for f in report["frames"])
    assert all(f["consistency"] < 1.0 and f["flicker"] < 0.5 and 0.3 < f["valid_fraction"] < 1 for f in report["frames"])
    assert set(report["summary"]) == {"consistency_mean", "consistency_max", "flicker_max", "worst_frames"}
    assert report["summary"]["worst_frames"] == []
    assert {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in (take / "frames").iterdir()} == frames
    assert (take / "take.json").read_bytes() == record
    assert (take / "qc.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    again = qc(take)  # a second score replaces the first whole
    assert again.returncode == 0 and sorted(p.name for p in take.iterdir()) == ["frames", "qc.json", "qc.png", "take.json"]


def test_a_flash_frame_is_the_worst_with_the_frame_after_it(shot, tmp_path):
    bundle = sets.write_bundle(tmp_path / "bundle", shot)
    images = [f.image for f in shot]
    images[3] = np.clip(images[3].astype(int) + 20, 0, 255).astype(np.uint8) * (shot[3].ids[..., None] > 0)
    take = sets.write_take(tmp_path / "take", bundle, images)
    assert qc(take).returncode == 0
    report = json.loads((take / "qc.json").read_text())
    by_frame = {f["frame"]: f for f in report["frames"]}
    assert sorted(report["summary"]["worst_frames"]) == [1004, 1005]
    assert by_frame[1004]["flicker"] == pytest.approx(20, abs=1.5) and by_frame[1006]["consistency"] < 1.0


def test_the_bundle_is_found_after_moving_take_and_bundle_together(scene, tmp_path):
    bundle, take = scene
    moved = tmp_path / "moved" / "project with spaces é"
    moved.mkdir(parents=True)
    shutil.move(take, moved / "take_001")
    shutil.move(bundle, moved / "take_001_bundle")
    assert find_take_bundle(read_take(moved / "take_001")).root == (moved / "take_001_bundle").resolve()
    batch = tmp_path / "takes" / "sh010"
    batch.mkdir(parents=True)
    shutil.move(moved / "take_001", batch / "take")
    shutil.move(moved / "take_001_bundle", batch / "bundle")
    assert find_take_bundle(read_take(batch / "take")).root == (batch / "bundle").resolve()
    assert qc(batch / "take").returncode == 0


def test_a_missing_or_changed_bundle_is_one_line(scene, tmp_path):
    bundle, take = scene
    shutil.move(bundle, tmp_path / "elsewhere")
    result = qc(take)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("error: cannot find the bundle take take_001 was made from")
    assert "--bundle BUNDLE" in result.stderr
    assert qc(take, "--bundle", tmp_path / "elsewhere").returncode == 0
    shutil.move(tmp_path / "elsewhere", bundle)
    sets.write_id_png(bundle / "mask" / "001003.png", np.zeros((sets.HEIGHT, sets.WIDTH), np.uint16))  # re-rendered since
    with pytest.raises(BundleError, match="is not the one take take_001 was made from"):
        find_take_bundle(read_take(take))


def test_a_bundle_without_motion_scores_nothing_unless_declared_static(tmp_path):
    still = sets.render_shot(3, moving_plate=False)
    bundle = sets.write_bundle(tmp_path / "bundle", still, motion=False)
    take = sets.write_take(tmp_path / "take", bundle, [f.image for f in still])
    result = qc(take)
    assert result.returncode == 0 and "no object motion" in result.stdout and "--assume-static" in result.stdout
    report = json.loads((take / "qc.json").read_text())
    assert all(f["consistency"] is None and f["valid_fraction"] == 0 for f in report["frames"])
    assert report["summary"] == {"consistency_mean": None, "consistency_max": None, "flicker_max": None, "worst_frames": []}
    assert qc(take, "--assume-static").returncode == 0
    assert json.loads((take / "qc.json").read_text())["summary"]["consistency_max"] < 1.0


def test_every_generated_take_is_scored(session, shot, tmp_path):
    bundle = sets.write_bundle(tmp_path / "bundle", shot[:4])
    params = GenerateParams(prompt="neon", model="tiny-random", seed=3, steps=2)
    take = generate_take(session, bundle, tmp_path / "take_001", params, lambda *a, **k: None).path
    record = json.loads((take / "take.json").read_text())
    report = json.loads((take / "qc.json").read_text())
    assert record["qc"] == report["summary"] == read_qc_summary(take)
    assert [f["frame"] for f in report["frames"]] == [1002, 1003, 1004]
    assert all(f["valid_fraction"] > 0.3 and f["consistency"] is not None for f in report["frames"])
    assert (take / "qc.png").is_file()
    (take / "qc.json").unlink()
    assert read_qc_summary(take) == record["qc"]  # take.json keeps the score of the generation
    assert read_qc_summary(tmp_path) is None
