"""A bad shot list is refused up front, with every problem listed."""

import pytest

from conftest import run_batch
from engine.formats.shotlist import ShotListError, load_shot_list


def write(folder, text):
    path = folder / "shots.toml"
    path.write_text(text)
    return path


def test_every_problem_is_listed_at_once(tmp_path, blends):
    path = write(tmp_path, f'''
[defaults]
model = "tiny-random"
colour = "red"

[[shots]]
name = "sh010"
blend = "{blends['seq01']}"
prompt = "a"
frames = [10, 1]

[[shots]]
name = "sh010"
blend = "missing.blend"
prompt = "b"

[[shots]]
name = "sh030"
blend = "{blends['seq01']}"
prompt = "c"
frames = [1, 2]
markers = ["a", "b"]
steps = "many"
''')
    with pytest.raises(ShotListError) as error:
        load_shot_list(path)
    problems = "\n".join(error.value.problems)
    assert "[defaults]: unknown key 'colour'" in problems
    assert "run backwards" in problems
    assert "used by shot 1 too" in problems
    assert "missing.blend does not exist" in problems
    assert "not both" in problems
    assert len(error.value.problems) >= 5


def test_overlapping_outputs_are_refused(tmp_path, blends):
    path = write(tmp_path, f'''
[[shots]]
name = "a"
blend = "{blends['seq01']}"
prompt = "x"
out = "takes"

[[shots]]
name = "b"
blend = "{blends['seq01']}"
prompt = "x"
out = "takes/a"
''')
    with pytest.raises(ShotListError, match="overlapping folders"):
        load_shot_list(path)


def test_unknown_scene_and_marker_are_refused_before_any_work(tmp_path, blends):
    path = write(tmp_path, f'''
[defaults]
model = "tiny-random"

[[shots]]
name = "a"
blend = "{blends['seq01']}"
scene = "NoSuchScene"
prompt = "x"

[[shots]]
name = "b"
blend = "{blends['seq02']}"
markers = ["sh020_in", "nope"]
prompt = "x"
''')
    done = run_batch(path, "--dry-run")
    assert done.returncode == 2
    assert "no scene 'NoSuchScene'" in done.stderr
    assert "no marker 'nope'" in done.stderr
    assert not (tmp_path / "takes").exists()


def test_keyframes_and_controls_in_a_shot_list(tmp_path, blends):
    path = write(tmp_path, f'''
[[shots]]
name = "sh010"
blend = "{blends['seq01']}"
prompt = "a"
keyframes = [{{frame = 1001, image = "boards/sh010_a.png"}}, {{frame = 1010, image = "/abs/b.png", mode = "guide"}}]
controls = {{Hero = "pose"}}
''')
    (shot,) = load_shot_list(path).shots
    assert shot.params.keyframes == [
        {"frame": 1001, "image": str((tmp_path / "boards" / "sh010_a.png").resolve())},  # like the list's other paths
        {"frame": 1010, "image": str(__import__("pathlib").Path("/abs/b.png").resolve()), "mode": "guide"},
    ]
    assert shot.params.controls == {"Hero": "pose"}
    write(tmp_path, path.read_text().replace('"pose"', '"glow"'))
    with pytest.raises(ShotListError, match="control of Hero must be depth, pose or keep"):
        load_shot_list(path)
