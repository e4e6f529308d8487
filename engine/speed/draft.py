"""``quality draft``: a step-distillation LoRA, 4 steps, no guidance, on the schedule it was distilled for.

Which LoRA: the model's entry in ``engine.models.catalog`` (``KnownModel.draft_lora``, downloaded
with the model), or one registered with ``register`` (the tests register a tiny stand-in for
``tiny-random``). A model without one is refused in one line before anything loads.

The schedule: the model's own scheduler config as UniPC with ``flow_shift`` 5
(``quality.DRAFT_FLOW_SHIFT``): 999, 937, 833, 625 at 4 steps on Wan's 1000 training timesteps.
``scheduler_for`` builds it; the backend swaps it in for the take's pipeline calls and puts the
model's own back after (``engine.backends.wan_vace``); take.json records it (``schedule_record``).

The module imports torch only inside ``scheduler_for`` / ``schedule_record``.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

from ..errors import ParamsError
from ..models.catalog import KNOWN_MODELS
from ..models.loras import LoraError, ResolvedLora, resolve_lora
from .quality import DRAFT_FLOW_SHIFT

#: Model name or repo id -> LoRA source, added with ``register``.
_REGISTERED: dict[str, str] = {}


def register(model: str, source: str) -> None:
    """Use the LoRA ``source`` (a file or ``org/name/file.safetensors``) as ``model``'s draft LoRA."""
    _REGISTERED[model] = source


def unregister(model: str) -> None:
    _REGISTERED.pop(model, None)


def distill_lora_source(model: str) -> str | None:
    """The draft LoRA of a model (by known name or its repo id), or ``None``."""
    if model in _REGISTERED:
        return _REGISTERED[model]
    for known in KNOWN_MODELS.values():
        if model in (known.name, known.repo_id) and known.draft_lora:
            return "/".join(known.draft_lora)
    return None


def resolve_draft_lora(params, model) -> ResolvedLora:
    """The checked draft LoRA for this take, weight 1.0; one line when the model has none."""
    source = distill_lora_source(params.model)
    if source is None:
        known = [name for name in KNOWN_MODELS if distill_lora_source(name)]
        raise ParamsError(
            f"quality {params.quality} needs a step-distillation LoRA, and none is known for {params.model} "
            f"(known for {', '.join(known)}); use quality final or preview"
        )
    try:
        return resolve_lora(source, 1.0, model.path, params.download, role="draft")
    except LoraError as error:
        if params.model not in KNOWN_MODELS or "not downloaded" not in error.message:
            raise
        from ..models.weights import NotDownloaded

        raise NotDownloaded(
            f"weights for {params.model} are only partly downloaded: quality {params.quality} needs its step-distillation "
            f"LoRA {source}; run `python -m engine download {params.model}` (it fetches only what is missing), or run again "
            "with --download"
        ) from None


def scheduler_for(config):
    """The draft scheduler from a model's scheduler config: UniPC, flow prediction, shift 5."""
    from diffusers import UniPCMultistepScheduler

    return UniPCMultistepScheduler.from_config(
        dict(config), flow_shift=DRAFT_FLOW_SHIFT, use_flow_sigmas=True, prediction_type="flow_prediction"
    )


@contextlib.contextmanager
def draft_scheduler(pipeline):
    """The pipeline runs the draft schedule inside the block and its own scheduler after it."""
    own = pipeline.scheduler
    pipeline.scheduler = scheduler_for(own.config)
    try:
        yield pipeline.scheduler
    finally:
        pipeline.scheduler = own


def schedule_record(model_path: Path, steps: int) -> dict:
    """take.json's record of the draft schedule: scheduler, shift and the timesteps it ran."""
    try:
        config = json.loads((Path(model_path) / "scheduler" / "scheduler_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        config = {}
    scheduler = scheduler_for({k: v for k, v in config.items() if not k.startswith("_")})
    scheduler.set_timesteps(steps)
    return {"scheduler": type(scheduler).__name__, "flow_shift": DRAFT_FLOW_SHIFT, "prediction_type": "flow_prediction",
            "steps": steps, "timesteps": [int(t) for t in scheduler.timesteps]}


def take_loras(params, model, spec) -> list[ResolvedLora]:
    """Every LoRA of the take, checked: ``params.loras``, then the draft LoRA for a draft quality."""
    from ..models.loras import resolve_loras
    from .quality import resolve

    loras = resolve_loras(params, model, spec)
    if resolve(params, spec).draft:
        distill = resolve_draft_lora(params, model)
        same = next((lora for lora in loras if lora.sha256 == distill.sha256), None)
        if same is not None:
            raise ParamsError(f"LoRA {same.source} is the draft quality's own step-distillation LoRA; "
                              "remove it from the LoRAs (draft loads it)")
        loras.append(distill)
    return loras


def record_fields(request, model) -> dict:
    """take.json's ``loras`` (file, sha256, weight of each) and, for a draft, ``draft`` (its LoRA
    and schedule) and ``resolved.quality``."""
    fields = {"loras": [lora.describe() for lora in request.loras]}
    distill = next((lora for lora in request.loras if lora.role == "draft"), None)
    if distill is not None:
        fields["draft"] = {"lora": distill.describe(), "guidance": request.guidance,
                           "schedule": schedule_record(model.path, request.steps)}
    return fields
