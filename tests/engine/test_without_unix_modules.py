"""The engine on a Python that has none of the Unix-only modules, as on Windows: it imports, writes a
tiny-random take into a folder whose path has spaces and accents, and its worker says hello.

The subprocess gets ``no_unix_modules/sitecustomize.py`` on PYTHONPATH: any import of ``resource``,
``fcntl``, ``termios``, ``pwd``, ``grp``, ... made by the extension's own code fails there exactly as
it fails on Windows (the standard library and torch keep their Linux code paths, which on Windows
are their Windows ones).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

from engine_testlib import REPO_ROOT, engine_env, make_bundle

WITHHOLDER = Path(__file__).resolve().parent / "no_unix_modules"


def without_unix_modules(env: dict) -> dict:
    env = dict(env)
    env["PYTHONPATH"] = os.pathsep.join([str(WITHHOLDER), env["PYTHONPATH"]])
    env["NEURAL_PREVIS_WITHHOLD_FROM"] = str(REPO_ROOT)
    return env


def user_folder(tmp_path: Path, engine_cache: Path) -> tuple[Path, dict]:
    """A Windows-like user folder, and an engine cache inside it (linked to the session's tiny model)."""
    home = tmp_path / "Usér Nàme" / "Neural Previs"
    home.mkdir(parents=True)
    (home / "engine cache").symlink_to(engine_cache, target_is_directory=True)
    env = without_unix_modules(engine_env(engine_cache))
    env["NEURAL_PREVIS_CACHE"] = str(home / "engine cache")
    return home, env


def test_the_withholding_is_real(tmp_path, engine_cache):
    """Our code cannot import resource in that Python; other code still can."""
    code = (
        "import engine, resource\n"
        "try:\n"
        "    exec(compile('import resource', engine.__file__, 'exec'), {'__file__': engine.__file__})\n"
        "except ModuleNotFoundError as error:\n"
        "    print('refused:', error)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], env=without_unix_modules(engine_env(engine_cache)),
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "refused: No module named 'resource'"


def test_generate_writes_a_take_without_unix_modules(tmp_path, engine_cache):
    home, env = user_folder(tmp_path, engine_cache)
    bundle = make_bundle(home / "shot 010" / "bundle", frames=[1001, 1002, 1003, 1004, 1005])
    take = home / "shot 010" / "take_001"
    result = subprocess.run(
        [sys.executable, "-m", "engine", "generate", str(bundle), "--out", str(take), "--model", "tiny-random",
         "--prompt", "néon pluvieux", "--steps", "2", "--seed", "3"],
        env=env, cwd=REPO_ROOT, capture_output=True, text=True, encoding="utf-8", timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "withheld:" not in result.stderr  # nothing of ours even tried (and fell back)
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert events[-1]["type"] == "result" and Path(events[-1]["take"]) == take
    record = json.loads((take / "take.json").read_text(encoding="utf-8"))
    assert sorted(p.name for p in (take / "frames").iterdir()) == [f"{n}.png" for n in range(1001, 1006)]
    assert record["params"]["prompt"] == "néon pluvieux"
    assert record["peak_memory"]["host_process_peak_bytes"] > 0


def test_serve_says_hello_without_unix_modules(tmp_path, engine_cache):
    _, env = user_folder(tmp_path, engine_cache)
    worker = subprocess.Popen([sys.executable, "-m", "engine", "serve"], env=env, cwd=REPO_ROOT,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        hello = json.loads(worker.stdout.readline())
        worker.stdin.write('{"type": "shutdown"}\n')
        worker.stdin.flush()
        assert worker.wait(timeout=120) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
    assert hello["type"] == "hello" and hello["device_type"] == "cpu" and hello["device_name"]
    assert "withheld:" not in worker.stderr.read()
