"""Speed: attention backend choice, batched guidance, regional compile, prompt-embedding cache,
VAE tiling, and the ``preview`` quality. Each switch is independent, measured on its own by
``benchmarks/engine.py``, and checked on CPU (tiny-random, same seed) to leave the output unchanged
within a stated tolerance (``tests/engine/test_speed_equivalence.py``).

What is on by default (``choose``) and why (numbers: NVIDIA H200, Wan2.1-VACE-1.3B, 832x480x81,
50 steps with guidance, docs/speed.md run 3):

| switch | default | why |
| --- | --- | --- |
| attention backend | ``native`` SDPA unless another backend that *passes a numerical check* is at least ``ATTENTION_MARGIN`` faster in the probe at the full-size sequence | at 32,760 tokens native and cuDNN took 10.9 and 10.8 ms a call in the probe (both ~610 TFLOP/s), but in the model steps were 3 % slower with cuDNN forced (2.031 vs 1.970 s; probably its extra ``contiguous()`` copies): a near-tie in the probe is not a win |
| regional compile | on in a warm worker on CUDA without offload (``serve``, the batch runner); off for one-shot ``generate`` | 1.585 vs 2.031 s a step (1.25x; the transformer at 54 % of bf16 peak instead of 43 %): inductor fuses the norms, modulation and rotary embedding that eager runs as separate kernels. Compiling costs ~37 s once per worker and shape, which a 50-step take earns back only from its second take; Inductor's on-disk cache (``NEURAL_PREVIS_CACHE``/inductor) shortens it for later workers. A compiler error finishes the take eagerly (``compile_failed`` in take.json); ``preview`` runs the compiled blocks eagerly |
| batched guidance | off | one forward of batch 2 instead of two of batch 1: 1.990 vs 1.980 s a step (run 1, eager): the GPU is already saturated by 32,760 tokens, and it doubles activations |
| prompt cache | always | same model + prompt + negative prompt: the text encoder is not run |
| all-zero encode cache | always | a restyle's kept part is all zeros: its VAE latents are encoded once per shape, not per take |
| VAE tiling | ``--offload model`` and ``group`` | bounds decode memory; off where memory is plentiful (tiles change pixels slightly) |

``NEURAL_PREVIS_ATTENTION``, ``NEURAL_PREVIS_COMPILE``, ``NEURAL_PREVIS_BATCHED_GUIDANCE`` and
``NEURAL_PREVIS_VAE_TILING`` override the defaults.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections import OrderedDict
from dataclasses import dataclass, replace

# torch is imported inside the functions that need it: the session imports this module, and
# importing the engine must not import torch.

#: Attention backends tried on CUDA, in order of preference; each must pass ``_probe`` to be used.
CUDA_ATTENTION_CANDIDATES = ("_native_cudnn", "_native_flash", "flash", "_flash_3", "native")

#: Sequence length of the attention probe: 832x480x81 frames in Wan latents (21 x 30 x 52 patches).
#: The first probe (4096 tokens, 2026-11-28 on an H200) timed launch overhead (0.2-0.4 ms per call),
#: not the kernels that matter at full size: probe at the real size (~10 ms per call on an H200).
PROBE_TOKENS = 21 * 30 * 52

#: Another attention backend replaces ``native`` only when the probe finds it this much faster
#: (a 1 % probe win turned into a 3 % loss in the model on an H200: see the module docstring).
ATTENTION_MARGIN = 0.05

#: VAE tiles in the offload profiles: the largest tile, in pixels. The Wan VAE decodes one latent
#: frame at a time, at about 18 KB per pixel in float32. Live tensors counted by benchmarks/memory.py
#: for 832x480x81: decode 8.2 GB in one pass, 4.7 GB in two 480x480 tiles; encode 5.6 and 3.3 GB.
#: 240,000 pixels keeps the profile's VAE phases near 5 GB, inside 8 GB. An 832x480 shot becomes two
#: 480x480 tiles (1.15x the pixels of one pass), where diffusers' default 256-px tiles make fifteen
#: (2.5x the pixels; 14.9 s instead of 3.7 s to decode on an H200).
VAE_TILE_PIXELS = 240_000
#: Pixels blended across a seam between tiles (diffusers' default: 256-px tiles at a 192-px stride).
VAE_TILE_OVERLAP = 64

#: ``preview`` quality: fewer steps, a quarter of the pixels (upscaled back to the shot's size).
PREVIEW_STEPS = 12
PREVIEW_PIXEL_FRACTION = 0.25


@dataclass(frozen=True)
class Acceleration:
    attention: str = "auto"
    """Attention backend name (diffusers ``AttentionBackendName``) or ``auto`` (probe on CUDA,
    ``native`` elsewhere)."""
    batched_guidance: bool = True
    """Conditional and unconditional halves of classifier-free guidance in one forward of batch 2."""
    compile: bool = False
    """``torch.compile`` of the repeated transformer blocks (regional compilation)."""
    vae_tiling: bool = False
    """Tiled VAE encode/decode (bounded memory; pixels change slightly at tile seams)."""
    vae_tile_pixels: int = 0
    """Largest VAE tile in pixels when tiling (0: ``VAE_TILE_PIXELS``); tiles are sized per shot."""


def choose(runtime, warm_worker: bool = False) -> Acceleration:
    """The defaults for a runtime (see the module docstring); ``NEURAL_PREVIS_*`` variables override.
    ``warm_worker``: the session keeps the model for many takes (``serve``, the batch runner)."""
    on_cuda = runtime.device.startswith("cuda")
    acceleration = Acceleration(
        attention="auto",
        batched_guidance=False,
        compile=on_cuda and warm_worker and runtime.offload == "none",
        vae_tiling=runtime.offload in ("model", "group"),
    )
    overrides = {}
    if os.environ.get("NEURAL_PREVIS_ATTENTION"):
        overrides["attention"] = os.environ["NEURAL_PREVIS_ATTENTION"]
    for name, variable in (("batched_guidance", "NEURAL_PREVIS_BATCHED_GUIDANCE"),
                           ("compile", "NEURAL_PREVIS_COMPILE"), ("vae_tiling", "NEURAL_PREVIS_VAE_TILING")):
        value = os.environ.get(variable)
        if value is not None and value != "":
            overrides[name] = value.lower() in ("1", "true", "on", "yes")
    acceleration = replace(acceleration, **overrides)
    if acceleration.compile and not on_cuda:
        acceleration = replace(acceleration, compile=False)  # inductor on CPU does not pay for this model
    return acceleration


# ---------------------------------------------------------------------------------- attention


def choose_attention_backend(device: str, dtype, heads: int, head_dim: int, candidates=CUDA_ATTENTION_CANDIDATES,
                             tokens: int = PROBE_TOKENS, probe_cpu: bool = False) -> tuple[str, dict]:
    """Return the fastest attention backend that gives the right answer on this device, and a report
    ``{backend: seconds | "error ..." | "wrong ..."}``. On the CPU: ``native`` without probing
    (``probe_cpu`` probes there too: the tests use it)."""
    if not device.startswith("cuda") and not probe_cpu:
        return "native", {"native": "cpu: not probed"}
    import torch

    report: dict = {}
    generator = torch.Generator(device=device).manual_seed(0)
    shape = (1, tokens, heads, head_dim)  # diffusers' layout: batch, sequence, heads, head dim
    query, key, value = (torch.randn(shape, device=device, dtype=dtype, generator=generator) for _ in range(3))
    # The float32 reference for the first queries only: the full one would be a heads x tokens^2
    # matrix (51 GB at 32,760 tokens and 12 heads).
    checked = min(tokens, 256)
    reference = _reference_attention(query[:, :checked], key, value)
    for name in candidates:
        try:
            seconds, output = _probe(name, query, key, value)
        except Exception as error:  # missing package, unsupported shape/dtype/GPU
            report[name] = f"error {type(error).__name__}: {str(error).splitlines()[0][:120] if str(error) else ''}"
            continue
        worst = (output[:, :checked].float() - reference).abs().max().item()
        if not worst < 2e-2:  # bf16 attention of unit-variance inputs: errors are ~1e-3
            report[name] = f"wrong: max abs error {worst:.3g}"
            continue
        report[name] = round(seconds, 6)
    return pick_attention_backend(report), report


def pick_attention_backend(report: dict) -> str:
    """The fastest backend of a probe report (seconds per call; strings are failures), except that
    ``native`` stays unless the other is at least ``ATTENTION_MARGIN`` faster than it."""
    timed = {name: seconds for name, seconds in report.items() if isinstance(seconds, float)}
    if not timed:
        return "native"
    best = min(timed, key=timed.get)
    native = timed.get("native")
    if native is not None and timed[best] > native * (1 - ATTENTION_MARGIN):
        return "native"
    return best


def _reference_attention(query, key, value):
    import torch

    q, k, v = (t.float().transpose(1, 2) for t in (query, key, value))
    with torch.nn.attention.sdpa_kernel(torch.nn.attention.SDPBackend.MATH):
        return torch.nn.functional.scaled_dot_product_attention(q, k, v).transpose(1, 2)


def _probe(name, query, key, value, repeats: int = 5):
    import torch
    from diffusers.models.attention_dispatch import AttentionBackendName, dispatch_attention_fn

    def sync():
        if query.device.type == "cuda":
            torch.cuda.synchronize(query.device)

    backend = AttentionBackendName(name)
    output = dispatch_attention_fn(query, key, value, backend=backend)  # warm-up, also the checked output
    sync()
    started = time.perf_counter()
    for _ in range(repeats):
        dispatch_attention_fn(query, key, value, backend=backend)
    sync()
    return (time.perf_counter() - started) / repeats, output


def set_attention_backend(transformer, name: str) -> None:
    if name == "native" and getattr(transformer, "_neural_previs_attention", "native") == "native":
        return  # diffusers' default: nothing to set (and no "experimental" warning)
    transformer.set_attention_backend(name)
    transformer._neural_previs_attention = name


# ------------------------------------------------------------------------- applying at load time


def apply(pipeline, runtime, acceleration: Acceleration) -> dict:
    """Apply the load-time switches to a placed pipeline (again, to change them: the benchmark does);
    return what was applied (recorded in take.json)."""
    applied: dict = {}
    transformer = pipeline.transformer
    attention = acceleration.attention
    if attention == "auto":
        attention, probe = choose_attention_backend(
            runtime.device, runtime.torch_dtype, transformer.config.num_attention_heads,
            transformer.config.attention_head_dim,
        )
        applied["attention_probe"] = probe
    set_attention_backend(transformer, attention)
    applied["attention"] = attention
    if acceleration.vae_tiling:
        pipeline.vae.enable_tiling()  # tile sizes are set per shot: size_vae_tiles
        applied["vae_tile_pixels"] = acceleration.vae_tile_pixels or VAE_TILE_PIXELS
    else:
        pipeline.vae.disable_tiling()
    applied["vae_tiling"] = acceleration.vae_tiling
    try:
        set_compiled(transformer, acceleration.compile)
        applied["compile"] = acceleration.compile
    except Exception as error:  # e.g. a platform torch.compile does not support: run eagerly
        set_compiled(transformer, False)
        applied.update(compile=False, compile_failed=compile_failure_message(error))
    applied["batched_guidance"] = acceleration.batched_guidance
    hosted = getattr(pipeline, "_neural_previs_hosted_text_encoder", None) is not None
    applied["text_encoder"] = "host (copied to the device per new prompt)" if hosted else "with the pipeline"
    return applied


def is_compile_failure(error: BaseException) -> bool:
    """True for an error raised by ``torch.compile`` itself (Dynamo tracing, Inductor code
    generation, a compiler backend), which surfaces at the first call of a compiled block, not at
    ``compile_repeated_blocks``. The engine then runs the take eagerly instead of failing it."""
    import torch

    names = (type(error).__module__ or "", type(error).__name__)
    if names[0].startswith(("torch._dynamo", "torch._inductor")):
        return True
    return isinstance(error, getattr(torch._dynamo.exc, "TorchDynamoException", ()))


def compile_failure_message(error: BaseException) -> str:
    """One line for take.json: the compiler's error and, where it wraps one, the cause."""
    def line(e):
        text = str(e).strip().splitlines()
        return f"{type(e).__name__}: {text[0] if text else ''}".strip()

    cause = getattr(error, "inner_exception", None) or error.__cause__
    return (line(error) + (f" ({line(cause)})" if cause is not None else ""))[:300]


