"""LoRA values and files, before any model loads: ``PATH:WEIGHT`` parsing (Windows paths too), the
``loras`` parameter, the VACE-key renames, and one line naming the file for every LoRA that does not
fit the model. Also the qualities' resolved steps, guidance and pixels (``draft-preview``)."""

from __future__ import annotations

from pathlib import Path

import json

import pytest
import torch

import lora_factory as factory
from engine.backends import get_spec
from engine.cli import build_parser, params_from_args
from engine.errors import EngineError, ParamsError
from engine.formats.params import GenerateParams
from engine.models import lora_keys
from engine.formats.lora_entries import parse_lora_argument
from engine.models.loras import LoraError, read_header
from engine.speed import quality
from engine_testlib import make_bundle


@pytest.mark.parametrize("text, path, weight", [
    ("style.safetensors", "style.safetensors", 1.0),
    ("style.safetensors:0.8", "style.safetensors", 0.8),
    ("style.safetensors:-.5", "style.safetensors", -0.5),
    ("style.safetensors:1e-1", "style.safetensors", 0.1),
    (r"C:\loras\x.safetensors", r"C:\loras\x.safetensors", 1.0),
    (r"C:\loras\x.safetensors:0.8", r"C:\loras\x.safetensors", 0.8),
    (r"D:\my loras\é x.safetensors:1.25", r"D:\my loras\é x.safetensors", 1.25),
    ("C:/loras/x.safetensors", "C:/loras/x.safetensors", 1.0),
    ("C:0.5", "C:0.5", 1.0),  # drive C's current folder, a file named 0.5: not a weight
    ("/srv/loras/a:b.safetensors", "/srv/loras/a:b.safetensors", 1.0),
    ("org/name/file.safetensors:2", "org/name/file.safetensors", 2.0),
    ("org/name", "org/name", 1.0),
])
def test_path_and_weight_are_parsed(text, path, weight):
    assert parse_lora_argument(text) == {"path": path, "weight": weight}


def test_the_command_line_repeats_lora(tmp_path):
    args = build_parser().parse_args(["generate", "b", "--out", "t", "--prompt", "p", "--lora", r"C:\l\a.safetensors:0.8",
                                      "--lora", "b.safetensors", "--quality", "draft-preview"])
    params = params_from_args(args)
    assert params.loras == [{"path": r"C:\l\a.safetensors", "weight": 0.8}, {"path": "b.safetensors", "weight": 1.0}]
    assert params.quality == "draft-preview"
    params.check()


@pytest.mark.parametrize("loras, message", [
    ("style.safetensors", "must be a list"),
    ([{"path": ""}], "non-empty string"),
    ([{"path": "a.safetensors", "weight": "high"}], "weight must be a number"),
    ([{"path": "a.safetensors", "weight": 11}], "weight must be a number"),
    ([{"path": "a.safetensors", "weight": float("nan")}], "weight must be a number"),
    ([{"path": "a.safetensors", "strength": 1}], "unknown LoRA key"),
    ([{"path": "a.safetensors"}, {"path": "a.safetensors", "weight": 0.5}], "listed twice"),
])
def test_malformed_loras_are_one_line(loras, message):
    with pytest.raises(ParamsError, match=message) as error:
        GenerateParams(prompt="p", loras=loras).check()
    assert "\n" not in str(error.value)


def test_the_protocol_takes_path_weight_objects_and_strings():
    params = GenerateParams.from_dict({"prompt": "p", "loras": [{"path": "a.safetensors", "weight": 0.8}, "b.safetensors:0.3"]})
    assert params.loras == [{"path": "a.safetensors", "weight": 0.8}, {"path": "b.safetensors", "weight": 0.3}]


