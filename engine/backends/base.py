"""The backend contract: everything the engine calls on a backend, stated once.

A backend turns one window of conditioning into frames with one video model. The engine
(``engine.generation``) does everything else: checking the request, snapping sizes and frames,
cutting the shot into windows, blending them, writing the take. Per take it calls, in order:

1. ``Backend(spec)``, then sets ``warm_worker``, then ``load`` (once while the session keeps the
   model: a warm worker's next take starts at 3.);
2. ``encode_prompt`` (skipped when the session's prompt cache already holds the embeddings);
3. for each window: ``compiles_first``, ``denoise``, ``decode``;
4. ``applied`` is read into take.json's ``speed`` record.

Implementations: ``wan_vace.Backend`` (also runs ``tiny-random``) and ``animatediff.Backend``;
``tests/engine/test_backend_contract.py`` checks each registered backend against ``Backend``, and
``tests/engine/test_conformance.py`` checks a backend's take against its stock diffusers pipeline.

Where later work goes: whatever a take changes in a loaded pipeline (LoRA adapters with
``set_adapters``, a step-distilled draft schedule, a step cache's hooks) is set by ``denoise``
around its pipeline call and undone after it, so the next take starts from the loaded model; a
second expert (``transformer_2``) is one more denoiser each speed switch acts on
(``engine.speed.switches.denoisers``).

Pure: no torch (the registry and the add-on import this package).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Protocol, runtime_checkable

if TYPE_CHECKING:
    import numpy as np

    from ..generation.request import Request
    from ..generation.runtime import Runtime
    from ..generation.windows import WindowInputs
    from ..models.weights import ResolvedModel
    from . import BackendSpec


@runtime_checkable
class Backend(Protocol):
    """What every backend module's ``Backend`` class provides (``__init__(self, spec)`` too)."""

    spec: BackendSpec
    """The registry entry it was made for (``engine.backends.BACKENDS``)."""

    warm_worker: bool
    """Set by the session before ``load``: True in a long-lived worker (``serve``, the batch
    runner), where one-time costs that pay back over several takes (regional compile) are worth it."""

    applied: dict
    """What the speed switches did, JSON-friendly; take.json records it under ``speed``. Updated by
    ``load`` and by each window (e.g. a compile failure, the VAE tiles used). Empty: nothing applied."""

    def load(self, model: ResolvedModel, runtime: Runtime) -> Any:
        """Build the diffusers pipeline from ``model.path`` (a checked local folder; extra models in
        ``model.components``) with ``use_safetensors=True`` and ``local_files_only=True``, place it
        for ``runtime`` (device, dtype, ``--offload`` profile: ``engine.speed.offload.place``), turn
        off diffusers' progress bars, and apply the speed switches the policy chooses. Returns the
        pipeline, which the engine passes back to every other method unchanged. Raises
        ``ModelError`` for a folder this backend cannot run; ``OSError``/``ValueError``/``KeyError``
        from diffusers become "cannot load ..." in the session."""

    def encode_prompt(self, pipeline: Any, request: Request) -> Any:
        """Text embeddings for ``request.params.prompt`` and ``negative_prompt`` (the negative only
        when ``request.guidance > 1``), with the pipeline's own ``encode_prompt``. The result is
        opaque to the engine, handed to ``denoise``, and cached across takes by (model, prompt,
        negative prompt, guidance on): it must depend on nothing else."""

    def compiles_first(self, pipeline: Any, window: WindowInputs, request: Request) -> bool:
        """Whether this window's first denoising step compiles the model first (a new size in a
        compiling worker), so the engine can tell the user why that step is slow. False for a
        backend that never compiles."""

    def denoise(self, pipeline: Any, window: WindowInputs, embeds: Any, request: Request,
                on_step: Callable[[int], None]) -> Any:
        """Run the pipeline's denoising for one window at the working size: ``window.control``,
        ``window.generate`` and ``window.reference`` as the model's conditioning, ``request.steps``
        steps, ``request.guidance``, conditioning scale ``request.params.conditioning_scale``, and
        noise from ``torch.Generator("cpu").manual_seed(window.seed)`` (the same noise on every
        device). Call ``on_step(n)`` after step n (1-based) from the pipeline's
        ``callback_on_step_end``; it raises ``GenerationCancelled`` to stop within the step, which
        must propagate. Returns the denoised latents, opaque to the engine, handed to ``decode``."""

    def decode(self, pipeline: Any, latents: Any, window: WindowInputs) -> np.ndarray:
        """The window's frames from ``denoise``'s latents: uint8 RGB ``(frames, height, width, 3)``
        at the working size, ``window.frames`` of them, exactly what the stock pipeline's
        ``output_type="np"`` gives, as ``round(255 * clip(x, 0, 1))``."""
