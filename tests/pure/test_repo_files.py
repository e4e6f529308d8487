"""Which files of a model repository a download fetches, decided from real repositories' listings
(Stable Diffusion 1.5, a Wan VACE diffusers conversion, a ControlNet), and when a local folder counts
as complete. Pure: the add-on draws the preferences from the same functions."""

import json

import pytest

from neural_previs.engine.models.installed import RECORD_NAME, RECORD_SCHEMA, local_folders, needs_download, repo_state
from neural_previs.engine.models.repo_files import RepoLayoutError, missing_in_folder, needed_files

# stable-diffusion-v1-5/stable-diffusion-v1-5 as listed on the Hub (files, not sizes)
SD15 = [
    ".gitattributes", "README.md", "model_index.json", "v1-5-pruned-emaonly.ckpt", "v1-5-pruned-emaonly.safetensors",
    "v1-5-pruned.ckpt", "v1-5-pruned.safetensors", "v1-inference.yaml",
    "feature_extractor/preprocessor_config.json",
    "safety_checker/config.json", "safety_checker/model.fp16.safetensors", "safety_checker/model.safetensors",
    "safety_checker/pytorch_model.bin", "safety_checker/pytorch_model.fp16.bin",
    "scheduler/scheduler_config.json",
    "text_encoder/config.json", "text_encoder/model.fp16.safetensors", "text_encoder/model.safetensors",
    "text_encoder/pytorch_model.bin", "text_encoder/pytorch_model.fp16.bin",
    "tokenizer/merges.txt", "tokenizer/special_tokens_map.json", "tokenizer/tokenizer_config.json", "tokenizer/vocab.json",
    "unet/config.json", "unet/diffusion_pytorch_model.bin", "unet/diffusion_pytorch_model.fp16.bin",
    "unet/diffusion_pytorch_model.fp16.safetensors", "unet/diffusion_pytorch_model.non_ema.bin",
    "unet/diffusion_pytorch_model.non_ema.safetensors", "unet/diffusion_pytorch_model.safetensors",
    "vae/config.json", "vae/diffusion_pytorch_model.bin", "vae/diffusion_pytorch_model.fp16.bin",
    "vae/diffusion_pytorch_model.fp16.safetensors", "vae/diffusion_pytorch_model.safetensors",
]
SD15_INDEX = {
    "_class_name": "StableDiffusionPipeline", "feature_extractor": ["transformers", "CLIPImageProcessor"],
    "safety_checker": ["stable_diffusion", "StableDiffusionSafetyChecker"], "scheduler": ["diffusers", "PNDMScheduler"],
    "text_encoder": ["transformers", "CLIPTextModel"], "tokenizer": ["transformers", "CLIPTokenizer"],
    "unet": ["diffusers", "UNet2DConditionModel"], "vae": ["diffusers", "AutoencoderKL"],
}
WAN = [
    ".gitattributes", "README.md", "model_index.json", "assets/comp_effic.png", "examples/i2v_input.JPG",
    "scheduler/scheduler_config.json",
    "text_encoder/config.json", "text_encoder/model-00001-of-00003.safetensors", "text_encoder/model-00002-of-00003.safetensors",
    "text_encoder/model-00003-of-00003.safetensors", "text_encoder/model.safetensors.index.json",
    "tokenizer/special_tokens_map.json", "tokenizer/spiece.model", "tokenizer/tokenizer.json", "tokenizer/tokenizer_config.json",
    "transformer/config.json", "transformer/diffusion_pytorch_model-00001-of-00002.safetensors",
    "transformer/diffusion_pytorch_model-00002-of-00002.safetensors", "transformer/diffusion_pytorch_model.safetensors.index.json",
    "vae/config.json", "vae/diffusion_pytorch_model.safetensors",
]
WAN_INDEX = {
    "_class_name": "WanVACEPipeline", "scheduler": ["diffusers", "UniPCMultistepScheduler"], "text_encoder": ["transformers", "UMT5EncoderModel"],
    "tokenizer": ["transformers", "T5TokenizerFast"], "transformer": ["diffusers", "WanVACETransformer3DModel"],
    "transformer_2": [None, None], "vae": ["diffusers", "AutoencoderKLWan"],
}


def test_stable_diffusion_gets_its_components_without_root_checkpoints_pickles_variants_or_the_unused_safety_checker():
    assert needed_files(SD15, SD15_INDEX, skipped=("safety_checker",)) == [
        "feature_extractor/preprocessor_config.json", "model_index.json", "scheduler/scheduler_config.json",
        "text_encoder/config.json", "text_encoder/model.safetensors",
        "tokenizer/merges.txt", "tokenizer/special_tokens_map.json", "tokenizer/tokenizer_config.json", "tokenizer/vocab.json",
        "unet/config.json", "unet/diffusion_pytorch_model.safetensors", "vae/config.json", "vae/diffusion_pytorch_model.safetensors",
    ]


def test_wan_gets_every_shard_and_index_and_no_images_or_null_components():
    files = needed_files(WAN, WAN_INDEX)
    assert [f for f in files if f.startswith("text_encoder/")] == [
        "text_encoder/config.json", "text_encoder/model-00001-of-00003.safetensors", "text_encoder/model-00002-of-00003.safetensors",
        "text_encoder/model-00003-of-00003.safetensors", "text_encoder/model.safetensors.index.json",
    ]
    assert "tokenizer/spiece.model" in files and "transformer/diffusion_pytorch_model.safetensors.index.json" in files
    assert not [f for f in files if f.startswith(("assets/", "examples/")) or f.endswith(("README.md", ".gitattributes"))]
    assert not [f for f in files if f.startswith("transformer_2")]


