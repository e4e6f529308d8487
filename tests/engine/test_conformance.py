"""The engine's take equals stock ``WanVACEPipeline`` on the same inputs (tiny-random weights, CPU,
float32), and every speed switch keeps it within its stated tolerance of that baseline.

Shots of one exact window (48x32, 9 frames: no padding, one window): ``restyle``, ``selective``
with a plate, and a restyle with a reference image. The stock side is built by
``conformance.stock_arguments`` from the bundle alone (the documented convention) and called
directly; the engine side is ``generate_take``. Tolerances, in levels of 255 on the uint8 frames:

| what | tolerance | why |
| --- | --- | --- |
| the engine's take (stock switches) | ``FRAME_TOLERANCE`` = 1 | the same computation (measured: 0) |
| attention backends ``_native_math``, ``_native_flash``, ``flex`` | 1 | float32 reduction order only |
| regional compile with Inductor (``torch.compile``'s default backend) | 1 | Inductor's fused kernels reorder float32 arithmetic |
| batched guidance | 1 | batch 2 instead of two of batch 1 |
| text encoder in host memory, prompt cache, zero-latent cache | 0 | the same values, not recomputed or copied |
| ``--offload group`` (streamed onto the CPU itself), ``--offload model`` | 1 | the same modules, moved by hooks |
| VAE tiling (32-px tiles on 48x32 frames: every pixel near a seam) | max ``TILING_TOLERANCE``, mean ``TILING_MEAN_TOLERANCE`` | tiles are blended at their seams; random weights magnify that (measured max 48, mean 5.5; misplaced tiles differ by ~100 on average) |
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image

from conformance import FRAME_TOLERANCE, Shot, engine_output, levels, load_stock_pipeline, stock_arguments, stock_output
from engine.formats.params import GenerateParams
from engine.generation.session import Session
from engine.speed import regional_compile
from engine.speed.switches import Switches
from engine_testlib import make_bundle

TILING_TOLERANCE = 64
TILING_MEAN_TOLERANCE = 8
SEED = 11


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> dict[str, Shot]:
    root = tmp_path_factory.mktemp("conformance")
    bundle = make_bundle(root / "bundle")  # 48x32, frames 1-9: a box over a floor
    ys, xs = np.mgrid[0:32, 0:48]
    plate = root / "plate"
    plate.mkdir()
    for frame in range(1, 10):
        pixels = np.stack([(xs * 5 + frame * 20) % 256, (ys * 7) % 256, np.full_like(xs, 40 * frame % 256)], axis=2)
        Image.fromarray(pixels.astype(np.uint8)).save(plate / f"{frame:04d}.png")
    reference = root / "reference.png"
    Image.fromarray(np.stack([xs * 5, ys * 8, 255 - xs * 5], axis=2).astype(np.uint8)).save(reference)
    base = GenerateParams(prompt="rainy neon street", model="tiny-random", seed=SEED, steps=3, guidance=5.0,
                          negative_prompt="dark")
    return {
        "restyle": Shot(bundle, base),
        "selective": Shot(bundle, replace(base, mode="selective", objects=["Cube"], plate=str(plate))),
        "reference": Shot(bundle, replace(base, reference=str(reference), conditioning_scale=0.8)),
    }


@pytest.fixture(scope="module")
def stock(engine_cache):
    from engine.backends import tiny_random

    return load_stock_pipeline(tiny_random.built_folder(engine_cache))


@pytest.fixture(scope="module")
def baseline(stock, shots) -> dict[str, np.ndarray]:
    """The stock call's frames for each shot, computed before any engine switch runs: diffusers
    keeps the last attention backend set as a process-wide default."""
    return {name: stock_output(stock, shot) for name, shot in shots.items()}


class Tuned:
    """A session of its own for the switch tests (they change its pipeline's switches)."""

    def __init__(self, shot: Shot, load_dir):
        from engine.generation.runtime import resolve_runtime

        self.session = Session()
        self.runtime = resolve_runtime(shot.params)
        self._shot, self._load_dir = shot, load_dir

    def use(self, chosen: Switches):
        """Configure the pipeline's load-time switches (loading it first); ``(backend, pipeline)``."""
        if self.session._pipeline is None:
            engine_output(self.session, self._shot.with_params(steps=1), self._load_dir / "load")
        self.session._backend.configure(self.session._pipeline, self.runtime, chosen)
        return self.session._backend, self.session._pipeline

    def take(self, shot: Shot, out, report=None):
        return engine_output(self.session, shot, out, report)


@pytest.fixture(scope="module")
def tuned_session(shots, tmp_path_factory):
    tuned = Tuned(shots["restyle"], tmp_path_factory.mktemp("tuned"))
    yield tuned
    tuned.session.unload()


@pytest.fixture
def tuned(tuned_session, engine_cache):
    """The tuned session, with the stock switches put back after the test."""
    yield tuned_session
    if tuned_session.session._pipeline is not None:
        tuned_session.use(Switches())


# ------------------------------------------------------------------------------ the spine


@pytest.mark.parametrize("name", ["restyle", "selective", "reference"])
def test_the_take_equals_stock_wan_vace_pipeline(session, shots, baseline, name, tmp_path):
    take = engine_output(session, shots[name], tmp_path / "take")
    assert baseline[name].shape == (9, 32, 48, 3) and baseline[name].std() > 5  # a picture, not a constant
    assert levels(take.frames, baseline[name]) <= FRAME_TOLERANCE
    assert take.record["plan"]["padding_left_top_right_bottom"] == [0, 0, 0, 0]
    assert len(take.record["plan"]["windows"]) == 1


def test_the_inputs_matter(session, shots, baseline, tmp_path):
    """The comparison can fail: another seed, or the mask of another mode, moves the frames."""
    reseeded = engine_output(session, shots["restyle"].with_params(seed=SEED + 1), tmp_path / "reseeded")
    assert levels(reseeded.frames, baseline["restyle"]) > 20
    assert levels(baseline["selective"], baseline["restyle"]) > 20


@pytest.mark.parametrize("name", ["restyle", "reference"])
def test_decoding_as_a_phase_gives_the_stock_calls_frames(stock, shots, name):
    """The engine asks the stock call for latents and decodes them itself (decoding is its own
    phase): the frames equal the stock call's output_type="np" value for value."""
    from engine.backends import load_backend
    from engine.generation.windows import WindowInputs

    arguments = stock_arguments(shots[name])
    latents = stock(**arguments, output_type="latent").frames
    arguments["generator"].manual_seed(SEED)
    frames = stock_output(stock, shots[name], generator=arguments["generator"])
    window = WindowInputs(control=[], generate=[], reference=np.zeros((32, 48, 3), np.uint8) if name == "reference" else None,
                          width=48, height=32, seed=SEED)
    decoded = load_backend("tiny-random").decode(stock, latents, window)
    assert np.array_equal(decoded, frames)


# ------------------------------------------------------------------ each switch vs the baseline



@pytest.mark.parametrize("name", ["_native_math", "_native_flash", "flex"])
def test_attention_backend(tuned, shots, baseline, tmp_path, name):
    from diffusers.models.attention_dispatch import AttentionBackendName

    _, pipeline = tuned.use(Switches(attention=name))
    processors = {m.processor._attention_backend for m in pipeline.transformer.modules() if hasattr(m, "processor")}
    assert processors == {AttentionBackendName(name)}
    take = tuned.take(shots["restyle"], tmp_path / "take")
    assert take.record["speed"]["attention"] == name
    assert levels(take.frames, baseline["restyle"]) <= 1


def test_regional_compile_with_inductor(tuned, shots, baseline, tmp_path):
    """torch.compile's default backend (Inductor, C++ kernels on the CPU), fullgraph as the engine
    compiles: the repeated blocks run compiled and the take stays within 1 level of stock."""
    torch._dynamo.reset()
    _, pipeline = tuned.use(Switches(compile=True))
    try:
        take = tuned.take(shots["restyle"], tmp_path / "take")
        blocks = [m for m in pipeline.transformer.modules() if m.__class__.__name__ in pipeline.transformer._repeated_blocks]
        assert blocks and all(m._compiled_call_impl is not None for m in blocks)
        assert take.record["speed"]["compile"] is True and "compile_failed" not in take.record["speed"]
        assert levels(take.frames, baseline["restyle"]) <= 1
    finally:
        regional_compile.set_compiled(pipeline.transformer, False)
        torch._dynamo.reset()


def test_batched_guidance(tuned, shots, baseline, tmp_path):
    from diffusers.hooks import HookRegistry

    from engine.speed.batched_guidance import HOOK_NAME

    _, pipeline = tuned.use(Switches(batched_guidance=True))
    batches = []
    handle = pipeline.transformer.patch_embedding.register_forward_pre_hook(lambda module, args: batches.append(args[0].shape[0]))
    try:
        take = tuned.take(shots["selective"], tmp_path / "take")
    finally:
        handle.remove()
    assert batches == [2, 2, 2]  # one forward of batch 2 per step instead of two of batch 1
    assert take.record["speed"]["batched_guidance"] is True
    assert levels(take.frames, baseline["selective"]) <= 1
    assert HookRegistry.check_if_exists_or_initialize(pipeline.transformer).get_hook(HOOK_NAME) is None


def test_vae_tiling(tuned, shots, baseline, tmp_path):
    _, pipeline = tuned.use(Switches(vae_tiling=True, vae_tile_pixels=32 * 32))  # tiles that split 48x32 frames
    take = tuned.take(shots["restyle"], tmp_path / "take")
    assert take.record["speed"]["vae_tiling"] is True and take.record["speed"]["vae_tiles"]["tile_sample_min_width"] == 32
    assert pipeline.vae.tile_sample_min_width == 32 and pipeline.vae.tile_sample_stride_width == 16
    difference = np.abs(take.frames.astype(int) - baseline["restyle"].astype(int))
    assert 0 < difference.max() <= TILING_TOLERANCE and difference.mean() <= TILING_MEAN_TOLERANCE


def test_prompt_cache(tuned, shots, baseline, tmp_path):
    _, pipeline = tuned.use(Switches())
    tuned.session.prompts.clear()
    first = tuned.take(shots["restyle"], tmp_path / "first")
    runs = []
    handle = pipeline.text_encoder.register_forward_hook(lambda *args: runs.append(1))
    try:
        second = tuned.take(shots["restyle"], tmp_path / "second")
        assert runs == [] and second.record["speed"]["prompt_embeddings_cached"] is True
        other = tuned.take(shots["restyle"].with_params(prompt="watercolour city"), tmp_path / "other")
        assert runs and other.record["speed"]["prompt_embeddings_cached"] is False
    finally:
        handle.remove()
    assert first.record["speed"]["prompt_embeddings_cached"] is False
    assert np.array_equal(first.frames, second.frames) and levels(second.frames, baseline["restyle"]) <= FRAME_TOLERANCE


def test_zero_latent_cache(tuned, shots, baseline, tmp_path):
    """A restyle's kept part is all zeros: a later take reuses its latents (one VAE encode instead of two)."""
    backend, pipeline = tuned.use(Switches())
    first = tuned.take(shots["restyle"], tmp_path / "first")
    hits = backend.zero_latents.hits
    encodes = []
    hook = pipeline.vae.encoder.register_forward_pre_hook(lambda module, args: encodes.append(bool(args[0].any())))
    try:
        second = tuned.take(shots["restyle"], tmp_path / "second")
    finally:
        hook.remove()
    assert backend.zero_latents.hits > hits
    assert encodes and all(encodes)  # only non-zero videos reached the encoder
    assert np.array_equal(first.frames, second.frames) and levels(second.frames, baseline["restyle"]) <= FRAME_TOLERANCE
    assert "encode" not in pipeline.vae.__dict__  # unwrapped after the call


def own_session(shots, tmp_path):
    """A session whose pipeline a test may change for good (placement, hosting), loaded by a take."""
    session = Session()
    plain = engine_output(session, shots["restyle"], tmp_path / "plain")
    return session, plain


def test_text_encoder_in_host_memory(engine_cache, shots, baseline, tmp_path):
    """The none profile's hosted text encoder, run on the CPU (where lending copies nothing): the
    pipeline runs without it, it is lent back to encode only, and the take is the same."""
    from engine.speed.text_encoder import keep_text_encoder_on_host

    session, plain = own_session(shots, tmp_path)
    try:
        pipeline = session._pipeline
        encoder = pipeline.text_encoder
        weights = {name: tensor.data_ptr() for name, tensor in encoder.state_dict().items()}
        keep_text_encoder_on_host(pipeline)
        session.prompts.clear()
        lent = []
        handle = encoder.register_forward_pre_hook(lambda module, args: lent.append(pipeline.text_encoder is module))
        try:
            hosted = engine_output(session, shots["restyle"], tmp_path / "hosted")
        finally:
            handle.remove()
        assert lent and all(lent) and pipeline.text_encoder is None
        assert {name: tensor.data_ptr() for name, tensor in encoder.state_dict().items()} == weights
        assert np.array_equal(hosted.frames, plain.frames) and levels(hosted.frames, baseline["restyle"]) <= FRAME_TOLERANCE
    finally:
        session.unload()


@pytest.mark.parametrize("offload", ["group", "model"])
def test_offload_profiles(engine_cache, shots, baseline, tmp_path, offload):
    """The memory profiles' placement, run on the CPU (onload device = offload device): the hooks
    land where they should, and the take stays within 1 level of stock."""
    from engine.generation.runtime import Runtime
    from engine.speed import offload as placement

    session, _ = own_session(shots, tmp_path)
    try:
        pipeline = session._pipeline
        placement.place(pipeline, Runtime(device="cpu", dtype="float32", offload=offload))
        if offload == "group":
            def hooked(module):
                registry = getattr(module, "_diffusers_hook", None)
                return registry is not None and registry.get_hook("group_offloading") is not None

            text_layers = [m for m in pipeline.text_encoder.modules() if isinstance(m, torch.nn.Linear)]
            assert text_layers and all(hooked(m) for m in text_layers)  # leaf level: every layer its own group
            assert hooked(pipeline.transformer.blocks[0]) and not any(hooked(m) for m in pipeline.vae.modules())
        else:
            assert all(hasattr(m, "_hf_hook") for m in (pipeline.text_encoder, pipeline.transformer, pipeline.vae))
        session.prompts.clear()
        take = engine_output(session, shots["selective"], tmp_path / "take")
        assert levels(take.frames, baseline["selective"]) <= 1
    finally:
        session.unload()
