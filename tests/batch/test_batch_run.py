"""A night's shot list on a local Ray with tiny-random: three shots from two .blend files (one 1001-based, one
marker-delimited, one broken scene without a camera): failures isolated, resume, the OTIO timeline."""

import json
import shutil
import subprocess
import sys

import opentimelineio as otio
import pytest

from conftest import run_batch


@pytest.fixture(scope="module")
def night(tmp_path_factory, blends):
    folder = tmp_path_factory.mktemp("night")
    shot_list = folder / "shots.toml"
    shot_list.write_text(f'''
[defaults]
model = "tiny-random"
steps = 2
seed = 5
out = "takes"

[[shots]]
name = "sh010"
blend = "{blends['seq01']}"
prompt = "a rainy neon street"

[[shots]]
name = "sh020"
blend = "{blends['seq02']}"
markers = ["sh020_in", "sh020_out"]
prompt = "dusk"

[[shots]]
name = "sh030"
blend = "{blends['seq02']}"
scene = "NoCamera"
prompt = "never"
''')
    first = run_batch(shot_list)
    return folder, shot_list, first


def frames_of(take):
    return [entry["frame"] for entry in json.loads((take / "take.json").read_text())["frames"]]


def test_failed_shot_is_reported_and_the_others_complete(night):
    folder, _, first = night
    assert first.returncode == 1, first.stdout + first.stderr
    takes = folder / "takes"
    assert frames_of(takes / "sh010" / "take") == [1001, 1002, 1003, 1004, 1005]
    assert frames_of(takes / "sh020" / "take") == [3, 4, 5, 6, 7]  # the marker range
    assert not (takes / "sh030" / "take").exists()
    summary = first.stdout[first.stdout.index("shot  "):]
    assert "sh030  failed" in summary and "no camera" in summary
    assert "2/3 shots done" in first.stdout


def test_takes_otio_lists_completed_takes_with_ranges_and_rates(night):
    folder, _, _ = night
    timeline = otio.adapters.read_from_file(str(folder / "takes" / "takes.otio"))
    clips = list(timeline.find_clips())
    assert [clip.name for clip in clips] == ["sh010", "sh020"]
    sh010, sh020 = clips
    assert sh010.source_range.start_time.value == 1001 and sh010.source_range.duration.value == 5
    assert sh020.source_range.start_time.value == 3 and sh020.source_range.duration.value == 5
    assert sh010.source_range.start_time.rate == pytest.approx(24000 / 1001)
    assert sh010.media_reference.name_suffix == ".png" and sh010.media_reference.frame_zero_padding == 4


def test_rerun_without_resume_refuses_to_overwrite(night):
    _, shot_list, _ = night
    again = run_batch(shot_list)
    assert again.returncode == 2
    assert "use --resume" in again.stderr


def test_resume_does_only_the_missing_work(night, blends):
    folder, shot_list, _ = night
    takes = folder / "takes"
    kept_take = (takes / "sh010" / "take" / "take.json").stat().st_mtime_ns
    kept_bundle = (takes / "sh020" / "bundle" / "shot.json").stat().st_mtime_ns
    shutil.rmtree(takes / "sh020" / "take")  # the night was interrupted before sh020's take
    resumed = run_batch(shot_list, "--resume", "--import-into-blend")
    assert resumed.returncode == 1  # sh030 still has no camera
    assert (takes / "sh010" / "take" / "take.json").stat().st_mtime_ns == kept_take
    assert (takes / "sh020" / "bundle" / "shot.json").stat().st_mtime_ns == kept_bundle  # bundle reused
    assert frames_of(takes / "sh020" / "take") == [3, 4, 5, 6, 7]
    assert "sh010  skipped" in resumed.stdout
    # --import-into-blend: each completed take on a copy of its .blend, beside the take; the originals untouched.
    copy = takes / "sh020" / "seq02.blend"
    assert strips_in(copy) == [("Scene_take_001", 3, 8)]
    assert strips_in(takes / "sh010" / "seq01.blend") == [("Scene_take_001", 1001, 1006)]
    assert strips_in(blends["seq02"]) == []


def strips_in(blend):
    script = (
        "import bpy, json, sys\n"
        f"bpy.ops.wm.open_mainfile(filepath={str(blend)!r})\n"
        "ed = bpy.context.scene.sequence_editor\n"
        "strips = [] if ed is None else (ed.strips if hasattr(ed, 'strips') else ed.sequences)\n"
        "print('STRIPS', json.dumps([[s.name, s.frame_final_start, s.frame_final_end] for s in strips]))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    line = next(line for line in done.stdout.splitlines() if line.startswith("STRIPS "))
    return [tuple(item) for item in json.loads(line[len("STRIPS "):])]


def test_every_take_is_scored_in_the_summary_and_the_timeline(night):
    folder, _, first = night
    take = folder / "takes" / "sh010" / "take"
    qc = json.loads((take / "take.json").read_text())["qc"]
    assert qc == json.loads((take / "qc.json").read_text())["summary"]
    summary = first.stdout[first.stdout.index("shot  "):]
    assert "consistency" in summary.splitlines()[0]
    assert f"{qc['consistency_mean']:.1f}" in next(line for line in summary.splitlines() if line.startswith("sh010"))
    clip = next(c for c in otio.adapters.read_from_file(str(folder / "takes" / "takes.otio")).find_clips() if c.name == "sh010")
    recorded = clip.metadata["neural_previs"]["qc"]
    assert dict(recorded, worst_frames=list(recorded["worst_frames"])) == qc


def test_a_set_reference_shot_is_generated_first_and_its_take_kept(tmp_path, blends):
    """sh010 takes its set from sh020 (listed after it): sh020 is generated first, and sh010 keeps its pixels."""
    shot_list = tmp_path / "shots.toml"
    shot_list.write_text(f'''
[defaults]
model = "tiny-random"
steps = 1
seed = 2

[[shots]]
name = "sh010"
blend = "{blends['seq01']}"
frames = [1003, 1005]
prompt = "the same set, later"
plate_from = ["sh020"]

[[shots]]
name = "sh020"
blend = "{blends['seq01']}"
frames = [1001, 1003]
prompt = "the set"
''')
    result = run_batch(shot_list)
    assert result.returncode == 0, result.stdout + result.stderr
    first, second = tmp_path / "takes" / "sh020" / "take", tmp_path / "takes" / "sh010" / "take"
    record = json.loads((second / "take.json").read_text())
    assert record["params"]["plate_from"] == [str(first)]
    assert record["plate_from"]["sources"][0]["bundle"]["path"] == str(tmp_path / "takes" / "sh020" / "bundle")
    assert record["plate_from"]["kept_fraction_mean"] > 0.05
    assert (first / "take.json").stat().st_mtime <= (second / "take.json").stat().st_mtime
