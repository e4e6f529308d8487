"""The warm model: a session keeps one loaded pipeline between requests."""

from __future__ import annotations

import gc
import logging

from ..backends import load_backend
from ..errors import ModelError
from ..speed.prompt_cache import PromptCache

log = logging.getLogger(__name__)


class Session:
    """Holds at most one loaded pipeline and reuses it while requests ask for the same model on the
    same device, precision and memory profile. Loading another model releases the previous one first
    (two video models rarely fit one GPU)."""

    def __init__(self, warm_worker: bool = False):
        #: A long-lived worker (``serve``, the batch runner's generation actors) that keeps the model
        #: for many takes: one-time costs that pay back over takes (regional compile) are worth it.
        self.warm_worker = warm_worker
        self._key = None
        self._backend = None
        self._pipeline = None
        #: Text embeddings: the text encoder runs once per prompt for the loaded model, not once per take.
        self.prompts = PromptCache()

    def pipeline(self, model, runtime):
        """Return ``(backend, pipeline, warm)``."""
        key = self._model_key(model, runtime)
        if key == self._key:
            return self._backend, self._pipeline, True
        self.unload()
        backend = load_backend(model.backend)
        backend.warm_worker = self.warm_worker
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

    def prompt_embeds(self, backend, pipeline, request):
        """``(embeds, cached)``: the backend's prompt encoding, from the cache when the same model
        already encoded the same prompt, negative prompt and guidance setting."""
        return self.prompts.embeds(self._key, backend, pipeline, request)

    def adopt(self, model, runtime, backend, pipeline) -> None:
        """Hold an already built pipeline as if ``pipeline(model, runtime)`` had loaded it (the
        benchmark builds real architectures with random weights in memory instead of from disk)."""
        self.unload()
        self._key = self._model_key(model, runtime)
        self._backend, self._pipeline = backend, pipeline

    def unload(self) -> None:
        self.prompts.clear()
        self._key = self._backend = self._pipeline = None
        gc.collect()
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    @staticmethod
    def _model_key(model, runtime) -> tuple:
        return (model.backend, str(model.path), model.fingerprint, runtime.key,
                tuple(sorted((k, str(v.path)) for k, v in model.components.items())))
