"""GPU checks, run only where CUDA is available: bfloat16 on the GPU and each --offload profile, with
the real pipeline and tiny-random weights. Skipped on CPU-only machines (CI)."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from engine.generation.generate import generate_take
from engine.generation.runtime import device_report, probe_dtype, resolve_device
from engine.formats.params import GenerateParams
from engine_testlib import make_bundle

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.mark.parametrize("offload", ["none", "model", "group"])
def test_tiny_random_on_cuda_with_each_offload_profile(session, tmp_path, offload):
    bundle = make_bundle(tmp_path / "bundle", width=45, height=31, frames=list(range(1001, 1012)))
    params = GenerateParams(prompt="neon", model="tiny-random", seed=2, steps=2, device="cuda", offload=offload)
    generate_take(session, bundle, tmp_path / "take", params, lambda *a, **k: None)
    record = json.loads((tmp_path / "take" / "take.json").read_text())
    assert record["runtime"]["dtype"] == probe_dtype("cuda:0") and record["runtime"]["device"].startswith("cuda:0")
    assert record["peak_memory"]["device_peak_bytes"] > 0
    frames = sorted((tmp_path / "take" / "frames").iterdir())
    assert len(frames) == 11 and np.asarray(Image.open(frames[0])).shape == (31, 45, 3)


def test_cuda_generation_is_deterministic(session, tmp_path):
    bundle = make_bundle(tmp_path / "bundle", frames=[1, 2, 3])
    for name in ("a", "b"):
        params = GenerateParams(prompt="neon", model="tiny-random", seed=9, steps=2, device="cuda")
        generate_take(session, bundle, tmp_path / name, params, lambda *a, **k: None)
    for frame in ("0001.png", "0002.png", "0003.png"):
        a = np.asarray(Image.open(tmp_path / "a" / "frames" / frame)).astype(int)
        b = np.asarray(Image.open(tmp_path / "b" / "frames" / frame)).astype(int)
        assert np.abs(a - b).max() <= 1  # GPU kernels may differ in the last bit


def test_hosted_text_encoder_on_cuda(tmp_path, monkeypatch, engine_cache):
    """The none profile with the text encoder kept in host memory (as on a 24 GB card): the take is
    made, and between takes the encoder's weights are on the CPU only."""
    from engine.generation.session import Session

    monkeypatch.setenv("NEURAL_PREVIS_TEXT_ENCODER", "host")
    session = Session()
    try:
        bundle = make_bundle(tmp_path / "bundle", frames=[1, 2, 3])
        params = GenerateParams(prompt="neon", model="tiny-random", seed=4, steps=2, device="cuda")
        generate_take(session, bundle, tmp_path / "take", params, lambda *a, **k: None)
        record = json.loads((tmp_path / "take" / "take.json").read_text())
        assert record["speed"]["text_encoder"].startswith("host")
        pipeline = session._pipeline
        assert pipeline.text_encoder is None
        encoder = pipeline._neural_previs_hosted_text_encoder
        assert {p.device.type for p in encoder.parameters()} == {"cpu"}
        assert pipeline.transformer.device.type == "cuda"
    finally:
        session.unload()


def test_auto_picks_the_gpu_and_the_precision_it_computes_natively():
    assert resolve_device("auto") == "cuda:0"
    native_bf16 = torch.cuda.is_bf16_supported(including_emulation=False)
    assert (probe_dtype("cuda:0") == "bfloat16") == native_bf16
    report = device_report()
    assert report["device_name"] == torch.cuda.get_device_name(0) and report["cuda_version"] == torch.version.cuda
    assert report["device_memory"] == torch.cuda.get_device_properties(0).total_memory
