"""``python -m engine generate`` as a pipeline TD runs it: exit codes, JSON lines on stdout, one-line errors."""

import json
import subprocess
import sys

import pytest

from engine_testlib import REPO_ROOT, engine_env, make_bundle


def run_cli(args, env, timeout=180):
    return subprocess.run(
        [sys.executable, "-m", "engine", *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


def test_generate_end_to_end(engine_cache, tmp_path):
    bundle = make_bundle(tmp_path / "bundle", width=45, height=31, frames=list(range(1001, 1006)), fps=25)
    done = run_cli(
        ["generate", str(bundle), "--out", str(tmp_path / "take"), "--model", "tiny-random", "--prompt", "watercolour city",
         "--steps", "2", "--seed", "11", "--negative-prompt", "blurry", "--guidance", "3.5"],
        engine_env(engine_cache),
    )
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]  # stdout is JSON lines only
    assert events[-1]["type"] == "result" and events[-1]["frames"] == 5 and events[-1]["synthetic"] is True
    assert {e["type"] for e in events[:-1]} == {"progress"}
    record = json.loads((tmp_path / "take" / "take.json").read_text())
    assert record["params"]["negative_prompt"] == "blurry" and record["resolved"]["guidance"] == 3.5
    assert sorted(p.name for p in (tmp_path / "take" / "frames").iterdir()) == [f"{f}.png" for f in range(1001, 1006)]


@pytest.mark.parametrize(
    "setup, args, fragment",
    [
        ("no-shot", [], "shot.json is missing"),
        ("ok", ["--model", "no-such-model"], "unknown model"),
        ("ok", ["--model", "wan-vace-1.3b"], "--download"),
        ("ok", ["--mode", "selective", "--objects", "Teapot", "--plate", "REF"], "Teapot"),
        ("ok", ["--mode", "selective", "--objects", "Cube", "--reference", "REF"], "--plate"),
        ("ok", ["--keyframe", "9=REF"], "keyframe at frame 9 is outside the shot (frames 1-2)"),
        ("ok", ["--control", "Cube=pose"], "Cube has no skeleton to pose"),
        ("escape", [], "outside the bundle"),
        ("exists", [], "already exists"),
    ],
)
def test_bad_input_is_one_line_and_exit_1(engine_cache, tmp_path, setup, args, fragment):
    from PIL import Image

    bundle = make_bundle(tmp_path / "bundle", frames=[1, 2])
    Image.new("RGB", (8, 8)).save(tmp_path / "ref.png")
    if setup == "no-shot":
        (bundle / "shot.json").unlink()
    elif setup == "escape":
        shot = json.loads((bundle / "shot.json").read_text())
        shot["frames"][1]["mask"] = "../../mask.png"
        (bundle / "shot.json").write_text(json.dumps(shot))
    elif setup == "exists":
        (tmp_path / "take").mkdir()
    env = engine_env(engine_cache)
    env["HF_HOME"] = str(tmp_path / "empty-hf-home")  # no weights downloaded there
    env.pop("HF_HUB_CACHE", None)
    args = [a.replace("REF", str(tmp_path / "ref.png")) for a in args]
    done = run_cli(["generate", str(bundle), "--out", str(tmp_path / "take"), "--prompt", "x", "--model", "tiny-random", *args], env)
    assert done.returncode == 1
    stderr_lines = done.stderr.strip().splitlines()
    assert stderr_lines[-1].startswith("error: ") and fragment in stderr_lines[-1]
    assert "Traceback" not in done.stderr and "Traceback" not in done.stdout
    (event,) = [json.loads(line) for line in done.stdout.splitlines()]
    assert event["type"] == "error" and fragment in event["message"]
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith((".take", "take"))) == (["take"] if setup == "exists" else [])
    if fragment == "--download":
        assert str(tmp_path / "empty-hf-home") in event["message"] and "Wan-AI/Wan2.1-VACE-1.3B-diffusers" in event["message"]


def test_sigterm_mid_run_exits_130_and_leaves_nothing(engine_cache, tmp_path):
    import signal

    bundle = make_bundle(tmp_path / "bundle", width=64, height=64, frames=list(range(1, 40)))
    worker = subprocess.Popen(
        [sys.executable, "-m", "engine", "generate", str(bundle), "--out", str(tmp_path / "take"), "--model", "tiny-random",
         "--prompt", "x", "--steps", "50"],
        cwd=REPO_ROOT, env=engine_env(engine_cache), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    for line in worker.stdout:
        if json.loads(line).get("phase") == "denoising":
            worker.send_signal(signal.SIGTERM)
            break
    assert worker.wait(timeout=120) == 130
    assert "no take was written" in worker.stderr.read()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle"]  # no take, no partial folder


def test_usage_error_exits_2(tmp_path):
    done = run_cli(["generate", str(tmp_path)], env=None)
    assert done.returncode == 2 and "--out" in done.stderr


def test_keyframe_and_control_flags_are_repeatable():
    from engine.cli import build_parser, params_from_args

    args = build_parser().parse_args(["generate", "b", "--out", "t", "--prompt", "x", "--keyframe", "1001=a b.png",
                                      "--keyframe", "1024=c.png:guide", "--control", "Hero=pose", "--control", "Set=keep"])
    params = params_from_args(args)
    assert params.keyframes == [{"frame": 1001, "image": "a b.png", "mode": "exact"}, {"frame": 1024, "image": "c.png", "mode": "guide"}]
    assert params.controls == {"Hero": "pose", "Set": "keep"}
