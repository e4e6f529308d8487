"""Each speed switch (engine/acceleration.py) leaves the take unchanged within a stated tolerance.

tiny-random on CPU, same seed, same bundle, float32. Compared: the final latents of each window
(before decoding) and the uint8 frames. Tolerances:
- batched guidance, attention backend (native vs math), regional compile (eager backend), prompt
  cache: latents within 1e-4 absolute (float32 reduction order only), frames within 1 level of 255;
- VAE tiling: frames within TILING_TOLERANCE levels, mean within TILING_MEAN_TOLERANCE (tiles are
  blended at their seams, so pixels near the seams change: tiling is only on in the low-memory profiles).
"""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image

from engine.speed import acceleration as speed
from engine.generation.generate import generate_take
from engine.formats.params import GenerateParams
from engine.generation.session import Session

LATENT_TOLERANCE = 1e-4
FRAME_TOLERANCE = 1
#: Tiled VAE (encode of the control video and decode), tiny-random with 32-px tiles on 64x32 frames
#: (every pixel near a seam): measured max 48 and mean 5.5 levels of 255. Random weights magnify
#: seams; the bound is there to catch a broken tiling (misplaced tiles differ by ~100 on average).
TILING_TOLERANCE = 64
TILING_MEAN_TOLERANCE = 8


def tiny(**fields) -> GenerateParams:
    return GenerateParams(**{"prompt": "rainy neon street", "model": "tiny-random", "seed": 11, "steps": 3,
                             "guidance": 5.0, **fields})


def quiet(*args, **kwargs):
    pass


class Take:
    def __init__(self, path, latents):
        self.path = path
        self.latents = latents
        self.frames = np.stack([np.asarray(Image.open(p)) for p in sorted((path / "frames").iterdir())])
        self.record = json.loads((path / "take.json").read_text())


def take(session, bundle, out, acceleration=None, **fields) -> Take:
    """Generate a take with the given speed switches; keep each window's final latents."""
    latents = []
    if acceleration is not None:
        _ensure_loaded(session, bundle, out)
        backend, pipeline = session._backend, session._pipeline
        backend.configure(pipeline, _runtime(), acceleration)
    from engine.backends.wan_vace import Backend

    original = Backend.denoise

    def recording(self, *args, **kwargs):
        result = original(self, *args, **kwargs)
        latents.append(result.detach().float().clone())
        return result

    Backend.denoise = recording
    try:
        generate_take(session, bundle, out, tiny(**fields), quiet)
    finally:
        Backend.denoise = original
    return Take(out, latents)


def _runtime():
    from engine.generation.runtime import resolve_runtime

    return resolve_runtime(tiny())


def _ensure_loaded(session, bundle, out):
    if session._pipeline is None:
        generate_take(session, bundle, out.parent / f"{out.name}-warmup", tiny(steps=1), quiet)


def assert_same(a: Take, b: Take, frames=FRAME_TOLERANCE):
    assert len(a.latents) == len(b.latents)
    for x, y in zip(a.latents, b.latents):
        assert (x - y).abs().max().item() <= LATENT_TOLERANCE
    assert np.abs(a.frames.astype(int) - b.frames.astype(int)).max() <= frames


def count_batches(session, calls):
    """Record the batch size of every transformer forward (at its patch embedding)."""
    return session._pipeline.transformer.patch_embedding.register_forward_pre_hook(
        lambda module, args: calls.append(args[0].shape[0])
    )


PLAIN = speed.Acceleration(attention="native", batched_guidance=False, compile=False, vae_tiling=False)


@pytest.fixture
def fresh(engine_cache):
    """A session of its own: these tests change the loaded pipeline's switches."""
    session = Session()
    yield session
    session.unload()


