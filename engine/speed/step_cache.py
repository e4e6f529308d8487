"""Step caches that are correct for VACE (``--cache first-block:THRESHOLD`` / ``mag:THRESHOLD``).

A step cache skips most of the transformer in a denoising step whose output it can predict: the
blocks after the first reuse the residual (last block's output minus the first block's input or
output) of the last step that computed them. diffusers' ``FirstBlockCache`` and ``MagCache`` hooks
wrap the entries of ``transformer.blocks``, and that is wrong for ``WanVACETransformer3DModel``: its
forward adds each VACE control hint *between* the blocks (``hidden = block(hidden) + hint * scale``),
outside the modules the hooks wrap. The cached residual already holds the hints of the step that
computed it, and a skipped step adds them once more on top (the "stock" rows of
``tests/engine/test_step_cache.py`` show it).

Made correct here by moving each hint inside its block, with diffusers' own ``ModelHook``s:

- ``VaceHintsHook`` on the transformer hands the model a zero ``control_hidden_states_scale`` (the
  model's own ``hint * 0`` then adds nothing) and keeps the real scales;
- ``DeferredHintHook`` on each VACE block records its inputs instead of running it, and returns a
  0-d zero in place of its hint; the blocks run, in order, the first time a main block needs a hint;
- ``OwnHintHook`` on each main block that takes a hint adds ``hint * scale`` to its own output.

So every main block's output holds its hint, the cache's residuals hold the hints once, and a
skipped step computes no VACE block either (the first block needs only the first VACE block).
With every block computed the arithmetic is the stock forward's, value for value (the extra
``+ 0`` is exact). The cache hooks are registered after these, so they wrap them:

- ``first-block``: diffusers' ``FirstBlockCacheConfig(threshold)`` through ``enable_cache`` (the
  rule: skip when the first block's residual changed by less than ``threshold``, relative mean);
- ``mag``: MagCache's rule (Ma et al. 2025, arXiv:2506.09045) in ``MagHeadHook``/``MagBlockHook``:
  skip while the accumulated error ``sum |1 - prod ratio|`` of the skipped steps stays below
  ``threshold``, at most ``MAG_MAX_SKIPS`` in a row, never in the first ``MAG_RETENTION`` of the
  steps. diffusers' ``MagCache`` needs magnitude ratios calibrated offline per checkpoint, which no
  VACE checkpoint has; here the ratio ``mean ||r_t|| / ||r_t-1||`` of the residuals is measured in
  the run itself at each computed step and used as the prediction for the steps that follow.

Per pipeline call (``step_cache(...)``, entered by the backend around the stock call) and removed
after it, with fresh state: a take never skips on another take's residual. The pipeline's
``cache_context("cond" / "uncond")`` keeps a state per guidance pass; each expert of a two-expert
model has its own hooks. Not combined with batched guidance (it would mix the passes' states) nor
compiled blocks (the cache decides in Python between blocks; the take runs its blocks eagerly).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import torch
from diffusers.hooks import HookRegistry, ModelHook
from diffusers.hooks.hooks import BaseState, StateManager

from ..formats.params import parse_cache

HINTS_HOOK = "neural_previs_vace_hints"
DEFERRED_HINT_HOOK = "neural_previs_deferred_hint"
OWN_HINT_HOOK = "neural_previs_own_hint"
COUNT_HOOK = "neural_previs_step_cache_count"
MAG_HEAD_HOOK = "neural_previs_mag_head"
MAG_BLOCK_HOOK = "neural_previs_mag_block"

#: MagCache's defaults (the paper's K and retention ratio, as in diffusers' ``MagCacheConfig``).
MAG_MAX_SKIPS = 3
MAG_RETENTION = 0.2


# ------------------------------------------------------------------------- hints inside blocks


class _Hints:
    """The VACE branch of one forward: its blocks' inputs, the hints computed so far, the scales."""

    def __init__(self):
        self.scales: tuple = ()
        self.pending: list = []  # [(block, original forward)] in order, not yet run
        self.inputs = None  # (hidden, encoder_hidden, temb, rotary) shared by every VACE block
        self.control = None  # the running control stream
        self.hints: list = []

    def hint(self, index: int):
        while len(self.hints) <= index:
            forward = self.pending[len(self.hints)]
            hidden, encoder, temb, rotary = self.inputs
            hint, self.control = forward(hidden, encoder, self.control, temb, rotary)
            self.hints.append(hint)
        return self.hints[index]


