"""The speed switches' mechanics (engine/speed/): the policy's defaults and overrides, the attention
probe, compile's fallbacks and notes, preview, VAE tile geometry, batched guidance's conditions.
That each switch leaves the take within its tolerance of the stock pipeline is test_conformance.py."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conformance import Shot, engine_output
from engine.formats.params import GenerateParams
from engine.generation.runtime import Runtime
from engine.generation.session import Session
from engine.speed import attention, policy, quality, regional_compile, vae_tiling
from engine.speed.switches import Switches

CPU = Runtime(device="cpu", dtype="float32", offload="none")
CUDA = Runtime(device="cuda:0", dtype="bfloat16", offload="none")


@pytest.fixture
def shot(bundle) -> Shot:
    return Shot(bundle, GenerateParams(prompt="rainy neon street", model="tiny-random", seed=11, steps=3, guidance=5.0))


@pytest.fixture(scope="module")
def fresh(engine_cache):
    """A session of its own: these tests change its pipeline's switches."""
    session = Session()
    yield session
    session.unload()


@pytest.fixture
def loaded(fresh, shot, tmp_path):
    """``(backend, pipeline)`` of the fresh session with the stock switches, put back after the test."""
    if fresh._pipeline is None:
        engine_output(fresh, shot.with_params(steps=1), tmp_path / "load")
    fresh._backend.configure(fresh._pipeline, CPU, Switches())
    yield fresh._backend, fresh._pipeline
    fresh._backend.configure(fresh._pipeline, CPU, Switches())
    torch._dynamo.reset()


def compile_with(monkeypatch, model, backend):
    """Regional compile through another torch.compile backend (a counting or a broken one)."""
    original = model.compile_repeated_blocks
    monkeypatch.setattr(model, "compile_repeated_blocks", lambda **kwargs: original(**kwargs, backend=backend), raising=False)
    torch._dynamo.reset()


def compiled_blocks(model):
    return [m for m in model.modules() if m.__class__.__name__ in model._repeated_blocks]


# -------------------------------------------------------------------------------- policy


def test_defaults_on_cpu(monkeypatch):
    for variable in ("NEURAL_PREVIS_ATTENTION", "NEURAL_PREVIS_COMPILE", "NEURAL_PREVIS_BATCHED_GUIDANCE", "NEURAL_PREVIS_VAE_TILING"):
        monkeypatch.delenv(variable, raising=False)
    chosen = policy.choose(CPU)
    assert chosen == Switches(attention="auto")  # batched guidance off (no gain at full size), compile CUDA-only
    assert not policy.choose(CPU, warm_worker=True).compile
    assert attention.choose_attention_backend("cpu", torch.float32, 2, 12) == ("native", {"native": "cpu: not probed"})


def test_compile_is_on_only_in_a_warm_worker_on_cuda_without_offload(monkeypatch):
    """Compile costs ~37 s once and saves ~0.4 s a step (H200, docs/speed.md): it pays back only
    over several takes, and is not combined with the offload hooks."""
    monkeypatch.delenv("NEURAL_PREVIS_COMPILE", raising=False)
    assert policy.choose(CUDA, warm_worker=True).compile
    assert not policy.choose(CUDA, warm_worker=False).compile
    for offload in ("model", "group"):
        chosen = policy.choose(Runtime(device="cuda:0", dtype="bfloat16", offload=offload), warm_worker=True)
        assert not chosen.compile and chosen.vae_tiling
    monkeypatch.setenv("NEURAL_PREVIS_COMPILE", "0")
    assert not policy.choose(CUDA, warm_worker=True).compile
    monkeypatch.setenv("NEURAL_PREVIS_COMPILE", "1")
    assert policy.choose(CUDA, warm_worker=False).compile
    assert not policy.choose(CPU, warm_worker=True).compile  # never on the CPU