def test_defaults_on_cpu():
    runtime = _runtime()
    chosen = speed.choose(runtime)
    # batched guidance is off (no gain measured at full size); compile is CUDA-only
    assert not chosen.batched_guidance and not chosen.compile and not chosen.vae_tiling
    assert not speed.choose(runtime, warm_worker=True).compile
    assert speed.choose_attention_backend("cpu", torch.float32, 2, 12) == ("native", {"native": "cpu: not probed"})


def test_compile_is_on_only_in_a_warm_worker_on_cuda_without_offload(monkeypatch):
    """Compile costs ~37 s once and saves ~0.4 s a step (H200, docs/speed.md): it pays back only
    over several takes, and is not combined with the offload hooks."""
    from engine.generation.runtime import Runtime

    monkeypatch.delenv("NEURAL_PREVIS_COMPILE", raising=False)
    cuda = Runtime(device="cuda:0", dtype="bfloat16", offload="none")
    assert speed.choose(cuda, warm_worker=True).compile
    assert not speed.choose(cuda, warm_worker=False).compile
    for offload in ("model", "group"):
        chosen = speed.choose(Runtime(device="cuda:0", dtype="bfloat16", offload=offload), warm_worker=True)
        assert not chosen.compile and chosen.vae_tiling
    monkeypatch.setenv("NEURAL_PREVIS_COMPILE", "0")
    assert not speed.choose(cuda, warm_worker=True).compile
    monkeypatch.setenv("NEURAL_PREVIS_COMPILE", "1")
    assert speed.choose(cuda, warm_worker=False).compile


def test_warm_workers_ask_for_warm_worker_defaults():
    from engine.batch.runner import _GenerationWorker
    from engine.generation.session import Session

    assert not Session().warm_worker
    assert _GenerationWorker().session.warm_worker


def test_attention_backend_needs_a_clear_win_over_native():
    """H200, 32,760 tokens: cuDNN won the probe by 1 % and lost 3 % in the model."""
    assert speed.pick_attention_backend({"_native_cudnn": 0.010768, "native": 0.010887}) == "native"
    assert speed.pick_attention_backend({"_native_cudnn": 0.0080, "native": 0.0109}) == "_native_cudnn"
    assert speed.pick_attention_backend({"flash": "error ImportError", "native": 0.0109}) == "native"
    assert speed.pick_attention_backend({"native": "wrong: max abs error 1", "_native_flash": 0.02}) == "_native_flash"
    assert speed.pick_attention_backend({}) == "native"


def test_attention_probe_checks_and_times_each_candidate():
    """The probe's logic, on the CPU: a backend that cannot run is reported, not chosen; the others
    are checked against float32 math attention and timed."""
    best, report = speed.choose_attention_backend(
        "cpu", torch.float32, heads=2, head_dim=16, candidates=("native", "_native_math", "flash"), tokens=300,
        probe_cpu=True,
    )
    assert best in ("native", "_native_math")
    assert isinstance(report["native"], float) and isinstance(report["_native_math"], float)
    assert report["flash"].startswith("error")


def test_batched_guidance_matches_two_forwards(fresh, bundle, tmp_path):
    calls = []
    plain = take(fresh, bundle, tmp_path / "plain", PLAIN)
    handle = count_batches(fresh, calls)
    try:
        batched = take(fresh, bundle, tmp_path / "batched", replace(PLAIN, batched_guidance=True))
    finally:
        handle.remove()
    assert calls == [2, 2, 2]  # one forward of batch 2 per step instead of two of batch 1
    assert_same(plain, batched)
    assert batched.record["speed"]["batched_guidance"] is True
    # the wrapper is gone after the call: the transformer's own forward is back
    assert "forward" not in fresh._pipeline.transformer.__dict__


def test_batched_guidance_off_without_guidance(fresh, bundle, tmp_path):
    calls = []
    take(fresh, bundle, tmp_path / "warm", replace(PLAIN, batched_guidance=True), guidance=1.0)
    handle = count_batches(fresh, calls)
    try:
        take(fresh, bundle, tmp_path / "noguidance", guidance=1.0)
    finally:
        handle.remove()
    assert calls == [1, 1, 1]