def eager(transformer):
    """Run compiled blocks eagerly for a while (``preview``: a new size would recompile, and 12
    steps at a quarter of the pixels never pay back compile time). Nothing to do when not compiled."""
    if not getattr(transformer, "_neural_previs_compiled", False):
        return contextlib.nullcontext()
    import torch

    return torch.compiler.set_stance("force_eager")


def compiled_sizes(transformer) -> set:
    """The (frames, height, width) the compiled blocks of this transformer have run at (a new one
    compiles first). Kept on the transformer: backends come and go, the compiled blocks stay."""
    if not hasattr(transformer, "_neural_previs_compiled_sizes"):
        transformer._neural_previs_compiled_sizes = set()
    return transformer._neural_previs_compiled_sizes


def set_compiled(transformer, on: bool, fullgraph: bool = True) -> None:
    """Regional compilation: ``torch.compile`` of each repeated block (``_repeated_blocks``). One
    compiled graph serves every block of a class (parameters are graph inputs), so compile time does
    not grow with depth; the warm worker keeps the compiled blocks for later takes."""
    compiled = getattr(transformer, "_neural_previs_compiled", False)
    if on and not compiled:
        # Inductor's on-disk cache beside the engine's other builds, so a later worker on this
        # machine reuses the generated kernels (it is read when compiling, not at import).
        from ..models.locations import engine_cache_dir

        os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(engine_cache_dir() / "inductor"))
        transformer.compile_repeated_blocks(fullgraph=fullgraph)
    elif compiled and not on:
        for module in transformer.modules():  # nn.Module.compile stores the compiled call here
            if module.__class__.__name__ in transformer._repeated_blocks:
                module._compiled_call_impl = None
        compiled_sizes(transformer).clear()
    transformer._neural_previs_compiled = on


