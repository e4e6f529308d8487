"""A restyle's all-zero kept part, VAE-encoded once per shape.

VACE encodes the control video twice: the part to keep (``video x (1 - mask)``) and the part to
generate. In a restyle the mask is all white, so the kept part is all zeros, and its latents depend
only on its shape and the VAE's tiling: they are encoded once and reused by later takes (about
2.2 s of float32 VAE encode per 832x480x81 take on an H200). Exact: the cached latents are the ones
the VAE computed.

diffusers has no hook for it: its ``ModelHook`` wraps ``forward``, and the pipeline calls
``vae.encode``, which runs the encoder chunk by chunk with a causal feature cache; so ``encode``
itself is wrapped while a pipeline call runs, and unwrapped after it.
"""

from __future__ import annotations

import contextlib

from .prompt_cache import RecentValues


class ZeroVideoLatents:
    def __init__(self, size: int = 4):
        self._latents = RecentValues(size)

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