def test_prompt_cache_skips_the_text_encoder(fresh, bundle, tmp_path):
    runs = []
    first = take(fresh, bundle, tmp_path / "first", PLAIN)
    handle = fresh._pipeline.text_encoder.register_forward_hook(lambda *a: runs.append(1))
    try:
        second = take(fresh, bundle, tmp_path / "second")
        assert runs == [] and second.record["speed"]["prompt_embeddings_cached"] is True
        assert np.array_equal(first.frames, second.frames)
        third = take(fresh, bundle, tmp_path / "third", prompt="watercolour city")
        assert runs and third.record["speed"]["prompt_embeddings_cached"] is False
    finally:
        handle.remove()


def test_attention_backend_math_matches_native(fresh, bundle, tmp_path):
    native = take(fresh, bundle, tmp_path / "native", PLAIN)
    math = take(fresh, bundle, tmp_path / "math", replace(PLAIN, attention="_native_math"))
    assert math.record["speed"]["attention"] == "_native_math"
    assert_same(native, math)
    speed.set_attention_backend(fresh._pipeline.transformer, "native")


def test_regional_compile_matches_eager(fresh, bundle, tmp_path, monkeypatch):
    """fullgraph=True also proves the repeated blocks compile without graph breaks."""
    eager = take(fresh, bundle, tmp_path / "eager", PLAIN)
    transformer = fresh._pipeline.transformer
    _compile_with(monkeypatch, transformer, "eager")
    compiled = take(fresh, bundle, tmp_path / "compiled", replace(PLAIN, compile=True))
    blocks = [m for m in transformer.modules() if m.__class__.__name__ in transformer._repeated_blocks]
    assert blocks and all(m._compiled_call_impl is not None for m in blocks)
    assert_same(eager, compiled)
    speed.set_compiled(transformer, False)
    assert all(m._compiled_call_impl is None for m in blocks)


def _compile_with(monkeypatch, transformer, backend):
    original = transformer.compile_repeated_blocks
    monkeypatch.setattr(transformer, "compile_repeated_blocks",
                        lambda **kwargs: original(**kwargs, backend=backend), raising=False)
    torch._dynamo.reset()


def test_compiler_failure_finishes_the_take_eagerly(fresh, bundle, tmp_path, monkeypatch):
    """torch.compile fails at the first call of a compiled block: the take is still made, eagerly,
    with the same pictures, and take.json says what failed."""
    eager = take(fresh, bundle, tmp_path / "eager", PLAIN)
    transformer = fresh._pipeline.transformer
    calls = []

    def broken_backend(graph, example_inputs):
        calls.append(1)
        raise RuntimeError("no C compiler on this machine")

    _compile_with(monkeypatch, transformer, broken_backend)
    rescued = take(fresh, bundle, tmp_path / "rescued", replace(PLAIN, compile=True))
    assert calls, "the broken compiler was never reached: the test proves nothing"
    assert rescued.record["speed"]["compile"] is False
    assert "no C compiler" in rescued.record["speed"]["compile_failed"]
    assert len(rescued.latents) == 1  # recorded once: the failed attempt returned nothing
    assert_same(eager, rescued)
    assert not fresh._backend.acceleration.compile  # the next take does not try again
    blocks = [m for m in transformer.modules() if m.__class__.__name__ in transformer._repeated_blocks]
    assert all(m._compiled_call_impl is None for m in blocks)


def test_other_errors_are_not_taken_for_compile_failures():
    assert not speed.is_compile_failure(RuntimeError("CUDA out of memory"))
    assert not speed.is_compile_failure(ValueError("bad size"))
    assert speed.is_compile_failure(torch._dynamo.exc.Unsupported("graph break"))


