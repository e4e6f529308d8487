"""Step caches on the VACE transformer (``engine.speed.step_cache``), against the uncached model.

- threshold 0: the cached take equals the uncached take exactly (``first-block`` and ``mag``);
- identical consecutive inputs: a skipped step equals a computed one to float tolerance, with our
  hooks; diffusers' own ``FirstBlockCache`` / ``MagCache`` hooks on the same VACE model skip the
  step too and are wrong (they add the control hints a second time), so the comparison can fail;
- bad ``cache`` values are one line; the hooks are gone after the call.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conformance import Shot, engine_output
from engine.errors import ParamsError
from engine.formats.params import QUALITIES, GenerateParams
from engine_testlib import make_bundle

#: A skipped step on identical inputs equals the computed one to this (float32 on the CPU; measured ~1e-7).
SKIP_TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def shot(tmp_path_factory) -> Shot:
    bundle = make_bundle(tmp_path_factory.mktemp("cache") / "bundle")
    return Shot(bundle, GenerateParams(prompt="rainy neon street", model="tiny-random", seed=3, steps=4, guidance=5.0,
                                       negative_prompt="dark"))


@pytest.mark.parametrize("cache", ["first-block:0", "mag:0"])
def test_threshold_zero_equals_the_uncached_take_exactly(session, shot, tmp_path, cache):
    plain = engine_output(session, shot, tmp_path / "plain")
    cached = engine_output(session, shot.with_params(cache=cache), tmp_path / "cached")
    assert np.array_equal(cached.frames, plain.frames)
    record = cached.record["speed"]["step_cache"]
    assert record["kind"] == cache.split(":")[0] and record["threshold"] == 0
    assert record["transformer_evaluations"] == 8 and record["skipped"] == 0  # 4 steps x 2 guidance passes
    assert cached.record["params"]["cache"] == cache
    again = engine_output(session, shot, tmp_path / "again")  # the next take without a cache records none
    assert "step_cache" not in again.record["speed"]


def test_a_positive_threshold_skips_steps_and_says_how_many(session, shot, tmp_path):
    take = engine_output(session, shot.with_params(steps=8, cache="first-block:1.0"), tmp_path / "take")
    record = take.record["speed"]["step_cache"]
    assert record["transformer_evaluations"] == 16 and 0 < record["skipped"] < 16
    assert record["computed"] + record["skipped"] == 16


# ------------------------------------------------------------- identical consecutive inputs


@pytest.fixture
def model():
    from engine.backends import tiny_random

    return tiny_random.components()["transformer"].eval().requires_grad_(False)


def inputs(model):
    generator = torch.Generator().manual_seed(0)
    config = model.config
    return dict(
        hidden_states=torch.randn(1, config.in_channels, 3, 4, 6, generator=generator),
        timestep=torch.tensor([500.0]),
        encoder_hidden_states=torch.randn(1, 7, config.text_dim, generator=generator),
        control_hidden_states=torch.randn(1, config.vace_in_channels, 3, 4, 6, generator=generator),
        control_hidden_states_scale=torch.tensor([1.0, 0.7]),
        return_dict=False,
    )


def run_steps(model, count: int) -> list[torch.Tensor]:
    outputs = []
    with torch.no_grad():
        for _ in range(count):
            with model.cache_context("cond"):
                outputs.append(model(**inputs(model))[0])
    return outputs


def worst(a, b) -> float:
    return (a - b).abs().max().item()


@pytest.mark.parametrize("kind, calls", [("first-block", 2), ("mag", 3)])
def test_a_skipped_step_equals_a_computed_one(model, kind, calls):
    """first-block: the second call's first block changed by 0, so it skips; mag: after two computed
    steps the measured ratio is exactly 1 and the third skips."""
    from engine.speed.step_cache import step_cache

    reference = run_steps(model, 1)[0]
    with step_cache([model], f"{kind}:0.5", steps=calls) as applied:
        outputs = run_steps(model, calls)
    assert applied.describe()["skipped"] == 1 and applied.describe()["computed"] == calls - 1
    assert reference.abs().mean() > 0.1
    for output in outputs:
        assert worst(output, reference) < SKIP_TOLERANCE


def test_diffusers_first_block_cache_is_wrong_on_vace(model):
    from diffusers.hooks import FirstBlockCacheConfig

    reference = run_steps(model, 1)[0]
    model.enable_cache(FirstBlockCacheConfig(threshold=0.5))  # diffusers' own, on WanVACETransformer3DModel
    computed, skipped = run_steps(model, 2)
    assert worst(computed, reference) < SKIP_TOLERANCE  # it computed the first step right
    assert worst(skipped, reference) > 100 * SKIP_TOLERANCE  # and skipped the second with the hints twice


def test_diffusers_mag_cache_is_wrong_on_vace(model):
    from diffusers.hooks import MagCacheConfig

    reference = run_steps(model, 1)[0]
    model.enable_cache(MagCacheConfig(threshold=0.5, mag_ratios=[1.0, 1.0], num_inference_steps=2, retention_ratio=0.0))
    computed, skipped = run_steps(model, 2)
    assert worst(computed, reference) < SKIP_TOLERANCE
    assert worst(skipped, reference) > 100 * SKIP_TOLERANCE


def test_the_hooks_are_removed_after_the_call(model):
    from engine.speed.step_cache import step_cache

    with step_cache([model], "mag:0.5", steps=2):
        run_steps(model, 1)
    hooked = [name for name, module in model.named_modules()
              if getattr(module, "_diffusers_hook", None) is not None and module._diffusers_hook.hooks]
    assert hooked == []
    assert worst(run_steps(model, 1)[0], run_steps(model, 1)[0]) == 0


# -------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("value", ["first-block", "tea:0.1", "mag:-1", "mag:x", "first-block:2"])
def test_a_bad_cache_is_one_line(value):
    with pytest.raises(ParamsError) as caught:
        GenerateParams(prompt="neon", cache=value).check()
    assert "first-block:THRESHOLD" in caught.value.message and "\n" not in caught.value.message


@pytest.mark.skipif("draft" not in QUALITIES, reason="the draft quality is not in this engine yet")
def test_a_cache_is_refused_for_draft():
    with pytest.raises(ParamsError) as caught:
        GenerateParams(prompt="neon", quality="draft", cache="mag:0.1").check()
    assert "final" in caught.value.message
