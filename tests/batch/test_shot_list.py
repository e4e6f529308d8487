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


def plate_from_list(tmp_path, references):
    (tmp_path / "seq.blend").write_bytes(b"")  # the list only checks that it exists
    shots = "".join(f'''
[[shots]]
name = "{name}"
blend = "seq.blend"
prompt = "p"
plate_from = {refs!r}
'''.replace("'", '"') for name, refs in references.items())
    return write(tmp_path, '[defaults]\nmodel = "tiny-random"\n' + shots)


def test_plate_from_names_shots_whose_takes_come_first(tmp_path):
    shot_list = load_shot_list(plate_from_list(tmp_path, {"sh030": ["sh020"], "sh010": [], "sh020": ["sh010"]}))
    by_name = {shot.name: shot for shot in shot_list.shots}
    assert [shot.name for shot in shot_list.shots] == ["sh030", "sh010", "sh020"]  # the list's order is kept
    assert [shot.name for shot in shot_list.schedule()] == ["sh010", "sh020", "sh030"]
    assert by_name["sh030"].params.plate_from == [str(by_name["sh020"].take)]
    assert by_name["sh010"].params.plate_from == []


@pytest.mark.parametrize("references, fragment", [
    ({"sh010": ["sh999"]}, "shot 'sh010': plate_from names 'sh999', which is not a shot of this list"),
    ({"sh010": ["sh020"], "sh020": ["sh010"]}, "shots 'sh010' -> 'sh020' -> 'sh010' take their set from each other in a circle"),
    ({"sh010": ["sh010"]}, "shots 'sh010' -> 'sh010' take their set"),
])
def test_unknown_or_circular_plate_from_is_one_problem(tmp_path, references, fragment):
    with pytest.raises(ShotListError) as error:
        load_shot_list(plate_from_list(tmp_path, references))
    assert len(error.value.problems) == 1 and fragment in error.value.problems[0]


def test_a_shot_waits_for_its_set_reference_and_fails_with_it(tmp_path):
    import collections

    from engine.batch.runner import ShotOutcome, _next_ready

    shot_list = load_shot_list(plate_from_list(tmp_path, {"sh020": ["sh010"], "sh010": [], "sh030": ["sh010"]}))
    shots = {shot.name: shot for shot in shot_list.shots}
    outcomes = {name: ShotOutcome(name, status="queued") for name in shots}
    queue = collections.deque(["sh020", "sh010", "sh030"])
    assert _next_ready(queue, shots, outcomes) == "sh010"  # sh020 waits for it
    outcomes["sh010"].status = "generating"
    assert _next_ready(queue, shots, outcomes) is None and list(queue) == ["sh020", "sh030"]
    outcomes["sh010"].status = "done"
    assert _next_ready(queue, shots, outcomes) == "sh020"
    outcomes["sh010"].status = "failed"
    assert _next_ready(queue, shots, outcomes) is None and not queue
    assert outcomes["sh030"].status == "failed" and "set reference, shot 'sh010', failed" in outcomes["sh030"].message


@pytest.mark.parametrize("seed", [2**31, -1])
def test_a_seed_outside_the_32_bit_range_is_refused_with_the_range(tmp_path, blends, seed):
    path = write(tmp_path, f'''
[[shots]]
name = "sh010"
blend = "{blends['seq01']}"
prompt = "a"
seed = {seed}

[[shots]]
name = "sh020"
blend = "{blends['seq01']}"
prompt = "b"
seed = {2**31 - 1}
''')
    with pytest.raises(ShotListError) as error:
        load_shot_list(path)
    assert len(error.value.problems) == 1  # the largest 32-bit seed is fine
    assert "sh010" in error.value.problems[0] and "2147483647" in error.value.problems[0]