def test_preview_runs_compiled_blocks_eagerly(fresh, bundle, tmp_path, monkeypatch):
    """A preview take is a new size: it must not compile (or recompile) the blocks."""
    take(fresh, bundle, tmp_path / "warm", PLAIN)
    transformer = fresh._pipeline.transformer
    graphs = []

    def counting_backend(graph, example_inputs):
        graphs.append(graph)
        return graph.forward

    _compile_with(monkeypatch, transformer, counting_backend)
    final = take(fresh, bundle, tmp_path / "final", replace(PLAIN, compile=True))
    compiled = len(graphs)
    assert compiled > 0 and final.record["speed"]["compile"] is True
    take(fresh, bundle, tmp_path / "preview", quality="preview", steps=2)
    assert len(graphs) == compiled  # no compile at the preview size
    speed.set_compiled(transformer, False)


def test_vae_tiling_within_tolerance(fresh, bundle, tmp_path):
    plain = take(fresh, bundle, tmp_path / "plain", PLAIN)
    vae = fresh._pipeline.vae
    # tiles small enough that the 48x32 test frames (64x32 working size) are really split
    tiled_acceleration = replace(PLAIN, vae_tiling=True, vae_tile_pixels=32 * 32)
    fresh._backend.configure(fresh._pipeline, _runtime(), tiled_acceleration)
    tiled = take(fresh, bundle, tmp_path / "tiled")
    assert tiled.record["speed"]["vae_tiling"] is True
    assert tiled.record["speed"]["vae_tiles"]["tile_sample_min_width"] == 32
    assert vae.tile_sample_min_width == 32 and vae.tile_sample_stride_width == 16
    difference = np.abs(plain.frames.astype(int) - tiled.frames.astype(int))
    assert 0 < difference.max() <= TILING_TOLERANCE
    assert difference.mean() <= TILING_MEAN_TOLERANCE


def test_preview_quality(session, bundle, tmp_path):
    preview = take(session, bundle, tmp_path / "preview", quality="preview", steps=None)
    record = preview.record
    assert record["resolved"]["steps"] == speed.PREVIEW_STEPS and record["params"]["quality"] == "preview"
    assert record["plan"]["scaled_width"] * record["plan"]["scaled_height"] <= 64 * 64 * speed.PREVIEW_PIXEL_FRACTION
    assert preview.frames.shape == (9, 32, 48, 3)  # the shot's exact frames and size, scaled back up


@pytest.mark.parametrize("height,width", [(480, 832), (832, 480), (720, 1280), (1080, 1920), (496, 880),
                                          (64, 4096), (528, 944), (1024, 1024)])