class VaceHintsHook(ModelHook):
    """On the transformer: the model adds ``hint * 0``; the blocks add the real ``hint * scale``."""

    def __init__(self, hints: _Hints):
        super().__init__()
        self.shared = hints

    def new_forward(self, module, *args, **kwargs):
        scale = kwargs.get("control_hidden_states_scale")
        control = kwargs.get("control_hidden_states")
        if args or control is None:  # not the pipeline's keyword call: leave it alone
            return self.fn_ref.original_forward(*args, **kwargs)
        if scale is None:
            scale = control.new_ones(len(module.config.vace_layers))
        self.shared.scales = torch.unbind(scale)
        self.shared.pending, self.shared.hints, self.shared.inputs, self.shared.control = [], [], None, None
        kwargs["control_hidden_states_scale"] = torch.zeros_like(scale)
        try:
            return self.fn_ref.original_forward(**kwargs)
        finally:
            self.shared.pending, self.shared.hints, self.shared.inputs, self.shared.control = [], [], None, None


class DeferredHintHook(ModelHook):
    """On each VACE block: run later, when a main block asks for its hint (see the module docstring)."""

    def __init__(self, hints: _Hints):
        super().__init__()
        self.shared = hints

    def new_forward(self, module, hidden, encoder, control, temb, rotary):
        shared = self.shared
        if not shared.pending:
            shared.inputs, shared.control = (hidden, encoder, temb, rotary), control
        shared.pending.append(self.fn_ref.original_forward)
        zero = hidden.new_zeros(())  # the model multiplies it by a zero scale and adds it: nothing
        return zero, zero


class OwnHintHook(ModelHook):
    """On a main block that takes hint ``index``: its output with the hint added, as the stock forward adds it."""

    def __init__(self, hints: _Hints, index: int):
        super().__init__()
        self.shared, self.index = hints, index

    def new_forward(self, module, *args, **kwargs):
        hidden = self.fn_ref.original_forward(*args, **kwargs)
        hint = self.shared.hint(self.index)
        return hidden + hint.to(hidden.device) * self.shared.scales[self.index]


# -------------------------------------------------------------------------------- counting


@dataclass
class Counts:
    """Transformer evaluations in the call: ``steps`` forwards, ``computed`` of them ran the last block."""

    steps: int = 0
    computed: int = 0

    @property
    def skipped(self) -> int:
        return self.steps - self.computed


class _CountHook(ModelHook):
    def __init__(self, counts: Counts, field_name: str):
        super().__init__()
        self.counts, self.field_name = counts, field_name

    def new_forward(self, module, *args, **kwargs):
        setattr(self.counts, self.field_name, getattr(self.counts, self.field_name) + 1)
        return self.fn_ref.original_forward(*args, **kwargs)


# -------------------------------------------------------------------------------- MagCache


class MagState(BaseState):
    def __init__(self):
        super().__init__()
        self.reset()

    def reset(self):
        self.step = 0
        self.head_input = None
        self.residual = None  # last block's output minus the first block's input, at the last computed step
        self.ratio = None  # the last measured mean ||r_t|| / ||r_t-1||
        self.compute = True
        self.accumulated_ratio, self.accumulated_error, self.accumulated_steps = 1.0, 0.0, 0


@dataclass
class MagRule:
    threshold: float
    steps: int
    max_skips: int = MAG_MAX_SKIPS
    retention: float = MAG_RETENTION

    def skip(self, state: MagState) -> bool:
        """MagCache's decision for the step about to run; updates the accumulators as the paper does."""
        if state.step < int(self.retention * self.steps + 0.5) or state.residual is None or state.ratio is None:
            return False
        state.accumulated_ratio *= state.ratio
        state.accumulated_steps += 1
        state.accumulated_error += abs(1.0 - state.accumulated_ratio)
        if state.accumulated_error < self.threshold and state.accumulated_steps <= self.max_skips:
            return True
        state.accumulated_ratio, state.accumulated_error, state.accumulated_steps = 1.0, 0.0, 0
        return False


class MagHeadHook(ModelHook):
    _is_stateful = True

    def __init__(self, states: StateManager, rule: MagRule):
        super().__init__()
        self.states, self.rule = states, rule

    def new_forward(self, module, hidden, *args, **kwargs):
        state = self.states.get_state()
        state.head_input = hidden
        state.compute = not self.rule.skip(state)
        if not state.compute:
            return hidden + state.residual.to(hidden.device)
        return self.fn_ref.original_forward(hidden, *args, **kwargs)

    def reset_state(self, module):
        self.states.reset()
        return module


class MagBlockHook(ModelHook):
    def __init__(self, states: StateManager, tail: bool):
        super().__init__()
        self.states, self.tail = states, tail

    def new_forward(self, module, hidden, *args, **kwargs):
        state = self.states.get_state()
        if not state.compute:
            if self.tail:
                state.step += 1
            return hidden
        output = self.fn_ref.original_forward(hidden, *args, **kwargs)
        if self.tail:
            residual = output - state.head_input
            if state.residual is not None:
                current = torch.linalg.norm(residual.float(), dim=-1)
                previous = torch.linalg.norm(state.residual.float(), dim=-1)
                state.ratio = (current / (previous + 1e-8)).mean().item()
            state.residual = residual
            state.head_input = None
            state.step += 1
        return output


