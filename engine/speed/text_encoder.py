"""A text encoder kept in host memory beside the pipeline, lent to the device to encode a prompt.

For the ``none`` profile on a GPU too small for every weight plus a take (``policy.
text_encoder_stays_on_host``): the encoder is taken out of the pipeline, so ``pipeline.to`` and the
pipeline's own device logic leave it alone, and is in the pipeline, with its weights copied to the
device, only while ``text_encoder_on_device`` is active. The prompt cache makes that once per prompt.
"""

from __future__ import annotations

import contextlib

_HOSTED = "_neural_previs_hosted_text_encoder"


def keep_text_encoder_on_host(pipeline) -> None:
    setattr(pipeline, _HOSTED, pipeline.text_encoder)
    pipeline.text_encoder = None


def is_hosted(pipeline) -> bool:
    return getattr(pipeline, _HOSTED, None) is not None


@contextlib.contextmanager
def text_encoder_on_device(pipeline, device: str):
    """While active, a hosted text encoder is back in the pipeline with its weights copied to the
    device; afterwards the device copies are dropped (no copy back: the host weights never moved).
    Nothing to do for a text encoder that is not hosted."""
    encoder = getattr(pipeline, _HOSTED, None)
    if encoder is None:
        yield
        return
    tensors = [*encoder.parameters(), *encoder.buffers()]
    host = [tensor.data for tensor in tensors]
    try:
        for tensor, data in zip(tensors, host):
            tensor.data = data.to(device, non_blocking=True)
        pipeline.text_encoder = encoder
        yield
    finally:
        pipeline.text_encoder = None
        for tensor, data in zip(tensors, host):
            tensor.data = data