def test_single_model_repository_gets_its_config_and_default_weights():
    listing = ["config.json", "diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.fp16.safetensors",
               "diffusion_pytorch_model.bin", "images/depth.png", "README.md", "control_v11f1p_sd15_depth.pth"]
    assert needed_files(listing, None) == ["config.json", "diffusion_pytorch_model.safetensors"]


@pytest.mark.parametrize("listing, index, fragment", [
    (["model_index.json", "unet/config.json", "unet/diffusion_pytorch_model.bin"], {"unet": ["diffusers", "UNet2DConditionModel"]}, "no .safetensors"),
    (["model_index.json"], {"unet": ["diffusers", "UNet2DConditionModel"]}, "no unet/ folder"),
    (["README.md", "weights.ckpt"], None, "not a diffusers model repository"),
    (["config.json", "diffusion_pytorch_model.bin"], None, "no .safetensors"),
])
def test_repositories_the_engine_cannot_load(listing, index, fragment):
    with pytest.raises(RepoLayoutError, match=fragment):
        needed_files(listing, index)


def write_folder(root, files):
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def wan_folder(root):
    return write_folder(root, {
        "model_index.json": json.dumps(WAN_INDEX), "scheduler/scheduler_config.json": "{}",
        "text_encoder/config.json": "{}", "text_encoder/model.safetensors.index.json": json.dumps(
            {"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}),
        "text_encoder/model-00001-of-00002.safetensors": "w", "text_encoder/model-00002-of-00002.safetensors": "w",
        "tokenizer/tokenizer_config.json": "{}", "transformer/config.json": "{}",
        "transformer/diffusion_pytorch_model.safetensors": "w", "vae/config.json": "{}", "vae/diffusion_pytorch_model.safetensors": "w",
    })


def test_a_folder_missing_a_shard_a_weight_or_a_component_is_incomplete(tmp_path):
    folder = wan_folder(tmp_path / "wan")
    assert missing_in_folder(folder) == []
    (folder / "text_encoder" / "model-00002-of-00002.safetensors").unlink()
    (folder / "vae" / "diffusion_pytorch_model.safetensors").unlink()
    assert missing_in_folder(folder) == ["text_encoder/model-00002-of-00002.safetensors", "vae/*.safetensors"]
    import shutil

    shutil.rmtree(folder / "scheduler")
    assert "scheduler/(config)" in missing_in_folder(folder)


def hub_snapshot(hub, repo_id, files, commit="c" * 40, record=None):
    storage = hub / ("models--" + repo_id.replace("/", "--"))
    write_folder(storage / "snapshots" / commit, files)
    (storage / "refs").mkdir(parents=True)
    (storage / "refs" / "main").write_text(commit)
    if record is not None:
        (storage / RECORD_NAME).write_text(json.dumps({"schema": RECORD_SCHEMA, "revision": commit, "files": record}))
    return storage


def test_the_download_record_decides_completeness_and_partial_downloads_are_reported(tmp_path):
    hub = tmp_path / "hub"
    storage = hub_snapshot(hub, "lab/model", {"config.json": "{}", "diffusion_pytorch_model.safetensors": "weights"},
                           record={"config.json": 2, "diffusion_pytorch_model.safetensors": 7, "extra.json": 2})
    state = repo_state(hub, "lab/model")
    assert not state.complete and state.missing == ["extra.json"]  # recorded, so required, though the folder looks whole
    (storage / "snapshots" / ("c" * 40) / "extra.json").write_text("{}")
    assert repo_state(hub, "lab/model").complete
    (storage / "blobs").mkdir()
    (storage / "blobs" / "f00d.incomplete").write_bytes(b"x" * 1234)
    assert repo_state(hub, "lab/model").partial_bytes == 1234


def test_needs_download_for_names_and_repo_ids_never_for_folders_or_built_models(tmp_path):
    hub = tmp_path / "hub"
    assert needs_download("wan-vace-1.3b", hub) and needs_download("lab/model", hub)
    assert not needs_download("tiny-random", hub) and not needs_download(str(tmp_path), hub)
    hub_snapshot(hub, "Wan-AI/Wan2.1-VACE-1.3B-diffusers", {"model_index.json": json.dumps(WAN_INDEX)})
    assert needs_download("wan-vace-1.3b", hub)  # a snapshot holding only the index is not an installed model


def test_local_diffusers_folders_in_the_models_folder_are_models_too(tmp_path):
    wan_folder(tmp_path / "models" / "my-wan")
    (tmp_path / "models" / "hub").mkdir()
    (tmp_path / "models" / "notes").mkdir()
    (entry,) = local_folders(tmp_path / "models")
    assert entry["name"] == str(tmp_path / "models" / "my-wan") and entry["backend"] == "wan-vace"
    assert entry["local"] and entry["installed"] and entry["where"] == entry["name"]


@pytest.mark.parametrize("reason", ["gated", "not_found", "disk_space", "read_only", "network", "offline", "missing_file", "busy", "damaged"])
def test_download_failures_are_worded_for_blender_without_command_line_flags(reason):
    from neural_previs.addon.model_store import download_failure_message

    engine_line = "the engine's line names --models-dir"
    message = download_failure_message(engine_line, {"reason": reason, "repo": "lab/x", "file": "a.safetensors",
                                                     "folder": "/m", "needed": 2e10, "free": 1e9}, "/m")
    assert "--" not in message and "\n" not in message and message != engine_line


def test_a_download_failure_of_no_known_cause_names_the_log():
    from neural_previs.addon.model_store import download_failure_message

    log = "/Usér Nàme/logs/model-download.log"
    message = download_failure_message("unexpected: the server sent garbage", {"reason": "other"}, "/m", log)
    assert message == f"Unexpected: the server sent garbage (details: {log})"
    assert log not in download_failure_message("x", {"reason": "network"}, "/m", log)  # a known cause says what to do
