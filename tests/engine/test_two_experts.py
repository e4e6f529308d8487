"""Two-expert models (Wan2.2 VACE-Fun A14B's layout): a tiny folder with ``transformer``,
``transformer_2`` and ``boundary_ratio``, built here, loads by path through the stock
``WanVACEPipeline.from_pretrained`` and its take equals the stock call on the same inputs, with a
``guidance_2`` that differs from ``guidance`` (so which expert runs which step matters)."""

from __future__ import annotations

import json

import numpy as np
import torch
import pytest

from conformance import FRAME_TOLERANCE, Shot, engine_output, levels, load_stock_pipeline, stock_output
from engine.errors import ParamsError
from engine.formats.params import GenerateParams
from engine_testlib import make_bundle

SEED = 5


@pytest.fixture(scope="module")
def two_experts(tmp_path_factory, engine_cache):
    from engine.backends import tiny_random

    return tiny_random.build_two_experts(tmp_path_factory.mktemp("a14b") / "tiny two experts")  # a space in the path


@pytest.fixture(scope="module")
def shot(two_experts, tmp_path_factory) -> Shot:
    bundle = make_bundle(tmp_path_factory.mktemp("two-experts-bundle") / "bundle")  # 48x32, 9 frames: one window
    return Shot(bundle, GenerateParams(prompt="rainy neon street", model=str(two_experts), seed=SEED, steps=4,
                                       guidance=5.0, guidance_2=2.0, negative_prompt="dark"))


def calls(model, into: list, name: str):
    return model.register_forward_pre_hook(lambda module, args: into.append(name))


def test_the_folder_is_a14b_s_layout(two_experts):
    index = json.loads((two_experts / "model_index.json").read_text())
    assert index["_class_name"] == "WanVACEPipeline" and index["boundary_ratio"] == 0.875
    assert index["transformer"] == index["transformer_2"] == ["diffusers", "WanVACETransformer3DModel"]


def test_a_two_expert_take_equals_stock_wan_vace_pipeline(session, shot, tmp_path):
    stock = load_stock_pipeline(shot.params.model)
    assert stock.transformer_2 is not None and stock.config.boundary_ratio == 0.875
    order: list = []
    handles = [calls(stock.transformer, order, "high"), calls(stock.transformer_2, order, "low")]
    try:
        expected = stock_output(stock, shot, guidance_scale_2=2.0)
    finally:
        for handle in handles:
            handle.remove()
    # Both experts ran, the high-noise one first (two passes a step with guidance): the boundary is inside the take.
    assert "high" in order and "low" in order and order.index("low") > max(i for i, n in enumerate(order) if n == "high")

    take = engine_output(session, shot, tmp_path / "take")
    assert levels(take.frames, expected) <= FRAME_TOLERANCE
    assert take.record["params"]["guidance_2"] == 2.0 and take.record["resolved"]["backend"] == "wan-vace"
    pipeline = session._pipeline
    assert pipeline.transformer_2 is not None and pipeline.config.boundary_ratio == 0.875
    assert pipeline._guidance_scale == 5.0 and pipeline._guidance_scale_2 == 2.0  # what the stock call ran with

    # The comparison can fail: the low-noise steps (timesteps 750 and 500 of 999, 900, 750, 500) run
    # the second expert; with the first expert throughout the frames move by far more than the tolerance.
    stock.transformer_2 = stock.transformer
    assert levels(stock_output(stock, shot, guidance_scale_2=2.0), expected) > 20


def test_guidance_2_defaults_to_guidance(session, shot, tmp_path):
    """Without guidance_2 the stock call uses guidance for both experts (and so does the engine)."""
    stock = load_stock_pipeline(shot.params.model)
    plain = shot.with_params(guidance_2=None)
    take = engine_output(session, plain, tmp_path / "take")
    assert levels(take.frames, stock_output(stock, plain)) <= FRAME_TOLERANCE
    assert take.record["params"]["guidance_2"] is None


def test_guidance_2_on_one_expert_is_one_line(engine_cache, bundle, tmp_path):
    from engine.generation.generate import check_inputs

    params = GenerateParams(prompt="neon", model="tiny-random", guidance_2=3.0)
    with pytest.raises(ParamsError) as caught:
        check_inputs(bundle, tmp_path / "take", params)
    assert "two experts" in caught.value.message and "\n" not in caught.value.message


def test_lora_targets_name_both_experts(session, shot, tmp_path):
    from engine.models.experts import expert_layout, lora_targets

    engine_output(session, shot.with_params(steps=1), tmp_path / "load")
    assert lora_targets(session._pipeline) == [{}, {"load_into_transformer_2": True}]
    assert expert_layout(shot.params.model).two_experts


def test_each_expert_has_its_own_step_cache(session, shot, tmp_path):
    """Threshold 0 on both experts: the take equals the uncached one exactly, every evaluation counted."""
    plain = engine_output(session, shot, tmp_path / "plain")
    cached = engine_output(session, shot.with_params(cache="first-block:0"), tmp_path / "cached")
    assert np.array_equal(cached.frames, plain.frames)
    assert cached.record["speed"]["step_cache"]["transformer_evaluations"] == 8


def test_one_expert_at_a_time_in_the_none_profile(shot, tmp_path, monkeypatch):
    """The placement for a card too small for both experts, run on the CPU (onload device = offload
    device): the experts get diffusers' offload hooks, the other components none, and the take is
    the stock call's."""
    from engine.generation.session import Session

    monkeypatch.setenv("NEURAL_PREVIS_EXPERTS", "one")
    expected = stock_output(load_stock_pipeline(shot.params.model), shot, guidance_scale_2=2.0)
    session = Session()
    try:
        take = engine_output(session, shot, tmp_path / "take")
        pipeline = session._pipeline
        assert hasattr(pipeline.transformer, "_hf_hook") and hasattr(pipeline.transformer_2, "_hf_hook")
        assert not hasattr(pipeline.vae, "_hf_hook") and not hasattr(pipeline.text_encoder, "_hf_hook")
    finally:
        session.unload()
    assert levels(take.frames, expected) <= FRAME_TOLERANCE


def test_the_policy_holds_one_expert_only_where_both_do_not_fit(session, shot, tmp_path, monkeypatch):
    from engine.speed.policy import TAKE_HEADROOM_BYTES, module_bytes, one_expert_on_device

    monkeypatch.delenv("NEURAL_PREVIS_EXPERTS", raising=False)
    engine_output(session, shot.with_params(steps=1), tmp_path / "load")
    pipeline = session._pipeline
    weights = sum(module_bytes(m) for m in pipeline.components.values() if isinstance(m, torch.nn.Module))
    assert one_expert_on_device(pipeline, "cuda:0", total_memory=weights + TAKE_HEADROOM_BYTES - 1)
    assert not one_expert_on_device(pipeline, "cuda:0", total_memory=weights + TAKE_HEADROOM_BYTES)
    assert not one_expert_on_device(pipeline, "cpu")
