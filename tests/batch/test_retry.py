"""A task whose worker process dies is retried, and the shot still completes."""

import os

from conftest import run_batch


def test_conditioning_worker_death_is_retried(tmp_path, blends):
    shot_list = tmp_path / "shots.toml"
    shot_list.write_text(f'''
[defaults]
model = "tiny-random"
steps = 2

[[shots]]
name = "sh010"
blend = "{blends['seq01']}"
prompt = "survives a crash"
''')
    marker = tmp_path / "crashed"
    done = run_batch(shot_list, env={**os.environ, "NEURAL_PREVIS_TEST_CRASH_ONCE": str(marker)})
    assert marker.exists(), "the fault was never injected"
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert (tmp_path / "takes" / "sh010" / "take" / "take.json").is_file()
