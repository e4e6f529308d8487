"""The warm model: a session keeps one loaded pipeline between requests."""

from __future__ import annotations

import gc

from .backends import load_backend


class Session:
    """Holds at most one loaded pipeline and reuses it while requests ask for the same model on the
    same device, precision and memory profile. Loading another model releases the previous one first
    (two video models rarely fit one GPU)."""

    def __init__(self):
        self._key = None
        self._backend = None
        self._pipeline = None

    def pipeline(self, model, runtime):
        """Return ``(backend, pipeline, warm)``."""
        key = (model.backend, str(model.path), model.fingerprint, runtime.key,
               tuple(sorted((k, str(v.path)) for k, v in model.components.items())))
        if key == self._key:
            return self._backend, self._pipeline, True
        self.unload()
        backend = load_backend(model.backend)
        self._pipeline = backend.load(model, runtime)
        self._backend, self._key = backend, key
        return backend, self._pipeline, False

    def unload(self) -> None:
        self._key = self._backend = self._pipeline = None
        gc.collect()
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