# --------------------------------------------------------------------------------- VAE tiles


def vae_tiles(height: int, width: int, max_pixels: int, overlap: int = VAE_TILE_OVERLAP, multiple: int = 16) -> dict | None:
    """Tile sizes for diffusers' tiled VAE (its ``tile_sample_*`` attributes, in pixels): the fewest
    tiles of at most ``max_pixels`` each that cover the frame, ``overlap`` pixels blended at each
    seam; strides are chosen so that diffusers' ``range(0, size, stride)`` makes exactly that many
    tiles (no sliver tile at the edge). None: the frame fits in one tile (no tiling needed)."""
    if height * width <= max_pixels:
        return None

    def ceil_to(value: float, step: int) -> int:
        return int(-(-value // step) * step)

    best = None
    for rows in range(1, height // multiple + 1):
        for cols in range(1, width // multiple + 1):
            stride_h, stride_w = ceil_to(height / rows, multiple), ceil_to(width / cols, multiple)
            if (rows - 1) * stride_h >= height or (cols - 1) * stride_w >= width:
                continue  # rounding the stride up left a tile with nothing in it
            tile_h = stride_h + (min(overlap, stride_h) if rows > 1 else 0)
            tile_w = stride_w + (min(overlap, stride_w) if cols > 1 else 0)
            if tile_h * tile_w > max_pixels:
                continue
            candidate = (rows * cols, tile_h * tile_w, tile_h, tile_w, stride_h, stride_w)
            if best is None or candidate < best:
                best = candidate
            break  # more columns only make more tiles
    if best is None:
        raise ValueError(f"no VAE tiling of {width}x{height} fits {max_pixels} pixels a tile")
    _, _, tile_h, tile_w, stride_h, stride_w = best
    return {"tile_sample_min_height": tile_h, "tile_sample_min_width": tile_w,
            "tile_sample_stride_height": stride_h, "tile_sample_stride_width": stride_w}


def size_vae_tiles(vae, height: int, width: int, max_pixels: int) -> dict | None:
    """Set a tiling VAE's tiles for frames of this size (see ``vae_tiles``); a frame that fits in one
    tile is encoded and decoded in one pass. No-op when the VAE does not tile."""
    if not getattr(vae, "use_tiling", False):
        return None
    tiles = vae_tiles(height, width, max_pixels)
    for name, value in (tiles or {"tile_sample_min_height": height, "tile_sample_min_width": width,
                                  "tile_sample_stride_height": height, "tile_sample_stride_width": width}).items():
        setattr(vae, name, value)
    return tiles


# ---------------------------------------------------------------------------- batched guidance


@contextlib.contextmanager
def batched_guidance(transformer, negative_embeds):
    """While active, the pipeline's two transformer calls per step (conditional, then unconditional,
    identical except for the text embeddings) become one forward of batch 2: the first call computes
    both halves, the second returns the stored unconditional half. Checked, not assumed: the second
    call must come with the same latents and timestep, or it is computed normally."""
    import torch

    original = transformer.forward
    pending: dict = {}

    def forward(*args, **kwargs):
        if args or kwargs.get("return_dict", True) or "encoder_hidden_states" not in kwargs:
            return original(*args, **kwargs)
        hidden = kwargs["hidden_states"]
        if pending:
            stored = pending.pop("entry")
            if stored[0] is hidden and torch.equal(stored[1], kwargs["timestep"]):
                return (stored[2],)
            return original(*args, **kwargs)  # not the pair we expected: compute it as asked
        embeds = kwargs["encoder_hidden_states"]
        negative = negative_embeds.to(device=embeds.device, dtype=embeds.dtype)
        if negative.shape != embeds.shape or hidden.shape[0] != 1:
            return original(*args, **kwargs)
        batched = dict(kwargs)
        batched["hidden_states"] = torch.cat([hidden, hidden])
        batched["timestep"] = torch.cat([kwargs["timestep"], kwargs["timestep"]])
        batched["encoder_hidden_states"] = torch.cat([embeds, negative])
        control = kwargs.get("control_hidden_states")
        if control is not None:
            batched["control_hidden_states"] = torch.cat([control, control])
        output = original(**batched)[0]
        conditional, unconditional = output.chunk(2)
        pending["entry"] = (hidden, kwargs["timestep"], unconditional)
        return (conditional,)

    had_own_forward = "forward" in transformer.__dict__  # diffusers/accelerate hooks set one
    transformer.forward = forward
    try:
        yield
    finally:
        if had_own_forward:
            transformer.forward = original
        else:
            del transformer.forward


# ------------------------------------------------------------------------------- prompt cache


class PromptCache:
    """The most recently used values by key, computed on a miss. The session keeps text embeddings
    in one (same model, prompt and negative prompt: the text encoder is not run; a few MiB each,
    512 tokens x 4096 in bf16); ``ZeroVideoLatents`` keeps VAE latents in another."""

    def __init__(self, size: int = 16):
        self.size = size
        self._entries: OrderedDict = OrderedDict()
        self.hits = self.misses = 0

    def get(self, key, compute):
        if key in self._entries:
            self._entries.move_to_end(key)
            self.hits += 1
            return self._entries[key]
        self.misses += 1
        value = compute()
        self._entries[key] = value
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)
        return value

    def clear(self) -> None:
        self._entries.clear()


# ------------------------------------------------------------------------ all-zero VAE encodes


class ZeroVideoLatents:
    """VACE encodes the control video twice: the part to keep (``video x (1 - mask)``) and the part
    to generate. In a restyle the mask is all white, so the kept part is all zeros, and its latents
    depend only on its shape and the VAE's tiling: they are encoded once and reused by later takes
    (about 2.2 s of float32 VAE encode per 832x480x81 take on an H200). Exact: the cached latents
    are the ones the VAE computed."""

    def __init__(self, size: int = 4):
        self._latents = PromptCache(size)

    @property
    def hits(self) -> int:
        return self._latents.hits

    @contextlib.contextmanager
    def around(self, vae):
        """While active, ``vae.encode`` of an all-zero video comes from the cache."""
        import torch

        original = vae.encode

        def encode(video, *args, **kwargs):
            if args or kwargs or not torch.is_tensor(video) or bool(video.any()):
                return original(video, *args, **kwargs)
            key = (tuple(video.shape), video.dtype, str(video.device), bool(getattr(vae, "use_tiling", False)),
                   tuple(getattr(vae, name, None) for name in ("tile_sample_min_height", "tile_sample_min_width",
                                                               "tile_sample_stride_height", "tile_sample_stride_width")))
            return self._latents.get(key, lambda: original(video))

        had_own = "encode" in vae.__dict__
        vae.encode = encode
        try:
            yield
        finally:
            if had_own:
                vae.encode = original
            else:
                del vae.encode


# ------------------------------------------------------------------------------------ preview


def preview_max_pixels(max_pixels: int) -> int:
    return int(max_pixels * PREVIEW_PIXEL_FRACTION)
