"""Which files of a model repository a pipeline needs, and whether a local copy has all of them. Pure.

A diffusers pipeline repository holds far more than a pipeline loads: root checkpoints for other tools
(Stable Diffusion 1.5 carries 4 to 7 GB ``v1-5-pruned*.ckpt``/``.safetensors``), pickled ``.bin``
copies of every weight, half-precision variants, example images. What is needed is decided from the
repository's file listing and its ``model_index.json``:

- the root ``model_index.json``, and for each component it names (not ``null``, not one the backend
  never loads, e.g. Stable Diffusion's ``safety_checker``) the files directly in its folder that are
  configs or tokenizer files, and its safetensors weights without a variant infix
  (``diffusion_pytorch_model.safetensors``, ``model-00001-of-00003.safetensors``, never
  ``diffusion_pytorch_model.fp16.safetensors``): what ``from_pretrained(use_safetensors=True)`` reads;
- a single-model repository (a root ``config.json`` and no ``model_index.json``: a MotionAdapter, a
  ControlNet): that config and its root weights, by the same rule.

Never pickles (``.bin``, ``.pt``, ``.ckpt``...), never code (``.py``), never anything else.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

PIPELINE_INDEX = "model_index.json"
MODEL_CONFIG = "config.json"

#: The weights ``from_pretrained`` reads without a variant: diffusers' and transformers' file names, whole or sharded.
_DEFAULT_WEIGHTS = re.compile(r"^(diffusion_pytorch_model|model)(-\d{5}-of-\d{5})?\.safetensors$")
_DEFAULT_INDEX = re.compile(r"^(diffusion_pytorch_model|model)\.safetensors\.index\.json$")
_TOKENIZER_SUFFIXES = (".json", ".txt", ".model", ".tiktoken")
_TOKENIZER_PREFIXES = ("tokenizer", "vocab", "merges", "spiece", "sentencepiece")
_NEVER = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle", ".py", ".pyc", ".msgpack", ".h5", ".onnx", ".pb", ".gguf")


class RepoLayoutError(ValueError):
    """The repository is not a diffusers pipeline or model repository the engine can load."""


def is_default_weights(name: str) -> bool:
    """Safetensors weights ``from_pretrained`` loads without a variant: ``model.safetensors``,
    ``diffusion_pytorch_model-00001-of-00002.safetensors``; never ``diffusion_pytorch_model.fp16.safetensors``
    or a checkpoint under another name."""
    return _DEFAULT_WEIGHTS.match(name) is not None


def is_default_index(name: str) -> bool:
    """The shard index of the default weights (``model.safetensors.index.json``)."""
    return _DEFAULT_INDEX.match(name) is not None


def _is_config_or_tokenizer(name: str) -> bool:
    lowered = name.lower()
    if lowered.endswith(_NEVER):
        return False
    if ".safetensors" in lowered or ".bin." in lowered:
        return is_default_index(name)  # a weights index: only the default weights' one
    return lowered.endswith(_TOKENIZER_SUFFIXES) or lowered.startswith(_TOKENIZER_PREFIXES)


def _folder_files(names: Iterable[str]) -> list[str]:
    """What a component folder contributes: configs, tokenizer files and default safetensors weights."""
    return sorted(n for n in names if is_default_weights(n) or _is_config_or_tokenizer(n))


def _by_folder(paths: Iterable[str]) -> dict[str, list[str]]:
    folders: dict[str, list[str]] = {}
    for path in paths:
        folder, name = posixpath.split(path)
        folders.setdefault(folder, []).append(name)
    return folders


def components(model_index: Mapping, skipped: Iterable[str] = ()) -> list[str]:
    """The component folders ``model_index.json`` names, minus those given in ``skipped``."""
    skip = set(skipped)
    return sorted(
        key for key, entry in model_index.items()
        if not key.startswith("_") and isinstance(entry, list) and entry and entry[0] is not None and key not in skip
    )


def needed_files(listing: Iterable[str], model_index: Mapping | None, skipped: Iterable[str] = ()) -> list[str]:
    """The files of a repository (``listing``: every path in it, ``/``-separated) that the pipeline loads.

    ``model_index`` is the content of its ``model_index.json`` (``None`` for a single-model repository).
    Raises ``RepoLayoutError`` when a component has no config or no weights the engine may load."""
    folders = _by_folder(listing)
    root = folders.get("", [])
    if model_index is None:
        if MODEL_CONFIG not in root:
            raise RepoLayoutError("it is not a diffusers model repository (no model_index.json or config.json at its root)")
        files = [n for n in root if n == MODEL_CONFIG or is_default_weights(n) or is_default_index(n)]
        if not any(is_default_weights(n) for n in files):
            raise RepoLayoutError("it has no .safetensors weights at its root (the engine loads safetensors only)")
        return sorted(files)
    if PIPELINE_INDEX not in root:
        raise RepoLayoutError("its listing has no model_index.json")
    needed = [PIPELINE_INDEX]
    for component in components(model_index, skipped):
        names = folders.get(component, [])
        if not names:
            raise RepoLayoutError(f"model_index.json names {component}, but the repository has no {component}/ folder")
        chosen = _folder_files(names)
        if MODEL_CONFIG in names and not any(is_default_weights(n) for n in chosen):
            raise RepoLayoutError(f"{component}/ has no .safetensors weights (the engine loads safetensors only)")
        if not chosen:
            raise RepoLayoutError(f"{component}/ has no config the engine can read")
        needed += [f"{component}/{name}" for name in chosen]
    return sorted(needed)


def local_listing(folder: Path) -> list[str]:
    """Every file under ``folder``, as ``/``-separated paths relative to it (hidden folders left out)."""
    return sorted(
        p.relative_to(folder).as_posix() for p in folder.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts[:-1])
    )


def missing_in_folder(folder: Path, skipped: Iterable[str] = ()) -> list[str]:
    """What a local pipeline or model folder lacks, judged from the folder alone (no listing of where it
    came from): every component ``model_index.json`` names needs a config, a model component (one with
    a ``config.json``) needs its default safetensors weights, and a shard index needs every shard it names.
    An empty list means complete."""
    index_file = folder / PIPELINE_INDEX
    model_index = None
    if index_file.is_file():
        try:
            model_index = json.loads(index_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return [PIPELINE_INDEX]
        if not isinstance(model_index, dict):
            return [PIPELINE_INDEX]
    elif not (folder / MODEL_CONFIG).is_file():
        return [PIPELINE_INDEX]
    missing: list[str] = []
    parts = [""] if model_index is None else components(model_index, skipped)
    for part in parts:
        sub = folder / part if part else folder
        names = [p.name for p in sub.iterdir() if p.is_file()] if sub.is_dir() else []
        prefix = f"{part}/" if part else ""
        if not names:
            missing.append(f"{prefix}(config)")
            continue
        if MODEL_CONFIG in names and not any(is_default_weights(n) for n in names):
            missing.append(f"{prefix}*.safetensors")
        for index_name in filter(is_default_index, names):
            try:
                shards = set(json.loads((sub / index_name).read_text(encoding="utf-8")).get("weight_map", {}).values())
            except (OSError, ValueError, AttributeError):
                missing.append(prefix + index_name)
                continue
            missing += [prefix + shard for shard in sorted(shards) if not (sub / shard).is_file()]
    return missing
