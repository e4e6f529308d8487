"""``Switches``: which speed switches a loaded pipeline runs with, and ``apply``, which turns them
on (or off again) in it. ``policy.choose`` decides the defaults; the benchmark and the tests apply
other choices to the same loaded pipeline."""

from __future__ import annotations

from dataclasses import dataclass

# torch is imported inside the functions that need it: importing the engine must not import torch.


@dataclass(frozen=True)
class Switches:
    """The load-time switches. The defaults are the stock pipeline: nothing changed."""

    attention: str = "native"
    """Attention backend name (diffusers ``AttentionBackendName``) or ``auto`` (probe on CUDA,
    ``native`` elsewhere)."""
    batched_guidance: bool = False
    """Conditional and unconditional halves of classifier-free guidance in one forward of batch 2."""
    compile: bool = False
    """``torch.compile`` of the repeated transformer blocks (regional compilation)."""
    vae_tiling: bool = False
    """Tiled VAE encode/decode (bounded memory; pixels change slightly at tile seams)."""
    vae_tile_pixels: int = 0
    """Largest VAE tile in pixels when tiling (0: ``vae_tiling.VAE_TILE_PIXELS``); tiles are sized per shot."""


def denoisers(pipeline) -> list:
    """The pipeline's denoising transformers: ``transformer`` and, for two-expert models (Wan2.2
    A14B), ``transformer_2``. Switches that act on the denoiser act on each."""
    return [module for module in (getattr(pipeline, "transformer", None), getattr(pipeline, "transformer_2", None))
            if module is not None]


def apply(pipeline, runtime, switches: Switches) -> dict:
    """Apply the load-time switches to a placed pipeline (again, to change them); return what was
    applied, as take.json records it under ``speed``."""
    from . import attention, regional_compile, text_encoder, vae_tiling

    applied: dict = {}
    models = denoisers(pipeline)
    name = switches.attention
    if name == "auto":
        config = models[0].config
        name, applied["attention_probe"] = attention.choose_attention_backend(
            runtime.device, runtime.torch_dtype, config.num_attention_heads, config.attention_head_dim)
    for model in models:
        attention.set_attention_backend(model, name)
    applied["attention"] = name
    applied.update(vae_tiling.set_tiling(pipeline.vae, switches.vae_tiling, switches.vae_tile_pixels))
    try:
        for model in models:
            regional_compile.set_compiled(model, switches.compile)
        applied["compile"] = switches.compile
    except Exception as error:  # e.g. a platform torch.compile does not support: run eagerly
        for model in models:
            regional_compile.set_compiled(model, False)
        applied.update(compile=False, compile_failed=regional_compile.failure_message(error))
    applied["batched_guidance"] = switches.batched_guidance
    applied["text_encoder"] = ("host (copied to the device per new prompt)" if text_encoder.is_hosted(pipeline)
                               else "with the pipeline")
    return applied