def test_environment_overrides(monkeypatch):
    monkeypatch.setenv("NEURAL_PREVIS_ATTENTION", "_native_flash")
    monkeypatch.setenv("NEURAL_PREVIS_BATCHED_GUIDANCE", "on")
    monkeypatch.setenv("NEURAL_PREVIS_VAE_TILING", "1")
    assert policy.choose(CPU) == Switches(attention="_native_flash", batched_guidance=True, vae_tiling=True)


def test_warm_workers_ask_for_warm_worker_defaults():
    from engine.batch.runner import _GenerationWorker

    assert not Session().warm_worker
    assert _GenerationWorker().session.warm_worker


def test_attention_backend_needs_a_clear_win_over_native():
    """H200, 32,760 tokens: cuDNN won the probe by 1 % and lost 3 % in the model."""
    assert attention.pick_attention_backend({"_native_cudnn": 0.010768, "native": 0.010887}) == "native"
    assert attention.pick_attention_backend({"_native_cudnn": 0.0080, "native": 0.0109}) == "_native_cudnn"
    assert attention.pick_attention_backend({"flash": "error ImportError", "native": 0.0109}) == "native"
    assert attention.pick_attention_backend({"native": "wrong: max abs error 1", "_native_flash": 0.02}) == "_native_flash"
    assert attention.pick_attention_backend({}) == "native"


def test_attention_probe_checks_and_times_each_candidate():
    """The probe's logic, on the CPU: a backend that cannot run is reported, not chosen; the others
    are checked against float32 math attention and timed."""
    best, report = attention.choose_attention_backend(
        "cpu", torch.float32, heads=2, head_dim=16, candidates=("native", "_native_math", "flash"), tokens=300,
        probe_cpu=True,
    )
    assert best in ("native", "_native_math")
    assert isinstance(report["native"], float) and isinstance(report["_native_math"], float)
    assert report["flash"].startswith("error")


# ------------------------------------------------------------------------------- compile


def test_compiler_failure_finishes_the_take_eagerly(loaded, fresh, shot, tmp_path, monkeypatch):
    """torch.compile fails at the first call of a compiled block: the take is still made, eagerly,
    with the same pictures, and take.json says what failed."""
    backend, pipeline = loaded
    eager = engine_output(fresh, shot, tmp_path / "eager")
    calls = []

    def broken_backend(graph, example_inputs):
        calls.append(1)
        raise RuntimeError("no C compiler on this machine")

    compile_with(monkeypatch, pipeline.transformer, broken_backend)
    backend.configure(pipeline, CPU, Switches(compile=True))
    rescued = engine_output(fresh, shot, tmp_path / "rescued")
    assert calls, "the broken compiler was never reached: the test proves nothing"
    assert rescued.record["speed"]["compile"] is False and "no C compiler" in rescued.record["speed"]["compile_failed"]
    assert np.array_equal(eager.frames, rescued.frames)
    assert not backend.switches.compile  # the next take does not try again
    assert all(m._compiled_call_impl is None for m in compiled_blocks(pipeline.transformer))


def test_other_errors_are_not_taken_for_compile_failures():
    assert not regional_compile.is_compile_failure(RuntimeError("CUDA out of memory"))
    assert not regional_compile.is_compile_failure(ValueError("bad size"))
    assert regional_compile.is_compile_failure(torch._dynamo.exc.Unsupported("graph break"))


def test_a_platform_without_torch_compile_loads_and_runs_eagerly(loaded, fresh, shot, tmp_path, monkeypatch):
    backend, pipeline = loaded

    def unsupported(**kwargs):
        raise RuntimeError("torch.compile is not supported on this platform")

    monkeypatch.setattr(pipeline.transformer, "compile_repeated_blocks", unsupported, raising=False)
    applied = backend.configure(pipeline, CPU, Switches(compile=True))
    assert applied["compile"] is False and "not supported" in applied["compile_failed"]
    assert not backend.switches.compile
    assert engine_output(fresh, shot, tmp_path / "eager").record["speed"]["compile"] is False