# ------------------------------------------------------------------------------ applying it


@dataclass
class Applied:
    """What one call's caches did, per denoiser (what take.json records under ``speed.step_cache``)."""

    kind: str
    threshold: float
    counts: list = field(default_factory=list)

    def describe(self) -> dict:
        steps = sum(c.steps for c in self.counts)
        computed = sum(c.computed for c in self.counts)
        return {"kind": self.kind, "threshold": self.threshold, "transformer_evaluations": steps,
                "computed": computed, "skipped": steps - computed}


def hints_inside_blocks(model) -> list[tuple[HookRegistry, str]]:
    """Register the three hint hooks on a ``WanVACETransformer3DModel``; returns what to remove."""
    hints = _Hints()
    registered = []

    def add(module, hook, name):
        registry = HookRegistry.check_if_exists_or_initialize(module)
        registry.register_hook(hook, name)
        registered.append((registry, name))

    add(model, VaceHintsHook(hints), HINTS_HOOK)
    for block in model.vace_blocks:
        add(block, DeferredHintHook(hints), DEFERRED_HINT_HOOK)
    for index, layer in enumerate(model.config.vace_layers):
        add(model.blocks[layer], OwnHintHook(hints, index), OWN_HINT_HOOK)
    return registered


def _mag_cache(model, rule: MagRule) -> list[tuple[HookRegistry, str]]:
    states = StateManager(MagState)
    registered = []
    blocks = list(model.blocks)
    for index, block in enumerate(blocks):
        registry = HookRegistry.check_if_exists_or_initialize(block)
        if index == 0:
            registry.register_hook(MagHeadHook(states, rule), MAG_HEAD_HOOK)
            registered.append((registry, MAG_HEAD_HOOK))
        if index > 0 or len(blocks) == 1:
            registry.register_hook(MagBlockHook(states, tail=index == len(blocks) - 1), MAG_BLOCK_HOOK)
            registered.append((registry, MAG_BLOCK_HOOK))
    return registered


@contextlib.contextmanager
def step_cache(models, cache: str, steps: int):
    """While active, each VACE denoiser in ``models`` runs with the cache ``cache`` (``KIND:THRESHOLD``)
    for a call of ``steps`` steps; yields ``Applied`` (its counts fill in as the call runs)."""
    from diffusers.hooks import FirstBlockCacheConfig

    kind, threshold = parse_cache(cache)
    applied = Applied(kind, threshold)
    registered: list = []
    enabled = []
    try:
        for model in models:
            counts = Counts()
            applied.counts.append(counts)
            registered += hints_inside_blocks(model)
            for module, name in ((model, "steps"), (model.blocks[-1], "computed")):
                registry = HookRegistry.check_if_exists_or_initialize(module)
                # the evaluation counter is the outermost hook on the model, the computed one innermost on the last block
                registry.register_hook(_CountHook(counts, name), COUNT_HOOK)
                registered.append((registry, COUNT_HOOK))
            if kind == "first-block":
                model.enable_cache(FirstBlockCacheConfig(threshold=threshold))
                enabled.append(model)
            else:
                registered += _mag_cache(model, MagRule(threshold, steps))
            HookRegistry.check_if_exists_or_initialize(model).invalidate_child_registries_cache()
        yield applied
    finally:
        for model in enabled:
            model.disable_cache()
        for registry, name in reversed(registered):
            registry.remove_hook(name, recurse=False)
        for model in models:
            HookRegistry.check_if_exists_or_initialize(model).invalidate_child_registries_cache()


def cache_of(request) -> str | None:
    """The take's ``cache`` parameter (``None``: no step cache)."""
    return getattr(request.params, "cache", None)


@contextlib.contextmanager
def recorded(backend, models, request, window):
    """``step_cache`` around one window's call, its counts added to ``backend.applied["step_cache"]``
    (summed over the take's windows; the first window, seeded with the take's seed, starts it).
    Without a cache: nothing applied, and no count left over from an earlier take."""
    cache = cache_of(request)
    first_window = window.seed == request.seed
    if cache is None:
        backend.applied.pop("step_cache", None)
        yield None
        return
    with step_cache(models, cache, request.steps) as applied:
        try:
            yield applied
        finally:
            counts = applied.describe()
            previous = backend.applied.get("step_cache")
            if previous and not first_window:
                for key in ("transformer_evaluations", "computed", "skipped"):
                    counts[key] += previous[key]
            backend.applied = {**backend.applied, "step_cache": counts}
