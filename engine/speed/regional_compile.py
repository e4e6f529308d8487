"""Regional compilation: ``torch.compile`` of each repeated transformer block through diffusers'
``compile_repeated_blocks``. One compiled graph serves every block of a class (parameters are graph
inputs), so compile time does not grow with depth; a warm worker keeps the compiled blocks for
later takes, and Inductor's on-disk cache (under the engine cache) for later workers.

torch.compile fails at the first call of a compiled block, not when it is switched on: the backend
then finishes the take eagerly (``is_compile_failure``, ``failure_message`` for take.json).
"""

from __future__ import annotations

import contextlib
import os

_COMPILED = "_neural_previs_compiled"
_SIZES = "_neural_previs_compiled_sizes"


def set_compiled(model, on: bool, fullgraph: bool = True) -> None:
    """Compile ``model``'s repeated blocks, or return them to eager. diffusers has no "uncompile":
    ``nn.Module.compile`` keeps the compiled call in ``_compiled_call_impl``, which is cleared."""
    compiled = getattr(model, _COMPILED, False)
    if on and not compiled:
        # Inductor's on-disk cache beside the engine's other builds, so a later worker on this
        # machine reuses the generated kernels (it is read when compiling, not at import).
        from ..models.locations import engine_cache_dir

        os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(engine_cache_dir() / "inductor"))
        model.compile_repeated_blocks(fullgraph=fullgraph)
    elif compiled and not on:
        for module in model.modules():
            if module.__class__.__name__ in model._repeated_blocks:
                module._compiled_call_impl = None
        compiled_sizes(model).clear()
    setattr(model, _COMPILED, on)


def is_compiled(model) -> bool:
    return getattr(model, _COMPILED, False)


def compiled_sizes(model) -> set:
    """The (frames, height, width) the compiled blocks of this model have run at (a new one
    compiles first). Kept on the model: backends come and go, the compiled blocks stay."""
    if not hasattr(model, _SIZES):
        setattr(model, _SIZES, set())
    return getattr(model, _SIZES)


def eager(models):
    """Run compiled blocks eagerly while active (``preview``: a new size would recompile, and 12
    steps at a quarter of the pixels never pay back compile time). Nothing to do when not compiled."""
    if not any(is_compiled(model) for model in models):
        return contextlib.nullcontext()
    import torch

    return torch.compiler.set_stance("force_eager")


def is_compile_failure(error: BaseException) -> bool:
    """True for an error raised by ``torch.compile`` itself (Dynamo tracing, Inductor code
    generation, a compiler backend), which surfaces at the first call of a compiled block."""
    import torch

    module = type(error).__module__ or ""
    if module.startswith(("torch._dynamo", "torch._inductor")):
        return True
    return isinstance(error, getattr(torch._dynamo.exc, "TorchDynamoException", ()))


def failure_message(error: BaseException) -> str:
    """One line for take.json: the compiler's error and, where it wraps one, the cause."""
    def line(e):
        text = str(e).strip().splitlines()
        return f"{type(e).__name__}: {text[0] if text else ''}".strip()

    cause = getattr(error, "inner_exception", None) or error.__cause__
    return (line(error) + (f" ({line(cause)})" if cause is not None else ""))[:300]
