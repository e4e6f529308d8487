"""Batched guidance: the two transformer calls of a guided step (conditional, then unconditional,
identical but for the text embeddings) as one forward of batch 2.

A ``diffusers.hooks.ModelHook`` on each denoiser, registered for the length of a pipeline call.
The stock pipeline names its passes with ``cache_context("cond")`` / ``("uncond")``: in the
conditional pass the hook computes both halves and returns the conditional one; in the
unconditional pass it returns the stored half, checked, not assumed: the call must come with the
same latents and timestep, or it is computed as asked. (Step caches keep state per pass, so they
are not combined with this.)
"""

from __future__ import annotations

import contextlib

import torch
from diffusers.hooks import HookRegistry, ModelHook
from diffusers.hooks.hooks import BaseState, StateManager

HOOK_NAME = "neural_previs_batched_guidance"


class BatchedGuidanceHook(ModelHook):
    _is_stateful = True  # so the pipeline's cache_context reaches ``self.passes``

    def __init__(self, negative_embeds):
        super().__init__()
        self.negative_embeds = negative_embeds
        #: Receives the pipeline's cache context (which pass this is); holds no state per pass.
        self.passes = StateManager(BaseState)
        self.pending = None

    def new_forward(self, module, *args, **kwargs):
        forward = self.fn_ref.original_forward
        try:
            name = self.passes.context.name
        except ValueError:  # called outside a named pass
            name = None
        if args or kwargs.get("return_dict", True) or "encoder_hidden_states" not in kwargs:
            return forward(*args, **kwargs)
        hidden = kwargs["hidden_states"]
        if name == "uncond" and self.pending is not None:
            stored_hidden, stored_timestep, unconditional = self.pending
            self.pending = None
            if stored_hidden is hidden and torch.equal(stored_timestep, kwargs["timestep"]):
                return (unconditional,)
            return forward(*args, **kwargs)
        embeds = kwargs["encoder_hidden_states"]
        negative = self.negative_embeds.to(device=embeds.device, dtype=embeds.dtype)
        if name != "cond" or negative.shape != embeds.shape or hidden.shape[0] != 1:
            return forward(*args, **kwargs)
        batched = dict(kwargs)
        batched["hidden_states"] = torch.cat([hidden, hidden])
        batched["timestep"] = torch.cat([kwargs["timestep"], kwargs["timestep"]])
        batched["encoder_hidden_states"] = torch.cat([embeds, negative])
        control = kwargs.get("control_hidden_states")
        if control is not None:
            batched["control_hidden_states"] = torch.cat([control, control])
        conditional, unconditional = forward(**batched)[0].chunk(2)
        self.pending = (hidden, kwargs["timestep"], unconditional)
        return (conditional,)

    def reset_state(self, module):
        self.pending = None
        return module


@contextlib.contextmanager
def batched_guidance(models, negative_embeds):
    """While active, each denoiser in ``models`` batches its guidance passes (see the module docstring)."""
    registries = []
    try:
        for model in models:
            registry = HookRegistry.check_if_exists_or_initialize(model)
            registry.register_hook(BatchedGuidanceHook(negative_embeds), HOOK_NAME)
            registries.append(registry)
        yield
    finally:
        for registry in registries:
            registry.remove_hook(HOOK_NAME, recurse=False)
