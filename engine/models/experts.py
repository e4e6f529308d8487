"""Models with two denoising experts (Wan2.2 VACE-Fun A14B): what a folder's ``model_index.json`` says.

diffusers' ``WanVACEPipeline`` takes ``transformer`` (the high-noise expert), an optional
``transformer_2`` (the low-noise expert) and ``boundary_ratio``: steps whose timestep is at least
``boundary_ratio * num_train_timesteps`` run ``transformer`` with ``guidance_scale``, the others
``transformer_2`` with ``guidance_scale_2`` (the same as ``guidance_scale`` when not given). The
engine loads such a folder through the stock ``from_pretrained`` and passes ``guidance_2`` on as
``guidance_scale_2``; this module only reads the layout, so a request is checked before torch loads.

Pure: no torch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..errors import ParamsError


@dataclass(frozen=True)
class ExpertLayout:
    experts: tuple[str, ...]
    """The denoiser components the folder names: ``("transformer",)`` or ``("transformer", "transformer_2")``."""
    boundary_ratio: float | None
    """Where the low-noise expert takes over (a fraction of the training timesteps); None: one expert throughout."""

    @property
    def two_experts(self) -> bool:
        return self.boundary_ratio is not None and len(self.experts) == 2


def expert_layout(folder: Path) -> ExpertLayout:
    """The experts a diffusers folder names (a folder without a readable model_index.json: one)."""
    try:
        index = json.loads((Path(folder) / "model_index.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ExpertLayout(("transformer",), None)
    named = tuple(name for name in ("transformer", "transformer_2")
                  if isinstance(index.get(name), list) and index[name] and index[name][0] is not None)
    ratio = index.get("boundary_ratio")
    return ExpertLayout(named, float(ratio) if isinstance(ratio, (int, float)) and not isinstance(ratio, bool) else None)


def check_guidance_2(model, params) -> None:
    """``guidance_2`` only for a model with two experts and a boundary (the stock call refuses it otherwise)."""
    if params.guidance_2 is None:
        return
    layout = expert_layout(model.path)
    if not layout.two_experts:
        raise ParamsError(f"guidance_2 applies to models with two experts (e.g. wan2.2-vace-fun-a14b); {model.name} has one: "
                          "drop --guidance-2")


def lora_targets(pipeline) -> list[dict]:
    """The ``load_lora_weights`` keyword arguments that load one LoRA into every expert of a Wan
    pipeline: ``{}`` for ``transformer`` and, for a two-expert pipeline, ``{"load_into_transformer_2":
    True}`` for ``transformer_2`` (diffusers' ``WanLoraLoaderMixin``). The LoRA code calls it once per
    file and loads the same adapter name with each."""
    targets = [{}] if getattr(pipeline, "transformer", None) is not None else []
    if getattr(pipeline, "transformer_2", None) is not None:
        targets.append({"load_into_transformer_2": True})
    return targets


def check_model_options(model, spec, params) -> None:
    """The options of issue 14 sections 4-6 that depend on the model, before anything loads:
    ``guidance_2`` needs two experts; ``cache`` and ``weights`` act on Wan VACE transformers."""
    check_guidance_2(model, params)
    if spec.module != "wan_vace":
        if params.cache is not None:
            raise ParamsError(f"step caches work with Wan VACE models, not {spec.name}: drop --cache")
        if params.weights != "auto":
            raise ParamsError(f"--weights {params.weights} works with Wan VACE models, not {spec.name}: drop --weights")
