"""What is on by default, per device and kind of worker, and why: the one place that decides.

Numbers: NVIDIA H200, Wan2.1-VACE-1.3B, 832x480x81, 50 steps with guidance (docs/speed.md, run 3).

| switch | default | why |
| --- | --- | --- |
| attention backend | ``native`` SDPA unless another backend that *passes a numerical check* is at least ``attention.ATTENTION_MARGIN`` faster in the probe at the full-size sequence (CUDA only) | at 32,760 tokens native and cuDNN took 10.9 and 10.8 ms a call in the probe, but in the model steps were 3 % slower with cuDNN forced (2.031 vs 1.970 s): a near-tie in the probe is not a win |
| regional compile | on in a warm worker on CUDA without offload (``serve``, the batch runner); off for one-shot ``generate``, the offload profiles and the CPU | 1.585 vs 2.031 s a step (1.25x): Inductor fuses the norms, modulation and rotary embedding. Compiling costs ~37 s once per worker and shape, which only a warm worker earns back; on the CPU Inductor does not pay for this model |
| batched guidance | off | one forward of batch 2 instead of two of batch 1: 1.990 vs 1.980 s a step (run 1, eager): the GPU is already saturated, and it doubles activations |
| VAE tiling | ``--offload model`` and ``group`` | bounds the VAE's memory; off where memory is plentiful (tiles change pixels slightly at the seams) |
| text encoder in host memory | the ``none`` profile on a GPU too small for every weight plus ``TAKE_HEADROOM_BYTES`` (VACE-1.3B on a 24 GB card) | UMT5-XXL's 11.4 GB is what a take can do without: lent to the GPU only to encode a new prompt |
| one expert on the device (two-expert models, ``none`` profile) | where every weight (after the text encoder decision) plus ``TAKE_HEADROOM_BYTES`` exceeds the GPU | Wan2.2 A14B's two 34.7 GB experts in bfloat16 (69.4 GB) plus a 1280x720 take do not fit an 80 GB card; one expert does, and only one denoises at a time |
| prompt cache, zero-latent cache | always | exact: the same values, computed once |

Environment overrides: ``NEURAL_PREVIS_ATTENTION=name``, ``NEURAL_PREVIS_COMPILE=0/1``,
``NEURAL_PREVIS_BATCHED_GUIDANCE=0/1``, ``NEURAL_PREVIS_VAE_TILING=0/1``,
``NEURAL_PREVIS_TEXT_ENCODER=host|device``, ``NEURAL_PREVIS_EXPERTS=one|both``.
"""

from __future__ import annotations

import os
from dataclasses import replace

from .switches import Switches

#: Device memory left for a take besides the weights: activations and the VAE's passes at
#: 832x480x81 (benchmarks/memory.py: 8.2 GB for one float32 VAE decode pass, 3.2 GB of 1.3B and
#: 6.8 GB of 14B activations), with room for larger shots and the allocator.
TAKE_HEADROOM_BYTES = 16_000_000_000
#: Text encoders smaller than this stay on the device (CLIP is 0.25 GB; UMT5-XXL is 11.4 GB).
HOSTED_TEXT_ENCODER_MIN_BYTES = 1_000_000_000

_ON = ("1", "true", "on", "yes")


def choose(runtime, warm_worker: bool = False) -> Switches:
    """The load-time switches for a runtime (see the table above); ``NEURAL_PREVIS_*`` variables
    override. ``warm_worker``: the session keeps the model for many takes (``serve``, the batch runner)."""
    on_cuda = runtime.device.startswith("cuda")
    switches = Switches(
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
            overrides[name] = value.lower() in _ON
    switches = replace(switches, **overrides)
    if switches.compile and not on_cuda:
        switches = replace(switches, compile=False)
    return switches


def module_bytes(module) -> int:
    """Bytes of a module's parameters and buffers."""
    return sum(t.numel() * t.element_size() for t in (*module.parameters(), *module.buffers()))


def text_encoder_stays_on_host(pipeline, device: str, total_memory: int | None = None) -> bool:
    """Whether the ``none`` profile keeps the text encoder in host memory, lent to the device only to
    encode a new prompt (the prompt cache makes that once per prompt). Where every weight plus a
    take's working memory fits the device it stays there (no copy per prompt); where it does not,
    UMT5-XXL's 11.4 GB is the piece a take can do without: VACE-1.3B then needs ~16 GB instead of
    ~28 GB, which fits a 24 GB card. ``NEURAL_PREVIS_TEXT_ENCODER=host|device`` overrides."""
    import torch

    encoder = getattr(pipeline, "text_encoder", None)
    if encoder is None or not device.startswith("cuda"):
        return False
    choice = os.environ.get("NEURAL_PREVIS_TEXT_ENCODER", "").lower()
    if choice in ("host", "device"):
        return choice == "host"
    if module_bytes(encoder) < HOSTED_TEXT_ENCODER_MIN_BYTES:
        return False
    weights = sum(module_bytes(m) for m in pipeline.components.values() if isinstance(m, torch.nn.Module))
    if total_memory is None:
        total_memory = torch.cuda.get_device_properties(torch.device(device)).total_memory
    return weights + TAKE_HEADROOM_BYTES > total_memory


def one_expert_on_device(pipeline, device: str, total_memory: int | None = None) -> bool:
    """Whether the ``none`` profile keeps only the denoising expert of a two-expert model on the
    device (``offload.one_expert_at_a_time``): where every weight still in the pipeline plus a take's
    working memory does not fit. ``NEURAL_PREVIS_EXPERTS=one|both`` overrides (``one`` also on the
    CPU, where the experts then stay put: the tests use it)."""
    import torch

    if getattr(pipeline, "transformer", None) is None or getattr(pipeline, "transformer_2", None) is None:
        return False
    choice = os.environ.get("NEURAL_PREVIS_EXPERTS", "").lower()
    if choice in ("one", "both"):
        return choice == "one"
    if not device.startswith("cuda"):
        return False
    weights = sum(module_bytes(m) for m in pipeline.components.values() if isinstance(m, torch.nn.Module))
    if total_memory is None:
        total_memory = torch.cuda.get_device_properties(torch.device(device)).total_memory
    return weights + TAKE_HEADROOM_BYTES > total_memory
