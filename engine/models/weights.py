"""Finding weights safely: known names, local folders and the Hugging Face cache, offline by default.

Rules (the engine runs on artists' machines and farms):
- offline unless ``download`` is set: a missing model is one line saying what to download and where;
- a snapshot in the hub cache is used only when it is complete (``installed.repo_state``): an
  interrupted download is reported as such, never loaded;
- safetensors only (pickled ``.bin``/``.pt`` weights can run code when loaded) — checked here, and
  ``use_safetensors=True`` is passed to every ``from_pretrained``;
- never ``trust_remote_code``; ``model_index.json`` must name a pipeline class the backend knows and
  only ``diffusers``/``transformers`` components, so no code from the model folder is ever imported;
- a download fetches only the configs, tokenizers and safetensors the pipeline loads (``engine.models.download``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..backends import BACKENDS, get_spec, weights_builder
from ..errors import ModelError
from .catalog import KNOWN_MODELS
from .installed import is_repo_id, models_on_disk, repo_state
from .locations import engine_cache_dir, hub_cache_dir, models_home

_UNSAFE_WEIGHTS = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")
_ALLOWED_LIBRARIES = {"diffusers", "transformers", None}


class NotDownloaded(ModelError):
    """The weights are not (completely) in the hub cache; the add-on words it for artists."""

    kind = "not_downloaded"


@dataclass(frozen=True)
class ResolvedModel:
    """A model found on disk, ready to load."""

    name: str
    """What the user asked for (``--model``)."""
    backend: str
    path: Path
    """Local folder in diffusers layout (``model_index.json`` or a single component's ``config.json``)."""
    repo_id: str | None = None
    revision: str | None = None
    """The Hugging Face snapshot commit, when loaded from the cache."""
    fingerprint: str = ""
    """sha256 over the folder's configs and the size, head and tail of each weights file."""
    components: dict = field(default_factory=dict)
    """Extra models a backend combines (e.g. ``motion_adapter``, ``controlnet``): name -> ResolvedModel."""

    def describe(self) -> dict:
        data = {
            "name": self.name,
            "backend": self.backend,
            "path": str(self.path),
            "repo_id": self.repo_id,
            "revision": self.revision,
            "fingerprint": self.fingerprint,
        }
        if self.components:
            data["components"] = {key: value.describe() for key, value in self.components.items()}
        if get_spec(self.backend).synthetic:
            data["note"] = "random weights: the output is noise"
        return data


def known_models() -> list[dict]:
    """The models the engine knows by name, whether their weights are complete on this machine and
    where (file checks, no hashing), then the diffusers folders in the Models Folder: ``hello.models``."""
    return models_on_disk(hub_cache_dir(), engine_cache_dir(), models_home())


def resolve_model(model: str, download: bool = False, motion_adapter: str | None = None, controlnet: str | None = None) -> ResolvedModel:
    """Turn ``--model`` into a checked local folder (building tiny-random, or downloading if allowed)."""
    known = KNOWN_MODELS.get(model)
    if known is not None:
        _check_extra_components(known.backend, motion_adapter=motion_adapter, controlnet=controlnet)
    builder = weights_builder(get_spec(known.backend)) if known else None
    if builder is not None:
        path = builder.ensure_built(engine_cache_dir())
        return _checked(model, known.backend, path, revision=f"{model}/v{builder.BUILD_VERSION}")

    backend_hint = known.backend if known else None
    model_source = known.repo_id if known else model
    path, repo_id, revision = _locate(model_source, model, download)
    backend = backend_hint or _backend_of(path, model)
    resolved = _checked(model, backend, path, repo_id=repo_id, revision=revision)
    # Further models the backend combines (AnimateDiff: a motion adapter and a ControlNet), each
    # replaceable by the parameter of its name.
    spec = get_spec(backend)
    requested = _check_extra_components(backend, motion_adapter=motion_adapter, controlnet=controlnet)
    extras = {}
    for key, default in spec.extra_components:
        source = requested.get(key) or default
        extra_path, extra_repo, extra_revision = _locate(source, model, download)
        _check_safe_weights(extra_path, source)
        extras[key] = ResolvedModel(
            name=source, backend=backend, path=extra_path, repo_id=extra_repo, revision=extra_revision,
            fingerprint=fingerprint(extra_path),
        )
    if extras:
        resolved = dataclasses.replace(resolved, components=extras)
    return resolved


def _check_extra_components(backend: str, **requested) -> dict:
    """The extra models asked for by name; one line when the backend combines no model of that name."""
    defaults = dict(get_spec(backend).extra_components)
    stray = [name for name, source in requested.items() if source and name not in defaults]
    if stray:
        takers = [s.name for s in BACKENDS.values() if any(name in dict(s.extra_components) for name in stray)]
        verb = "apply" if len(stray) > 1 else "applies"
        raise ModelError(f"{' and '.join(stray)} only {verb} to the {', '.join(takers)} backend, not {backend}")
    return requested


def _locate(source: str, shown: str, download: bool) -> tuple[Path, str | None, str | None]:
    """A local folder, or a repo id found complete in (or, if allowed, downloaded to) the HF cache."""
    local = Path(source).expanduser()
    if local.is_dir():
        return local.resolve(), None, None
    if source.startswith((".", "/", "~")) or "\\" in source:
        raise ModelError(f"model folder {source} does not exist")
    if not is_repo_id(source):
        known = ", ".join(KNOWN_MODELS)
        raise ModelError(f"unknown model {shown!r}: not a folder, a Hugging Face repo id or a known name ({known})")
    cache = hub_cache_dir()
    state = repo_state(cache, source)
    if not state.complete:
        if not download:
            partly = " only partly" if state.snapshot is not None or state.partial_bytes else " not"
            raise NotDownloaded(
                f"weights for {shown} are{partly} downloaded: run `python -m engine download {shown}` (it fetches {source} "
                f"into {cache} and resumes an interrupted download), or run again with --download, or pass --model /path/to/folder"
            )
        from .download import download_model

        download_model(source, cache, lambda progress: None)
        state = repo_state(cache, source)
        if not state.complete:
            raise ModelError(f"{source} is still incomplete after downloading ({state.missing[0]} missing)")
    return state.snapshot, source, state.revision


def _backend_of(path: Path, shown: str) -> str:
    index = _model_index(path, shown)
    class_name = index.get("_class_name")
    for spec in BACKENDS.values():
        if class_name in spec.pipeline_classes and not spec.synthetic:
            return spec.name
    raise ModelError(f"{shown}: model_index.json names pipeline {class_name!r}, which no backend loads")


def _checked(name: str, backend: str, path: Path, repo_id=None, revision=None) -> ResolvedModel:
    spec = get_spec(backend)
    index = _model_index(path, name)
    class_name = index.get("_class_name")
    if class_name not in spec.pipeline_classes:
        raise ModelError(
            f"{name}: {path} holds a {class_name!r} pipeline but backend {backend} loads {', '.join(spec.pipeline_classes)}"
        )
    for component, entry in index.items():
        if component.startswith("_") or not isinstance(entry, list):
            continue
        library = entry[0] if entry else None
        if library not in _ALLOWED_LIBRARIES:
            # Any other library would be imported from the model folder or the Hub: remote code.
            raise ModelError(f"{name}: component {component} comes from {library!r}; only diffusers and transformers components are loaded")
    _check_safe_weights(path, name)
    return ResolvedModel(name=name, backend=backend, path=path, repo_id=repo_id, revision=revision, fingerprint=fingerprint(path))


def _model_index(path: Path, shown: str) -> dict:
    index_file = path / "model_index.json"
    if not index_file.is_file():
        raise ModelError(f"{shown}: {path} is not a diffusers pipeline folder (no model_index.json)")
    try:
        index = json.loads(index_file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ModelError(f"{shown}: {index_file} is corrupt ({error})") from None
    if not isinstance(index, dict):
        raise ModelError(f"{shown}: {index_file} is not a JSON object")
    return index


def _check_safe_weights(path: Path, shown: str) -> None:
    """Every folder that holds weights must hold safetensors; code files are never allowed."""
    for folder in [path, *sorted(p for p in path.iterdir() if p.is_dir())]:
        names = [p.name for p in folder.iterdir() if p.is_file()]
        if any(n.endswith(".py") for n in names):
            raise ModelError(f"{shown}: {folder} contains Python code; the engine never runs code shipped with weights")
        unsafe = [n for n in names if n.endswith(_UNSAFE_WEIGHTS)]
        if unsafe and not any(n.endswith(".safetensors") for n in names):
            raise ModelError(
                f"{shown}: {folder} has only pickled weights ({unsafe[0]}); the engine loads .safetensors only"
            )


def fingerprint(path: Path) -> str:
    """A cheap content fingerprint of a model folder (hashing 30 GB of weights would take minutes):
    the full text of every small file, and the size plus first and last MiB of every large one."""
    digest = hashlib.sha256()
    chunk = 1 << 20
    for file in sorted(p for p in path.rglob("*") if p.is_file() and ".cache" not in p.parts):
        digest.update(str(file.relative_to(path)).encode("utf-8") + b"\0")
        size = file.stat().st_size
        digest.update(str(size).encode() + b"\0")
        with open(file, "rb") as handle:
            if size <= 2 * chunk:
                digest.update(handle.read())
            else:
                digest.update(handle.read(chunk))
                handle.seek(-chunk, os.SEEK_END)
                digest.update(handle.read(chunk))
    return "sha256-fp:" + digest.hexdigest()