@pytest.mark.parametrize("name, steps, guidance, pixels, compiled, shift", [
    ("final", 30, 5.0, 832 * 480, True, None),
    ("preview", 12, 5.0, 832 * 480 // 4, False, None),
    ("draft", 4, 1.0, 832 * 480, True, 5.0),
    ("draft-preview", 4, 1.0, 832 * 480 // 4, False, 5.0),
])
def test_each_quality_resolves_its_steps_guidance_pixels_and_schedule(name, steps, guidance, pixels, compiled, shift):
    resolved = quality.resolve(GenerateParams(prompt="p", quality=name), get_spec("wan-vace"))
    assert (resolved.steps, resolved.guidance, resolved.max_pixels, resolved.compiled, resolved.flow_shift) == (
        steps, guidance, pixels, compiled, shift)
    explicit = quality.resolve(GenerateParams(prompt="p", quality=name, steps=6, guidance=2.0), get_spec("wan-vace"))
    assert (explicit.steps, explicit.guidance) == (6, 2.0)


# --------------------------------------------------------------------------------- key renames


def test_vace_keys_are_renamed_with_their_alpha_folded_in():
    down, up = torch.randn(4, 24), torch.randn(24, 4)
    renamed = lora_keys.vace_to_diffusers({
        "diffusion_model.vace_blocks.1.cross_attn.o.lora_down.weight": down,
        "diffusion_model.vace_blocks.1.cross_attn.o.lora_up.weight": up,
        "diffusion_model.vace_blocks.1.cross_attn.o.alpha": torch.tensor(2.0),
        "diffusion_model.vace_blocks.0.before_proj.lora_A.weight": down,
        "diffusion_model.vace_blocks.0.before_proj.lora_B.weight": up,
        "diffusion_model.vace_blocks.0.after_proj.diff_b": torch.ones(24),
    }, alpha_of=lambda value: float(value))
    assert set(renamed) == {
        "transformer.vace_blocks.1.attn2.to_out.0.lora_A.weight", "transformer.vace_blocks.1.attn2.to_out.0.lora_B.weight",
        "transformer.vace_blocks.0.proj_in.lora_A.weight", "transformer.vace_blocks.0.proj_in.lora_B.weight",
        "transformer.vace_blocks.0.proj_out.lora_B.bias",
    }
    a, b = renamed["transformer.vace_blocks.1.attn2.to_out.0.lora_A.weight"], renamed["transformer.vace_blocks.1.attn2.to_out.0.lora_B.weight"]
    assert torch.allclose(b @ a, (up @ down) * 2.0 / 4)  # alpha / rank, as the forward pass of the original applies it


def test_an_unknown_vace_key_is_named():
    with pytest.raises(lora_keys.LoraKeyError, match="vace_blocks.0.modulation"):
        lora_keys.vace_to_diffusers({"diffusion_model.vace_blocks.0.modulation.lora_down.weight": torch.zeros(1, 1)})


# ------------------------------------------------------------------ files that do not fit


@pytest.fixture
def bundle(tmp_path):
    return make_bundle(tmp_path / "bundle", frames=[1, 2, 3, 4, 5])


def check(bundle, tmp_path, lora: Path, **params):
    from engine.generation.generate import check_inputs

    return check_inputs(bundle, tmp_path / "take", GenerateParams(prompt="a street", model="tiny-random",
                                                                  loras=[{"path": str(lora), "weight": 0.7}], **params))


def one_line(bundle, tmp_path, lora: Path, **params) -> str:
    with pytest.raises(EngineError) as error:
        check(bundle, tmp_path, lora, **params)
    message = str(error.value)
    assert "\n" not in message and str(lora.name) in message
    return message


def test_a_lora_for_a_larger_model_is_refused_before_loading(engine_cache, bundle, tmp_path):
    wide = factory.write_diffusers(factory.random_lora(1, dim=48), tmp_path / "for-14b.safetensors")
    assert "made for another model" in one_line(bundle, tmp_path, wide)


def test_a_lora_with_more_blocks_than_the_model_is_refused(engine_cache, bundle, tmp_path):
    lora = factory.random_lora(1)
    lora.matrices[("blocks", 7, "ffn.0")] = lora.matrices[("blocks", 0, "ffn.0")]
    path = factory.write_original(lora, tmp_path / "deeper.safetensors")
    assert "blocks 7" in one_line(bundle, tmp_path, path)


def test_mismatched_ranks_are_refused(engine_cache, bundle, tmp_path):
    lora = factory.random_lora(1)
    down, up = lora.matrices[("blocks", 0, "self_attn.q")]
    lora.matrices[("blocks", 0, "self_attn.q")] = (down, torch.zeros(up.shape[0], 3))
    path = factory.write_musubi(lora, tmp_path / "ranks.safetensors")
    assert "rank 4" in one_line(bundle, tmp_path, path)


def test_a_stable_diffusion_lora_is_not_a_wan_lora(engine_cache, bundle, tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "sd15.safetensors"
    save_file({"lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight": torch.zeros(4, 8),
               "lora_unet_down_blocks_0_attentions_0_proj_in.lora_up.weight": torch.zeros(8, 4)}, str(path))
    assert "not a Wan LoRA" in one_line(bundle, tmp_path, path)


def test_not_safetensors_missing_and_not_a_lora(engine_cache, bundle, tmp_path):
    pickled = tmp_path / "old.safetensors"
    torch.save({"a": torch.zeros(2)}, pickled)
    assert "not a .safetensors file" in one_line(bundle, tmp_path, pickled)
    ckpt = tmp_path / "style.ckpt"
    ckpt.write_bytes(b"\x80\x04junk")
    assert ".safetensors only" in one_line(bundle, tmp_path, ckpt)
    assert "does not exist" in one_line(bundle, tmp_path, tmp_path / "nowhere.safetensors")
    from safetensors.torch import save_file

    weights = tmp_path / "weights.safetensors"
    save_file({"blocks.0.attn1.to_q.weight": torch.zeros(2, 2)}, str(weights))
    assert "not a LoRA" in one_line(bundle, tmp_path, weights)


def test_a_backend_without_loras_says_so():
    from engine.models.loras import resolve_loras

    spec = get_spec("animatediff-controlnet")

    with pytest.raises(ParamsError, match="does not load LoRAs"):
        resolve_loras(GenerateParams(prompt="p", loras=[{"path": "x.safetensors", "weight": 1}]), None, spec)


def test_a_good_lora_is_checked_hashed_and_its_format_known(engine_cache, bundle, tmp_path):
    path = factory.write_original(factory.random_lora(1, vace=True), tmp_path / "vace lora é.safetensors", alpha=4)
    (lora,) = check(bundle, tmp_path, path).loras
    assert (lora.format, lora.weight, lora.file, lora.role) == ("original", 0.7, path.resolve(), "style")
    header = read_header(path)
    assert any(key.startswith("diffusion_model.vace_blocks.") for key in header)


def test_a_hub_lora_not_downloaded_says_how(engine_cache, bundle, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(LoraError, match="not downloaded: run again with --download"):
        check(bundle, tmp_path, Path("someone/wan-loras/style.safetensors"))


def test_compiled_blocks_run_eagerly_with_style_loras_and_compiled_with_the_draft_lora():
    from dataclasses import replace as with_fields

    from engine.backends import load_backend
    from engine.generation.request import Request
    from engine.models.loras import ResolvedLora

    backend = load_backend("wan-vace")
    backend.switches = with_fields(backend.switches, compile=True)
    style = ResolvedLora("s.safetensors", Path("s.safetensors"), "0" * 64, 0.8, "diffusers")
    distill = with_fields(style, role="draft", weight=1.0)
    final, draft_params = GenerateParams(prompt="p"), GenerateParams(prompt="p", quality="draft")
    assert backend._compiles(Request(final, 30, 5.0, 1))
    assert not backend._compiles(Request(final, 30, 5.0, 1, loras=(style,)))
    assert backend._compiles(Request(draft_params, 4, 1.0, 1, loras=(distill,)))
    assert not backend._compiles(Request(draft_params, 4, 1.0, 1, loras=(distill, style)))


# ---------------------------------------------------------------------- where LoRAs come from


def test_shot_list_loras_defaults_per_shot_and_relative_to_the_list(tmp_path):
    from engine.formats.shotlist import ShotListError, load_shot_list

    (tmp_path / "seq.blend").write_bytes(b"BLENDER")
    (tmp_path / "loras").mkdir()
    (tmp_path / "loras" / "ink.safetensors").write_bytes(b"")
    shots = tmp_path / "shots.toml"
    shots.write_text('''
[defaults]
model = "tiny-random"
loras = ["loras/ink.safetensors:0.6"]

[[shots]]
name = "sh010"
blend = "seq.blend"
prompt = "a"

[[shots]]
name = "sh020"
blend = "seq.blend"
prompt = "b"
quality = "draft"
loras = [{ path = "org/name/film.safetensors", weight = 0.4 }]
''', encoding="utf-8")
    first, second = load_shot_list(shots).shots
    assert first.params.loras == [{"path": str((tmp_path / "loras" / "ink.safetensors").resolve()), "weight": 0.6}]
    assert second.params.loras == [{"path": "org/name/film.safetensors", "weight": 0.4}] and second.params.quality == "draft"
    shots.write_text(shots.read_text().replace("weight = 0.4", "weight = 40"), encoding="utf-8")
    with pytest.raises(ShotListError, match="shot 'sh020': LoRA org/name/film.safetensors: weight must be"):
        load_shot_list(shots)


def test_a_hub_lora_is_found_in_the_hub_cache_offline(tmp_path, monkeypatch):
    from engine.models.loras import locate

    snapshot = tmp_path / "hub" / "models--someone--wan-loras" / "snapshots" / "abc123"
    (snapshot / "styles").mkdir(parents=True)
    factory.write_diffusers(factory.random_lora(1), snapshot / "styles" / "ink.safetensors")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    assert locate("someone/wan-loras/styles/ink.safetensors") == (snapshot / "styles" / "ink.safetensors", "someone/wan-loras")
    assert locate("someone/wan-loras")[0] == snapshot / "styles" / "ink.safetensors"  # its only .safetensors


def test_the_known_models_name_their_draft_loras():
    from engine.models.catalog import KNOWN_MODELS
    from engine.speed import draft

    assert draft.distill_lora_source("wan-vace-14b") == (
        "lightx2v/Wan2.1-T2V-14B-StepDistill-CfgDistill-Lightx2v/loras/Wan21_T2V_14B_lightx2v_cfg_step_distill_lora_rank64.safetensors")
    assert draft.distill_lora_source("Wan-AI/Wan2.1-VACE-1.3B-diffusers") == (
        "Kijai/WanVideo_comfy/Wan21_CausVid_bidirect2_T2V_1_3B_lora_rank32.safetensors")
    assert draft.distill_lora_source("animatediff-controlnet") is None
    assert KNOWN_MODELS["wan-vace-14b"].describe()["draft_lora"].startswith("lightx2v/")
    from engine.models.download import _lora_files

    assert _lora_files("wan-vace-1.3b") == [KNOWN_MODELS["wan-vace-1.3b"].draft_lora] and _lora_files("tiny-random") == []


def test_generate_downloads_a_hub_lora_with_download_and_records_it(engine_cache, tmp_path):
    """``--lora org/name/file.safetensors:W --download`` against a Hub on 127.0.0.1: only that file is
    fetched (resumable, checked like a model's files), then the take records it."""
    import hashlib
    import subprocess
    import sys

    from engine_testlib import REPO_ROOT, engine_env
    from tests.hub_server import LocalHub, Repo

    lora = factory.write_original(factory.random_lora(3), tmp_path / "ink.safetensors", alpha=2.0)
    files = {"styles/ink.safetensors": lora.read_bytes(), "styles/other.safetensors": b"x" * 64, "README.md": b"# loras\n"}
    bundle = make_bundle(tmp_path / "bundle", frames=[1, 2, 3, 4, 5])
    env = {**engine_env(engine_cache), "HF_HOME": str(tmp_path / "models"), "HF_TOKEN_PATH": str(tmp_path / "no-token")}
    env.pop("HF_HUB_OFFLINE")
    with LocalHub({"studio/wan-loras": Repo(files)}) as hub:
        done = subprocess.run(
            [sys.executable, "-m", "engine", "generate", str(bundle), "--out", str(tmp_path / "take"), "--model", "tiny-random",
             "--prompt", "neon", "--steps", "1", "--seed", "3", "--lora", "studio/wan-loras/styles/ink.safetensors:0.5", "--download"],
            cwd=REPO_ROOT, env={**env, "HF_ENDPOINT": hub.url}, capture_output=True, text=True, timeout=300)
        fetched = hub.fetched()
    assert done.returncode == 0, done.stderr[-2000:]
    assert fetched == ["styles/ink.safetensors"]
    (recorded,) = json.loads((tmp_path / "take" / "take.json").read_text())["loras"]
    assert (recorded["repo_id"], recorded["weight"], recorded["format"]) == ("studio/wan-loras", 0.5, "original")
    assert recorded["sha256"] == hashlib.sha256(lora.read_bytes()).hexdigest()


def test_hello_tells_whether_a_models_draft_lora_is_on_disk(tmp_path):
    from engine.models import installed
    from engine.models.catalog import KNOWN_MODELS

    model = KNOWN_MODELS["wan-vace-1.3b"]
    hub = tmp_path / "hub"
    assert installed.model_state(model, hub, tmp_path / "cache")["draft_lora_installed"] is False
    repo, filename = model.draft_lora
    file = installed.storage_folder(hub, repo) / "snapshots" / ("b" * 40) / filename
    file.parent.mkdir(parents=True)
    file.write_bytes(b"")
    state = installed.model_state(model, hub, tmp_path / "cache")
    assert state["draft_lora_installed"] is True and state["installed"] is False  # the model itself is still missing
    assert "draft_lora_installed" not in installed.model_state(KNOWN_MODELS["tiny-random"], hub, tmp_path / "cache")
