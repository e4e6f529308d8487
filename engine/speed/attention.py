"""The attention backend of the denoiser, through diffusers' ``set_attention_backend``.

On CUDA the engine probes the candidates at the full-size sequence, checks each against float32
attention and keeps ``native`` SDPA unless another is clearly faster (``pick_attention_backend``).
diffusers remembers the last backend set as the process-wide default for processors that have none,
so once any backend was set, ``native`` is set explicitly too.
"""

from __future__ import annotations

import time

#: Attention backends tried on CUDA, in order of preference; each must pass ``_probe`` to be used.
CUDA_ATTENTION_CANDIDATES = ("_native_cudnn", "_native_flash", "flash", "_flash_3", "native")

#: Sequence length of the attention probe: 832x480x81 frames in Wan latents (21 x 30 x 52 patches).
#: The first probe (4096 tokens, 2026-11-28 on an H200) timed launch overhead (0.2-0.4 ms per call),
#: not the kernels that matter at full size: probe at the real size (~10 ms per call on an H200).
PROBE_TOKENS = 21 * 30 * 52

#: Another attention backend replaces ``native`` only when the probe finds it this much faster
#: (a 1 % probe win turned into a 3 % loss in the model on an H200: engine/speed/policy.py).
ATTENTION_MARGIN = 0.05

_MARK = "_neural_previs_attention"


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


def set_attention_backend(model, name: str) -> None:
    """``model.set_attention_backend(name)``; nothing to do (and no "experimental" warning) for
    ``native`` while neither this model nor the process-wide default has another."""
    if name == "native" and getattr(model, _MARK, "native") == "native" and _process_default() == "native":
        return
    model.set_attention_backend(name)
    setattr(model, _MARK, name)


def _process_default() -> str:
    """The backend diffusers uses for processors that have none set (the last one set anywhere)."""
    from diffusers.models.attention_dispatch import _AttentionBackendRegistry

    return _AttentionBackendRegistry.get_active_backend()[0].value


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
