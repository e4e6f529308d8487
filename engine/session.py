"""The warm model: a session keeps one loaded pipeline between requests."""

from __future__ import annotations

import gc
import logging

from .backends import load_backend
from .errors import ModelError

log = logging.getLogger(__name__)


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
        try:
            self._pipeline = backend.load(model, runtime)
        except (OSError, ValueError, KeyError) as error:
            # Incomplete downloads, truncated safetensors, configs from another library version.
            # (Out-of-memory errors are RuntimeErrors and pass through to their own message.)
            log.warning("loading %s failed", model.path, exc_info=True)
            first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise ModelError(f"cannot load {model.name} from {model.path}: {first}; re-download it or pass another --model") from None
        self._backend, self._key = backend, key
        return backend, self._pipeline, False

    def unload(self) -> None:
        self._key = self._backend = self._pipeline = None
        gc.collect()
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