def test_vae_tiles_cover_the_frame_with_the_fewest_tiles_that_fit(height, width):
    """Walk the tiles as diffusers' tiled_encode/decode do (range(0, size, stride), each tile
    tile_sample_min long, clipped): every pixel is covered, no tile is over the limit, and no
    sliver tile is made at an edge."""
    limit = speed.VAE_TILE_PIXELS
    tiles = speed.vae_tiles(height, width, limit)
    assert tiles is not None
    rows = list(range(0, height, tiles["tile_sample_stride_height"]))
    cols = list(range(0, width, tiles["tile_sample_stride_width"]))
    assert tiles["tile_sample_min_height"] * tiles["tile_sample_min_width"] <= limit
    for axis, starts, size in (("height", rows, height), ("width", cols, width)):
        tile, stride = tiles[f"tile_sample_min_{axis}"], tiles[f"tile_sample_stride_{axis}"]
        covered = np.zeros(size, bool)
        for start in starts:
            covered[start:start + tile] = True
        assert covered.all()
        assert all(start + 16 < size for start in starts)  # no sliver
        assert tile - stride == (speed.VAE_TILE_OVERLAP if len(starts) > 1 else 0) and stride % 16 == 0
    # at most twice the tiles that the pixel count alone would need (overlaps cost the rest)
    assert len(rows) * len(cols) <= 2 * -(-height * width // limit)


def test_vae_tiles_for_an_832x480_shot_are_two_not_fifteen():
    tiles = speed.vae_tiles(480, 832, speed.VAE_TILE_PIXELS)
    assert tiles == {"tile_sample_min_height": 480, "tile_sample_min_width": 480,
                     "tile_sample_stride_height": 480, "tile_sample_stride_width": 416}
    assert speed.vae_tiles(480, 480, speed.VAE_TILE_PIXELS) is None  # fits in one tile


def test_streamed_profile_streams_text_encoder_layers_and_keeps_the_vae(fresh, bundle, tmp_path):
    """The group profile's placement, run on the CPU (onload = offload = cpu, no CUDA stream): the
    hooks land where they should, and the take is unchanged."""
    from engine.generation.runtime import stream_to_device

    plain = take(fresh, bundle, tmp_path / "plain", PLAIN)
    pipeline = fresh._pipeline
    stream_to_device(pipeline, "cpu", use_stream=False)

    def hooked(module):
        registry = getattr(module, "_diffusers_hook", None)
        return registry is not None and registry.get_hook("group_offloading") is not None

    text_layers = [m for m in pipeline.text_encoder.modules() if isinstance(m, torch.nn.Linear)]
    assert text_layers and all(hooked(m) for m in text_layers)  # leaf level: every layer its own group
    assert hooked(pipeline.transformer.blocks[0])
    assert not any(hooked(m) for m in pipeline.vae.modules())
    streamed = take(fresh, bundle, tmp_path / "streamed")
    assert_same(plain, streamed)


def test_all_zero_encode_is_cached_across_takes_exactly(fresh, bundle, tmp_path):
    """A restyle's kept part is all zeros: the second take reuses its latents (one VAE encode
    instead of two) and makes exactly the same pictures."""
    first = take(fresh, bundle, tmp_path / "first", PLAIN)
    vae = fresh._pipeline.vae
    encodes = []
    hook = vae.encoder.register_forward_pre_hook(lambda module, args: encodes.append(bool(args[0].any())))
    try:
        second = take(fresh, bundle, tmp_path / "second")
    finally:
        hook.remove()
    assert fresh._backend.zero_latents.hits >= 1
    assert encodes and all(encodes)  # only non-zero videos reached the encoder
    assert_same(first, second)
    assert "encode" not in vae.__dict__  # the wrapper is gone after the take


def test_the_first_compiling_take_says_why_its_first_step_is_slow(fresh, bundle, tmp_path, monkeypatch):
    take(fresh, bundle, tmp_path / "warm", PLAIN)
    transformer = fresh._pipeline.transformer
    _compile_with(monkeypatch, transformer, "eager")
    fresh._backend.configure(fresh._pipeline, _runtime(), replace(PLAIN, compile=True))

    def notes_of(out):
        events = []
        generate_take(fresh, bundle, out, tiny(), lambda phase, step, total, **extra: events.append((phase, step, extra)))
        return [(phase, step) for phase, step, extra in events if "compiling" in str(extra.get("note", ""))]

    assert notes_of(tmp_path / "first") == [("denoising", 0)]
    assert notes_of(tmp_path / "second") == []  # same size: already compiled
    speed.set_compiled(transformer, False)


def test_a_platform_without_torch_compile_loads_and_runs_eagerly(fresh, bundle, tmp_path, monkeypatch):
    take(fresh, bundle, tmp_path / "warm", PLAIN)
    transformer = fresh._pipeline.transformer

    def unsupported(**kwargs):
        raise RuntimeError("torch.compile is not supported on this platform")

    monkeypatch.setattr(transformer, "compile_repeated_blocks", unsupported, raising=False)
    applied = fresh._backend.configure(fresh._pipeline, _runtime(), replace(PLAIN, compile=True))
    assert applied["compile"] is False and "not supported" in applied["compile_failed"]
    assert not fresh._backend.acceleration.compile
    assert take(fresh, bundle, tmp_path / "eager").record["speed"]["compile"] is False
