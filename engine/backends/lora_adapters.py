"""LoRA adapters in a loaded Wan pipeline: loaded once per file, weighted per take, off between takes.

- ``load``: each file becomes one PEFT adapter, named after its sha256, the first time a take
  asks for it (a warm worker keeps it, so switching LoRAs or weights never reloads the base model
  or the file). The state dict is read with safetensors, original-named VACE blocks are renamed
  and diffusers-format prefixes completed (``engine.models.lora_keys``), and the rest goes through
  diffusers' own ``load_lora_weights`` (its converters handle ``diffusion_model.*`` and
  ``lora_unet_*``). A second expert (``transformer_2``) gets every adapter too.
- ``around(pipeline, loras)``: for the take's pipeline calls, ``set_adapters`` with the take's
  names and weights; after them (and for a take without LoRAs) the adapters are disabled, so
  every LoRA layer returns its base layer's output unchanged: a take without LoRAs is the take the
  model gives without any LoRA loaded (``tests/engine/test_loras.py`` proves it).
"""

from __future__ import annotations

import contextlib
import logging

from ..models.lora_keys import LoraKeyError, split_vace_keys, vace_to_diffusers, with_diffusers_prefix
from ..models.loras import LoraError

log = logging.getLogger(__name__)


def runs_eagerly(request) -> bool:
    """Whether the take's compiled blocks run eagerly because of its LoRAs: a style LoRA's weight is
    a Python float torch.compile specializes on, so every new weight or LoRA set would recompile
    the blocks (as long as the first compile, ~37 s on an H200, until torch's recompile limit).
    The draft LoRA always runs at weight 1.0 alone, so a draft compiles once and stays compiled."""
    return any(lora.role != "draft" for lora in getattr(request, "loras", ()))


def adapter_name(lora) -> str:
    return f"lora_{lora.sha256[:16]}"


def state_dict_for_diffusers(lora) -> dict:
    """The file's tensors in a form ``load_lora_weights`` accepts (see the module docstring)."""
    from safetensors.torch import load_file

    state_dict = load_file(str(lora.file))
    if lora.format == "diffusers":
        return with_diffusers_prefix(state_dict)
    if lora.format != "original":
        return state_dict  # musubi: diffusers' own converter
    main, vace = split_vace_keys(state_dict)
    if not vace:
        return main
    converted = vace_to_diffusers(vace, alpha_of=lambda value: float(value.item()))
    if main:
        from diffusers import WanVACEPipeline

        converted.update(WanVACEPipeline.lora_state_dict(main))
    return converted


def _denoiser_names(pipeline) -> list[str]:
    return [name for name in ("transformer", "transformer_2") if getattr(pipeline, name, None) is not None]


class LoraAdapters:
    """The adapters one loaded pipeline holds (the backend keeps one per pipeline)."""

    def __init__(self):
        self.loaded: dict[str, str] = {}
        """sha256 -> adapter name."""

    def load(self, pipeline, lora) -> str:
        name = adapter_name(lora)
        if lora.sha256 in self.loaded:
            return name
        try:
            state_dict = state_dict_for_diffusers(lora)
            for denoiser in _denoiser_names(pipeline):
                pipeline.load_lora_weights(dict(state_dict), adapter_name=name,
                                           load_into_transformer_2=denoiser == "transformer_2")
        except (LoraKeyError, ValueError, KeyError, RuntimeError, IndexError) as error:
            log.warning("loading LoRA %s failed", lora.file, exc_info=True)
            self._forget(pipeline, name)
            first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise LoraError(f"LoRA {lora.file} does not fit this model ({first[:300]}); use a LoRA trained for it") from None
        listed = pipeline.get_list_adapters()
        if not any(name in listed.get(denoiser, ()) for denoiser in _denoiser_names(pipeline)):
            self._forget(pipeline, name)
            raise LoraError(f"LoRA {lora.file} changes nothing in this model (none of its layers are the model's); "
                            "use a LoRA trained for Wan2.1")
        self.loaded[lora.sha256] = name
        return name

    def _forget(self, pipeline, name: str) -> None:
        with contextlib.suppress(Exception):
            pipeline.delete_adapters(name)

    @contextlib.contextmanager
    def around(self, pipeline, loras):
        """The take's LoRAs active with their weights inside the block, all adapters off after."""
        if not loras:
            if self.loaded:
                pipeline.disable_lora()
            yield
            return
        names = [self.load(pipeline, lora) for lora in loras]
        pipeline.enable_lora()
        pipeline.set_adapters(names, adapter_weights=[float(lora.weight) for lora in loras])
        try:
            yield
        finally:
            pipeline.disable_lora()
