"""Finding weights: local folders and the Hugging Face cache layout, offline, safetensors only, no remote code."""

import json
import shutil

import pytest
import torch

from engine.errors import ModelError, OutOfMemory
from engine.generation.generate import generate_take
from engine.formats.params import GenerateParams
from engine.generation.runtime import Runtime, is_out_of_memory, out_of_memory_error
from engine.models.weights import fingerprint, resolve_model
from engine_testlib import make_bundle

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def tiny_folder(engine_cache):
    return resolve_model("tiny-random").path


def hub_layout(hf_home, repo_id, source):
    """Lay ``source`` out as the Hugging Face cache does: models--org--name/{refs/main, snapshots/<commit>/}."""
    repo = hf_home / "hub" / ("models--" + repo_id.replace("/", "--"))
    shutil.copytree(source, repo / "snapshots" / COMMIT)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    return repo / "snapshots" / COMMIT


def test_tiny_random_is_built_saved_and_resolved_like_real_weights(tiny_folder):
    model = resolve_model("tiny-random")
    assert model.backend == "tiny-random" and (model.path / "model_index.json").is_file()
    assert sorted(p.name for p in model.path.rglob("*.safetensors"))  # saved with save_pretrained as safetensors
    assert not list(model.path.rglob("*.bin"))
    assert "noise" in (model.path / "NOTE.txt").read_text()


def test_tiny_random_build_is_deterministic(tiny_folder, tmp_path):
    from engine.backends import tiny_random

    tiny_random.build(tmp_path / "again")
    assert fingerprint(tmp_path / "again") == fingerprint(tiny_folder)


def test_local_folder_is_loaded_as_wan_vace(tiny_folder, tmp_path):
    shutil.copytree(tiny_folder, tmp_path / "my-model")
    model = resolve_model(str(tmp_path / "my-model"))
    assert model.backend == "wan-vace" and model.repo_id is None and model.fingerprint == fingerprint(tiny_folder)


def test_hugging_face_cache_layout_end_to_end(session, tiny_folder, tmp_path, monkeypatch):
    """A repo id found in HF_HOME is resolved offline, recorded with its commit, and generates a take
    through the wan-vace backend (the same loading code as the real Wan weights)."""
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    snapshot = hub_layout(tmp_path / "hf", "studio/tiny-vace", tiny_folder)
    model = resolve_model("studio/tiny-vace")
    assert model.path == snapshot and model.revision == COMMIT and model.repo_id == "studio/tiny-vace"
    bundle = make_bundle(tmp_path / "bundle", width=40, height=24, frames=[1001, 1002, 1003])
    params = GenerateParams(prompt="neon", model="studio/tiny-vace", seed=1, steps=1)
    generate_take(session, bundle, tmp_path / "take", params, lambda *a, **k: None)
    record = json.loads((tmp_path / "take" / "take.json").read_text())
    assert record["model"]["revision"] == COMMIT and record["resolved"]["backend"] == "wan-vace"
    assert record["plan"]["windows"] == [{"first_frame": 1001, "last_frame": 1003, "carried": 0, "generated": 5}]


def test_known_models_report_what_is_downloaded(tiny_folder, tmp_path, monkeypatch):
    from engine.models.weights import known_models

    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    hub_layout(tmp_path / "hf", "Wan-AI/Wan2.1-VACE-14B-diffusers", tiny_folder)
    available = {m["name"]: m["available"] for m in known_models()}
    assert available == {"tiny-random": True, "wan-vace-1.3b": False, "wan-vace-14b": True,
                         "wan2.2-vace-fun-a14b": False, "animatediff-controlnet": False}


