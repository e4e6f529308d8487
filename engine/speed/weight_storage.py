"""``--weights fp8``: the denoisers' weights stored in float8, each layer cast up to compute.

diffusers' layerwise casting (``ModelMixin.enable_layerwise_casting``): the weights of every
``Linear``/``Conv``/``Embedding`` of the transformer(s) are stored as ``float8_e4m3fn`` (1 byte a
parameter instead of 2) and a hook casts each layer's weights to the compute dtype (the take's
``dtype``: bfloat16 on GPUs) just before it runs, and back after. The model's own skip patterns keep
what is precision-sensitive as loaded (patch and condition embeddings, norms, the modulation tables,
``_keep_in_fp32_modules``). The arithmetic is bfloat16 as before; only the weights are rounded to
float8's 3 mantissa bits, which changes the picture a little (``tests/engine/test_weights_fp8.py``
states the tolerance). It halves the transformer's resident weights: the 14B's 34.7 GB become about
17.4 GB, and Wan2.2 A14B's two experts fit where one bfloat16 expert did (``benchmarks/memory.py``).

Applied once at load, before the pipeline is placed (so ``pipeline.to`` moves float8 bytes), and
part of the loaded model's identity (``Runtime.weights``): a take with other weights loads again.
"""

from __future__ import annotations

from .switches import denoisers

STORAGE_DTYPES = {"fp8": "float8_e4m3fn"}


def store_weights(pipeline, runtime) -> dict:
    """Apply ``runtime.weights`` to a freshly loaded pipeline's denoisers; what take.json records."""
    weights = getattr(runtime, "weights", "auto")
    if weights == "auto":
        return {"weights": "as loaded"}
    import torch

    storage = getattr(torch, STORAGE_DTYPES[weights])
    for model in denoisers(pipeline):
        model.enable_layerwise_casting(storage_dtype=storage, compute_dtype=runtime.torch_dtype)
    return {"weights": f"{STORAGE_DTYPES[weights]} storage, {runtime.dtype} compute (layerwise casting)"}


def storage_bytes(model) -> int:
    """Bytes the model's parameters and buffers occupy as stored."""
    return sum(t.numel() * t.element_size() for t in (*model.parameters(), *model.buffers()))