def test_the_first_compiling_take_says_why_its_first_step_is_slow(loaded, fresh, shot, tmp_path, monkeypatch):
    backend, pipeline = loaded
    compile_with(monkeypatch, pipeline.transformer, "eager")
    backend.configure(pipeline, CPU, Switches(compile=True))

    def notes_of(out):
        events = []
        engine_output(fresh, shot, out, lambda phase, step, total, **extra: events.append((phase, step, extra)))
        return [(phase, step) for phase, step, extra in events if "compiling" in str(extra.get("note", ""))]

    assert notes_of(tmp_path / "first") == [("denoising", 0)]
    assert notes_of(tmp_path / "second") == []  # same size: already compiled


def test_preview_runs_compiled_blocks_eagerly(loaded, fresh, shot, tmp_path, monkeypatch):
    """A preview take is a new size: it must not compile (or recompile) the blocks."""
    backend, pipeline = loaded
    graphs = []

    def counting_backend(graph, example_inputs):
        graphs.append(graph)
        return graph.forward

    compile_with(monkeypatch, pipeline.transformer, counting_backend)
    backend.configure(pipeline, CPU, Switches(compile=True))
    final = engine_output(fresh, shot, tmp_path / "final")
    compiled = len(graphs)
    assert compiled > 0 and final.record["speed"]["compile"] is True
    engine_output(fresh, shot.with_params(quality="preview", steps=2), tmp_path / "preview")
    assert len(graphs) == compiled  # no compile at the preview size


# ------------------------------------------------------------------- preview, guidance, tiles


def test_preview_quality(session, shot, tmp_path):
    preview = engine_output(session, shot.with_params(quality="preview", steps=None), tmp_path / "preview")
    record = preview.record
    assert record["resolved"]["steps"] == quality.PREVIEW_STEPS and record["params"]["quality"] == "preview"
    assert record["plan"]["scaled_width"] * record["plan"]["scaled_height"] <= 64 * 64 * quality.PREVIEW_PIXEL_FRACTION
    assert preview.frames.shape == (9, 32, 48, 3)  # the shot's exact frames and size, scaled back up


def test_batched_guidance_is_off_without_guidance(loaded, fresh, shot, tmp_path):
    backend, pipeline = loaded
    backend.configure(pipeline, CPU, Switches(batched_guidance=True))
    batches = []
    handle = pipeline.transformer.patch_embedding.register_forward_pre_hook(lambda module, args: batches.append(args[0].shape[0]))
    try:
        engine_output(fresh, shot.with_params(guidance=1.0), tmp_path / "unguided")
    finally:
        handle.remove()
    assert batches == [1, 1, 1]


@pytest.mark.parametrize("height,width", [(480, 832), (832, 480), (720, 1280), (1080, 1920), (496, 880),
                                          (64, 4096), (528, 944), (1024, 1024)])
def test_vae_tiles_cover_the_frame_with_the_fewest_tiles_that_fit(height, width):
    """Walk the tiles as diffusers' tiled_encode/decode do (range(0, size, stride), each tile
    tile_sample_min long, clipped): every pixel is covered, no tile is over the limit, and no
    sliver tile is made at an edge."""
    limit = vae_tiling.VAE_TILE_PIXELS
    tiles = vae_tiling.vae_tiles(height, width, limit)
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
        assert tile - stride == (vae_tiling.VAE_TILE_OVERLAP if len(starts) > 1 else 0) and stride % 16 == 0
    # at most twice the tiles that the pixel count alone would need (overlaps cost the rest)
    assert len(rows) * len(cols) <= 2 * -(-height * width // limit)


def test_vae_tiles_for_an_832x480_shot_are_two_not_fifteen():
    tiles = vae_tiling.vae_tiles(480, 832, vae_tiling.VAE_TILE_PIXELS)
    assert tiles == {"tile_sample_min_height": 480, "tile_sample_min_width": 480,
                     "tile_sample_stride_height": 480, "tile_sample_stride_width": 416}
    assert vae_tiling.vae_tiles(480, 480, vae_tiling.VAE_TILE_PIXELS) is None  # fits in one tile
