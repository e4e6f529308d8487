"""Text embeddings kept per prompt: a take with the same model, prompt, negative prompt and
guidance setting as an earlier one does not run the text encoder (a few MiB each: 512 tokens x
4096 in bf16). ``RecentValues`` is the small cache under it (and under ``zero_latents``)."""

from __future__ import annotations

from collections import OrderedDict


class RecentValues:
    """The most recently used values by key, computed on a miss."""

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


class PromptCache:
    """The session's text embeddings, keyed by the loaded model and what the encoding depends on."""

    def __init__(self, size: int = 16):
        self._embeds = RecentValues(size)

    def embeds(self, model_key, backend, pipeline, request) -> tuple:
        """``(embeds, cached)``: ``backend.encode_prompt(pipeline, request)``, from the cache when the
        same model already encoded the same prompt, negative prompt and guidance setting."""
        key = (model_key, request.params.prompt, request.params.negative_prompt, request.guidance > 1.0)
        hits = self._embeds.hits
        embeds = self._embeds.get(key, lambda: backend.encode_prompt(pipeline, request))
        return embeds, self._embeds.hits > hits

    def clear(self) -> None:
        self._embeds.clear()
