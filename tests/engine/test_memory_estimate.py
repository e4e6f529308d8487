"""The memory profiles' design, checked against diffusers' own allocations: benchmarks/memory.py runs
the real modules on the meta device at 832x480x81 and counts live tensors (the Wan VAE gave the same
peak there as with real arithmetic on the CPU: 7.3 GB for one 832x480 frame's decode)."""

import subprocess
import sys
from pathlib import Path

import pytest
from engine_testlib import load_benchmark

REPO = Path(__file__).resolve().parents[2]
#: Left for what live tensors do not count: the CUDA context, allocator fragmentation, workspaces.
HEADROOM = 1.5e9


@pytest.fixture(scope="module")
def memory():
    return load_benchmark("memory")


def test_one_vae_pass_needs_tiles_in_8_gb_and_the_engine_tiles_bound_it(memory):
    from engine.speed.vae_tiling import VAE_TILE_PIXELS, vae_tiles

    tiles = vae_tiles(480, 832, VAE_TILE_PIXELS)
    plain = memory.vae("decode", 832, 480, 81, None)["peak_bytes"]
    tiled = memory.vae("decode", 832, 480, 81, tiles)["peak_bytes"]
    assert plain > 7e9  # one pass would not leave room for anything else in 8 GB
    assert tiled < 0.6 * plain


@pytest.mark.parametrize("model,budget", [("vace-1.3b", 8e9), ("vace-14b", 24e9)])
def test_group_profile_fits_the_issues_budget(memory, model, budget):
    profile = memory.group_profile(model, 832, 480, 81)
    assert profile["peak_bytes"] + HEADROOM <= budget, profile["phases_bytes"]
    # and the text encoder is streamed by layer: loaded whole (11 GB) it alone would break 8 GB
    assert profile["text_encoder"]["weights_bytes"] > 8e9 > profile["phases_bytes"]["text_encoding"]


def test_memory_benchmark_runs_tiny():
    result = subprocess.run([sys.executable, str(REPO / "benchmarks" / "memory.py"), "--tiny"],
                            capture_output=True, text=True, timeout=300, cwd=REPO)
    assert result.returncode == 0, result.stderr[-2000:]
    parts = [line for line in result.stdout.splitlines() if line.startswith("{")]
    assert any('"group-profile"' in line for line in parts)


def test_hosting_the_text_encoder_makes_the_1_3b_fit_a_24_gb_card(memory):
    """Run 3 on an H200 measured 27.7 GB for a take with everything resident (this count: about
    1.3 GB less above the weights); with UMT5-XXL kept in host memory the take fits 24 GB."""
    resident = memory.unconstrained_profile("vace-1.3b", 832, 480, 81, hosted_text_encoder=False)
    hosted = memory.unconstrained_profile("vace-1.3b", 832, 480, 81, hosted_text_encoder=True)
    assert resident["peak_bytes"] + HEADROOM > 24e9
    assert hosted["peak_bytes"] + HEADROOM <= 24e9


def test_animatediff_configs_build_the_modules_the_hub_lists():
    """The configs in architectures.py, built on ``meta`` in float32, come to the sizes the Hugging Face
    Hub lists for those repositories' float32 safetensors files (stable-diffusion-v1-5: unet 3.44 GB,
    text_encoder 492 MB, vae 335 MB; guoyww/animatediff-motion-adapter-v1-5-3 1.67 GB;
    lllyasviel/control_v11f1p_sd15_depth 1.45 GB); the motion UNet the pipeline makes holds exactly the
    UNet's and the adapter's parameters."""
    import torch
    from diffusers import AutoencoderKL, ControlNetModel, MotionAdapter, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    architectures = load_benchmark("architectures")
    with torch.device("meta"):
        built = {
            "unet": UNet2DConditionModel(**architectures.SD15_UNET),
            "text_encoder": CLIPTextModel(CLIPTextConfig(**architectures.SD15_TEXT_ENCODER)),
            "vae": AutoencoderKL(**architectures.SD15_VAE),
            "motion_adapter": MotionAdapter(**architectures.MOTION_ADAPTER_V1_5_3),
            "controlnet": ControlNetModel(**architectures.CONTROLNET_V11_SD15),
        }
    parameters = {name: sum(p.numel() for p in module.parameters()) for name, module in built.items()}
    listed_gb = {"unet": 3.44, "motion_adapter": 1.67, "controlnet": 1.45}
    listed_mb = {"text_encoder": 492, "vae": 335}
    assert {name: round(4 * parameters[name] / 1e9, 2) for name in listed_gb} == listed_gb
    assert {name: round(4 * parameters[name] / 1e6) for name in listed_mb} == listed_mb
    motion_unet = architectures.build_animatediff("meta", torch.bfloat16)["unet"]
    assert sum(p.numel() for p in motion_unet.parameters()) == parameters["unet"] + parameters["motion_adapter"]
    assert {p.dtype for p in motion_unet.parameters()} == {torch.bfloat16}  # as the engine loads it


def test_catalog_gpu_memory_is_what_memory_py_counts(memory):
    """Every downloadable model in the catalog has the figures memory.py counts for it, rounded as the
    catalog writes them, at its backend's working size (largest frame, one window); models built on
    this machine (tiny-random) have none."""
    from engine.backends import get_spec
    from engine.models.catalog import KNOWN_MODELS

    downloadable = {name for name, model in KNOWN_MODELS.items() if model.repos}
    assert set(memory.CATALOG_COUNTS) == downloadable
    for name, model in KNOWN_MODELS.items():
        if name not in downloadable:
            assert model.gpu_memory_gb == {}, name
            continue
        _, (width, height, frames), _ = memory.CATALOG_COUNTS[name]
        spec = get_spec(model.backend)
        assert (width * height, frames) == (spec.max_pixels, spec.window), name
        assert width % spec.size_multiple == 0 == height % spec.size_multiple and spec.frame_rule.accepts(frames), name
        assert model.gpu_memory_gb == memory.catalog_gb(name), name
