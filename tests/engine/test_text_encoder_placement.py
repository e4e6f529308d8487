"""The ``none`` profile keeps a large text encoder in host memory where the weights and a take do
not both fit the GPU (VACE-1.3B on a 24 GB card), and copies it to the device only to encode.
(That a hosted text encoder gives the same take: test_conformance.py.)"""

from __future__ import annotations

import pytest
import torch

from engine.formats.params import GenerateParams
from engine.generation.generate import generate_take
from engine.speed.policy import text_encoder_stays_on_host
from engine.speed.text_encoder import text_encoder_on_device
from engine_testlib import load_benchmark


@pytest.fixture(scope="module")
def wan_1_3b_on_meta():
    """The real VACE-1.3B set (UMT5-XXL 11.4 GB, transformer 4.3 GB, VAE) on the meta device: sizes
    without memory."""
    architectures = load_benchmark("architectures")
    return architectures.make_pipeline(architectures.build_components("vace-1.3b", "meta", torch.bfloat16))


def test_host_only_where_the_weights_and_a_take_do_not_fit(wan_1_3b_on_meta, monkeypatch):
    monkeypatch.delenv("NEURAL_PREVIS_TEXT_ENCODER", raising=False)
    gb = 1024**3
    assert text_encoder_stays_on_host(wan_1_3b_on_meta, "cuda:0", total_memory=24 * gb)  # RTX 4090
    assert not text_encoder_stays_on_host(wan_1_3b_on_meta, "cuda:0", total_memory=80 * gb)  # H100
    assert not text_encoder_stays_on_host(wan_1_3b_on_meta, "cpu", total_memory=24 * gb)
    monkeypatch.setenv("NEURAL_PREVIS_TEXT_ENCODER", "device")
    assert not text_encoder_stays_on_host(wan_1_3b_on_meta, "cuda:0", total_memory=24 * gb)
    monkeypatch.setenv("NEURAL_PREVIS_TEXT_ENCODER", "host")
    assert text_encoder_stays_on_host(wan_1_3b_on_meta, "cuda:0", total_memory=80 * gb)


def test_a_small_text_encoder_stays_with_the_pipeline(session, bundle, tmp_path, monkeypatch):
    monkeypatch.delenv("NEURAL_PREVIS_TEXT_ENCODER", raising=False)
    generate_take(session, bundle, tmp_path / "take", GenerateParams(prompt="x", model="tiny-random", steps=1), lambda *a, **k: None)
    assert not text_encoder_stays_on_host(session._pipeline, "cuda:0", total_memory=1)  # tiny: far under 1 GB


def test_lending_restores_the_host_weights_even_on_error(engine_cache):
    class Holder:
        text_encoder = None

    holder = Holder()
    module = torch.nn.Linear(2, 2)
    holder._neural_previs_hosted_text_encoder = module
    host = module.weight.data_ptr()
    with pytest.raises(RuntimeError):
        with text_encoder_on_device(holder, "meta"):  # "meta" stands for the GPU: a real copy elsewhere
            assert holder.text_encoder is module and module.weight.device.type == "meta"
            raise RuntimeError("encoding failed")
    assert holder.text_encoder is None
    assert module.weight.device.type == "cpu" and module.weight.data_ptr() == host
