"""Protocol messages and generation parameters: typed, round-trip through JSON lines, precise errors."""

import json

import pytest

from engine.worker import protocol
from engine.errors import ParamsError
from engine.formats.params import GenerateParams


@pytest.mark.parametrize(
    "message",
    [
        protocol.Generate(id="r1", bundle="/b", out="/t", params={"prompt": "x"}),
        protocol.Cancel(id="r1"),
        protocol.Shutdown(),
        protocol.Hello(protocol=1, engine="0.1.0", device="cpu", backends=[{"name": "tiny-random"}], pid=42),
        protocol.Progress(id="r1", phase="denoising", step=3, total=10, eta=1.5, window=1, windows=2),
        protocol.Result(id="r1", take="/t", frames=9, seconds=1.25),
        protocol.Cancelled(id="r1"),
        protocol.Error(id="r1", message="one line", kind="bundle"),
    ],
)
def test_round_trip(message):
    line = message.to_json()
    assert "\n" not in line and json.loads(line)["type"] == message.type
    assert protocol.parse_message(line) == message


def test_extra_keys_are_flattened_and_read_back():
    line = protocol.Progress(id="r", phase="loading", step=0, total=2, extra={"note": "noise"}).to_json()
    assert json.loads(line)["note"] == "noise"
    assert protocol.parse_message(line).extra == {"note": "noise"}


@pytest.mark.parametrize(
    "line, fragment",
    [
        ("not json", "not JSON"),
        ("[1, 2]", "JSON object"),
        ('{"type": "dance"}', "unknown message type"),
        ('{"type": "generate", "id": "r1"}', "lacks bundle, out"),
        ('{"type": "cancel", "id": 5}', "id must be a string"),
        ('{"type": "generate", "id": "r", "bundle": 3, "out": "/t"}', "bundle must be a str"),
        ('{"type": "generate", "id": "r", "bundle": "/b", "out": "/t", "params": []}', "params must be a dict"),
    ],
)
def test_invalid_lines(line, fragment):
    with pytest.raises(protocol.ProtocolError, match=fragment):
        protocol.parse_message(line)


def test_params_from_dict_rejects_unknown_keys():
    with pytest.raises(ParamsError, match="unknown parameter.*stepz"):
        GenerateParams.from_dict({"prompt": "x", "stepz": 3})


def test_params_objects_may_be_a_comma_list():
    assert GenerateParams.from_dict({"prompt": "x", "mode": "selective", "objects": "Cube,Floor"}).objects == ["Cube", "Floor"]


@pytest.mark.parametrize(
    "fields, fragment",
    [
        ({"prompt": "  "}, "prompt is empty"),
        ({"steps": 0}, "steps"),
        ({"steps": 2.5}, "steps"),
        ({"guidance": -1}, "guidance"),
        ({"seed": -3}, "seed"),
        ({"seed": 2**31}, "seed must be an integer from 0 to 2147483647"),
        ({"mode": "paint"}, "mode must be"),
        ({"mode": "selective"}, "--objects"),
        ({"mode": "selective", "objects": ["Cube"]}, "--plate"),
        ({"objects": ["Cube"]}, "selective"),
        ({"offload": "disk"}, "offload"),
        ({"device": "gpu"}, "device"),
        ({"dtype": "int8"}, "dtype"),
        ({"reference": 5}, "reference must be a path"),
    ],
)
def test_params_check(fields, fragment):
    params = GenerateParams(**{"prompt": "neon", **fields})
    with pytest.raises(ParamsError, match=fragment):
        params.check()


def test_seeds_span_exactly_the_32_bit_range():
    GenerateParams(prompt="neon", seed=0).check()
    GenerateParams(prompt="neon", seed=2**31 - 1).check()
