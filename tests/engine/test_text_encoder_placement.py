"""The ``none`` profile keeps a large text encoder in host memory where the weights and a take do
not both fit the GPU (VACE-1.3B on a 24 GB card), and copies it to the device only to encode."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from engine.generation.generate import generate_take
from engine.formats.params import GenerateParams
from engine.generation.runtime import keep_text_encoder_on_host, text_encoder_on_device, text_encoder_stays_on_host
from engine.generation.session import Session
from engine_testlib import load_benchmark


@pytest.fixture(scope="module")
def wan_1_3b_on_meta():
    """The real VACE-1.3B set (UMT5-XXL 11.4 GB, transformer 4.3 GB, VAE) on the meta device: sizes
    without memory."""
    from diffusers import AutoencoderKLWan, UniPCMultistepScheduler, WanVACEPipeline, WanVACETransformer3DModel
    from transformers import UMT5Config, UMT5EncoderModel

    from engine.backends.tiny_random import _tokenizer

    bench = load_benchmark("engine")
    with torch.device("meta"):
        transformer = WanVACETransformer3DModel(**bench.TRANSFORMERS["vace-1.3b"]).to(torch.bfloat16)
        text_encoder = UMT5EncoderModel(UMT5Config(**bench.UMT5_XXL)).to(torch.bfloat16)
        vae = AutoencoderKLWan()
    return WanVACEPipeline(tokenizer=_tokenizer(), text_encoder=text_encoder, transformer=transformer, vae=vae,
                           scheduler=UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True))


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


def frames(path):
    return np.stack([np.asarray(Image.open(p)) for p in sorted((path / "frames").iterdir())])


def test_a_hosted_text_encoder_gives_the_same_take(engine_cache, bundle, tmp_path):
    """Run on the CPU, where the copy is a no-op: the pipeline runs without its text encoder, the
    encoder is lent back for encoding only, and the pictures are the same."""
    session = Session()
    try:
        params = GenerateParams(prompt="rainy neon street", model="tiny-random", seed=5, steps=2)
        generate_take(session, bundle, tmp_path / "plain", params, lambda *a, **k: None)
        pipeline = session._pipeline
        encoder = pipeline.text_encoder
        weights = {name: tensor.data_ptr() for name, tensor in encoder.state_dict().items()}
        keep_text_encoder_on_host(pipeline)
        session.prompts.clear()  # encode again, through the hosted encoder
        lent = []
        original = type(encoder).forward

        def forward(self, *args, **kwargs):
            lent.append(pipeline.text_encoder is self)
            return original(self, *args, **kwargs)

        type(encoder).forward = forward
        try:
            generate_take(session, bundle, tmp_path / "hosted", params, lambda *a, **k: None)
        finally:
            type(encoder).forward = original
        assert lent and all(lent)  # in the pipeline while encoding
        assert pipeline.text_encoder is None  # and out of it afterwards
        assert {name: tensor.data_ptr() for name, tensor in encoder.state_dict().items()} == weights
        assert np.array_equal(frames(tmp_path / "plain"), frames(tmp_path / "hosted"))
        record = json.loads((tmp_path / "hosted" / "take.json").read_text())
        assert record["speed"]["prompt_embeddings_cached"] is False
    finally:
        session.unload()


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