def test_missing_weights_name_what_to_download_and_where(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    with pytest.raises(ModelError) as caught:
        resolve_model("wan-vace-14b")
    message = caught.value.message
    assert "Wan-AI/Wan2.1-VACE-14B-diffusers" in message and "--download" in message
    assert str(tmp_path / "hf" / "hub") in message and "\n" not in message


@pytest.mark.parametrize("name, fragment", [("nothing-like-this", "unknown model"), ("./no/such/folder", "does not exist")])
def test_unknown_models(name, fragment):
    with pytest.raises(ModelError, match=fragment):
        resolve_model(name)


def test_pickled_weights_are_refused(tiny_folder, tmp_path):
    folder = tmp_path / "pickled"
    shutil.copytree(tiny_folder, folder)
    (folder / "transformer" / "diffusion_pytorch_model.safetensors").rename(folder / "transformer" / "diffusion_pytorch_model.bin")
    with pytest.raises(ModelError, match="safetensors only"):
        resolve_model(str(folder))


def test_code_in_the_model_folder_is_refused(tiny_folder, tmp_path):
    folder = tmp_path / "with-code"
    shutil.copytree(tiny_folder, folder)
    (folder / "pipeline.py").write_text("import os\n")
    with pytest.raises(ModelError, match="never runs code"):
        resolve_model(str(folder))


def test_components_from_other_libraries_are_refused(tiny_folder, tmp_path):
    folder = tmp_path / "remote"
    shutil.copytree(tiny_folder, folder)
    index = json.loads((folder / "model_index.json").read_text())
    index["transformer"] = ["my_package", "MyTransformer"]
    (folder / "model_index.json").write_text(json.dumps(index))
    with pytest.raises(ModelError, match="only diffusers and transformers"):
        resolve_model(str(folder))


def test_unknown_pipeline_class_is_refused(tiny_folder, tmp_path):
    folder = tmp_path / "other"
    shutil.copytree(tiny_folder, folder)
    index = json.loads((folder / "model_index.json").read_text())
    index["_class_name"] = "FluxPipeline"
    (folder / "model_index.json").write_text(json.dumps(index))
    with pytest.raises(ModelError, match="FluxPipeline"):
        resolve_model(str(folder))


def test_truncated_weights_are_a_one_line_model_error(session, tiny_folder, tmp_path):
    folder = tmp_path / "truncated"
    shutil.copytree(tiny_folder, folder)
    weights = folder / "transformer" / "diffusion_pytorch_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    params = GenerateParams(prompt="neon", model=str(folder), seed=1, steps=1)
    with pytest.raises(ModelError, match="cannot load .*truncated") as caught:
        generate_take(session, make_bundle(tmp_path / "bundle", frames=[1]), tmp_path / "take", params, lambda *a, **k: None)
    assert "\n" not in caught.value.message and not (tmp_path / "take").exists()


def test_unwritable_engine_cache_is_a_one_line_model_error(tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("NEURAL_PREVIS_CACHE", str(blocker / "cache"))
    with pytest.raises(ModelError, match="NEURAL_PREVIS_CACHE"):
        resolve_model("tiny-random")


# ------------------------------------------------------------------------------------ out of memory


@pytest.mark.parametrize("offload, advice", [("none", "--offload model"), ("model", "--offload group"), ("group", "smaller model")])
def test_gpu_out_of_memory_names_the_next_offload_profile(offload, advice):
    error = out_of_memory_error(Runtime("cuda:0", "bfloat16", offload), "denoising", "81 frames at 832x480")
    assert isinstance(error, OutOfMemory) and advice in error.message and "81 frames at 832x480" in error.message


def test_out_of_memory_is_recognised():
    assert is_out_of_memory(torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    assert not is_out_of_memory(RuntimeError("shape mismatch"))


def test_out_of_memory_during_denoising_is_one_line_and_leaves_no_take(session, tmp_path):
    """Inject an allocation failure into the real transformer's forward with a torch hook."""
    bundle = make_bundle(tmp_path / "bundle", frames=[1])
    params = GenerateParams(prompt="neon", model="tiny-random", seed=1, steps=1)
    generate_take(session, bundle, tmp_path / "warmup", params, lambda *a, **k: None)
    _, pipeline, _ = session.pipeline(resolve_model("tiny-random"), _cpu_runtime())

    def fail(module, args):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    handle = pipeline.transformer.register_forward_pre_hook(fail)
    try:
        with pytest.raises(OutOfMemory, match="while denoising 1 frames at 48x32"):
            generate_take(session, bundle, tmp_path / "take", params, lambda *a, **k: None)
    finally:
        handle.remove()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle", "warmup"]


def _cpu_runtime():
    from engine.generation.runtime import resolve_runtime

    return resolve_runtime(GenerateParams(prompt="x", model="tiny-random"))


def test_an_extra_component_for_a_backend_that_combines_none_is_one_line(engine_cache):
    with pytest.raises(ModelError) as error:
        resolve_model("tiny-random", motion_adapter="guoyww/animatediff-motion-adapter-v1-5-3")
    assert str(error.value) == "motion_adapter only applies to the animatediff-controlnet backend, not tiny-random"
