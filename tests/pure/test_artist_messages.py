"""The engine's refusals, as Blender shows them: the fields and buttons of the panel, never a command-line flag.

The messages come from the engine itself (its parameter checks, its weights lookup, its memory advice),
not from copies in this test, so a reworded engine message is checked too.
"""

import pytest

from neural_previs.addon.artist_messages import for_artist
from neural_previs.engine.errors import EngineError
from neural_previs.engine.formats.params import GenerateParams


def refusal(**fields) -> EngineError:
    with pytest.raises(EngineError) as error:
        GenerateParams(**{"prompt": "neon", **fields}).check()
    return error.value


@pytest.mark.parametrize(
    "fields, expected",
    [
        ({"prompt": " "}, "the Prompt field"),
        ({"mode": "selective"}, "the Objects to Regenerate field"),
        ({"mode": "selective", "objects": ["Cube"]}, "the Plate field"),
        ({"objects": ["Cube"]}, "Mode 'Selective'"),
        ({"plate": "/frames"}, "Mode 'Selective'"),
        ({"model": " "}, "Model 'tiny-random'"),
    ],
)
def test_parameter_refusals_name_the_panels_fields(fields, expected):
    error = refusal(**fields)
    assert "--" in error.message  # the engine speaks to the command line...
    text = for_artist(error.message, error.kind)
    assert expected in text and "--" not in text  # ...Blender to the artist


def test_missing_weights_offer_the_download(tmp_path, monkeypatch):
    pytest.importorskip("huggingface_hub")  # the engine's lookup uses it; the Blender 4.2 test venv has only bpy
    from neural_previs.engine.models.weights import resolve_model

    monkeypatch.setenv("HF_HOME", str(tmp_path))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("NEURAL_PREVIS_CACHE", str(tmp_path / "cache"))
    with pytest.raises(EngineError) as error:
        resolve_model("wan-vace-1.3b", False, None, None)
    assert "--download" in error.value.message
    text = for_artist(error.value.message, error.value.kind)
    assert text.startswith("The model 'wan-vace-1.3b' is not installed") and "Download" in text and "--" not in text


def test_engine_bugs_and_crashes_point_to_the_log():
    assert "log" in for_artist("internal error (KeyError: 'x'); see the worker's stderr", "internal")
    assert "log" in for_artist("the engine worker exited unexpectedly (exit code -9) during this request: killed", "worker")
