"""What is on this machine: whether a model's weights are complete in a Hugging Face cache and where,
how much of an interrupted download is waiting to resume, and the diffusers folders someone put in
the Models Folder. Pure (no huggingface_hub, no torch): the Blender add-on draws its preferences from
it, the engine fills ``hello`` with it, and ``resolve_model`` refuses what it calls incomplete.

The cache layout is Hugging Face's: ``<hub>/models--org--name/{refs/main, snapshots/<commit>/, blobs/}``.
A snapshot counts as complete when every file the engine's download recorded for that commit is
there with its size (``RECORD_NAME``, written last by ``engine.models.download``), or, for a snapshot
that came from elsewhere (``hf download``, another tool), when ``repo_files.missing_in_folder`` finds
nothing missing. Interrupted downloads wait in ``blobs/<etag>.incomplete``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..backends import BACKENDS, get_spec, weights_builder
from .catalog import KNOWN_MODELS, KnownModel
from .repo_files import PIPELINE_INDEX, missing_in_folder

#: The engine's record of a finished download, beside Hugging Face's refs/ and snapshots/.
RECORD_NAME = "neural_previs_download.json"
RECORD_SCHEMA = "neural_previs.download/1"
PARTIAL_SUFFIX = ".incomplete"


def storage_folder(hub_cache: Path, repo_id: str) -> Path:
    """Hugging Face's folder for one model repository in the hub cache."""
    return Path(hub_cache) / ("models--" + repo_id.replace("/", "--"))


def unused_components(model_index: dict | None) -> tuple[str, ...]:
    """Components of a pipeline that the backend loading its class never uses (not downloaded, not required)."""
    class_name = (model_index or {}).get("_class_name")
    for spec in BACKENDS.values():
        if class_name in spec.pipeline_classes and not spec.synthetic:
            return spec.unused_components
    return ()


def _read_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def read_record(storage: Path) -> dict | None:
    record = _read_json(storage / RECORD_NAME)
    if isinstance(record, dict) and record.get("schema") == RECORD_SCHEMA and isinstance(record.get("files"), dict):
        return record
    return None


@dataclass
class RepoState:
    """One repository in the hub cache."""

    repo_id: str
    snapshot: Path | None = None
    """The snapshot ``refs/main`` names (``None``: nothing downloaded)."""
    missing: list[str] = field(default_factory=list)
    """Files that snapshot lacks; empty when it is complete."""
    partial_bytes: int = 0
    """Bytes of interrupted downloads waiting to be resumed."""

    @property
    def complete(self) -> bool:
        return self.snapshot is not None and not self.missing

    @property
    def revision(self) -> str | None:
        return self.snapshot.name if self.snapshot is not None else None


def repo_state(hub_cache: Path, repo_id: str) -> RepoState:
    storage = storage_folder(hub_cache, repo_id)
    state = RepoState(repo_id)
    blobs = storage / "blobs"
    if blobs.is_dir():
        state.partial_bytes = sum(p.stat().st_size for p in blobs.iterdir() if p.name.endswith(PARTIAL_SUFFIX) and p.is_file())
    try:
        commit = (storage / "refs" / "main").read_text(encoding="utf-8").strip()
    except OSError:
        return state
    snapshot = storage / "snapshots" / commit
    if not commit or not snapshot.is_dir():
        return state
    state.snapshot = snapshot
    record = read_record(storage)
    if record is not None and record.get("revision") == commit:
        state.missing = [
            path for path, size in sorted(record["files"].items())
            if not (snapshot / path).is_file() or (snapshot / path).stat().st_size != size
        ]
    else:
        state.missing = missing_in_folder(snapshot, unused_components(_read_json(snapshot / PIPELINE_INDEX)))
    return state


def model_state(model: KnownModel, hub_cache: Path, engine_cache: Path) -> dict:
    """``model.describe()`` plus what is on disk: ``installed`` (complete), ``available`` (runs offline),
    ``where`` (the pipeline's folder), ``partial_bytes`` (an interrupted download to resume), ``missing``
    (repositories not complete), ``built`` for models built locally."""
    entry = model.describe()
    builder = weights_builder(get_spec(model.backend))
    if builder is not None:  # built on first use: always available
        folder = builder.built_folder(Path(engine_cache))
        built = (folder / PIPELINE_INDEX).is_file()
        entry.update(available=True, installed=True, built=built, where=str(folder) if built else None,
                     partial_bytes=0, missing=[])
        return entry
    states = [repo_state(hub_cache, repo) for repo in model.repos]
    installed = all(state.complete for state in states)
    entry.update(
        available=installed,
        installed=installed,
        where=str(states[0].snapshot) if states and states[0].snapshot is not None else None,
        partial_bytes=sum(state.partial_bytes for state in states),
        missing=[state.repo_id for state in states if not state.complete],
    )
    if model.draft_lora:  # quality draft's LoRA: downloaded with the model, told apart (final takes run without it)

        entry["draft_lora_installed"] = cached_file(hub_cache, *model.draft_lora) is not None
    return entry


def local_folders(models_dir: Path | None) -> list[dict]:
    """Diffusers pipeline folders directly inside the Models Folder (beside its ``hub/`` cache), each
    as a model entry whose ``name`` is the folder's path (what ``--model`` accepts)."""
    if models_dir is None or not Path(models_dir).is_dir():
        return []
    found = []
    for folder in sorted(Path(models_dir).iterdir()):
        if not folder.is_dir() or folder.name.startswith(".") or folder.name == "hub":
            continue
        index = _read_json(folder / PIPELINE_INDEX)
        if not isinstance(index, dict):
            continue
        backend = next((s.name for s in BACKENDS.values() if index.get("_class_name") in s.pipeline_classes and not s.synthetic), None)
        missing = missing_in_folder(folder, unused_components(index))
        found.append({
            "name": str(folder), "title": folder.name, "backend": backend, "repo_id": None, "repos": [],
            "local": True, "description": f"Local {index.get('_class_name')} folder", "licence": "",
            "download_gb": 0.0, "gpu_memory_gb": {}, "gpu_card_gb": {},
            "installed": not missing and backend is not None, "available": not missing and backend is not None,
            "where": str(folder), "partial_bytes": 0, "missing": missing,
        })
    return found


def models_on_disk(hub_cache: Path, engine_cache: Path, models_dir: Path | None) -> list[dict]:
    """Every known model with its state, then the local folders of the Models Folder: ``hello.models``."""
    return [model_state(m, hub_cache, engine_cache) for m in KNOWN_MODELS.values()] + local_folders(models_dir)


def needs_download(name: str, hub_cache: Path) -> bool:
    """Whether ``name`` is a known model or a repo id whose weights are not complete in ``hub_cache``.
    Folders, and models built locally, never need a download."""
    known = KNOWN_MODELS.get(name)
    if known is not None:
        if weights_builder(get_spec(known.backend)) is not None:
            return False
        return not all(repo_state(hub_cache, repo).complete for repo in known.repos)
    if is_repo_id(name) and not Path(name).expanduser().exists():
        return not repo_state(hub_cache, name).complete
    return False


def is_repo_id(text: str) -> bool:
    """``org/name`` as the Hub spells it (and not a path)."""
    return re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*", text or "") is not None


def cached_file(hub_cache: Path, repo_id: str, filename: str | None) -> Path | None:
    """A file of ``repo_id`` already in the hub cache (newest snapshot first), without the network.
    ``filename`` ``None``: the repository's only ``.safetensors`` file."""
    snapshots = storage_folder(hub_cache, repo_id) / "snapshots"
    if not snapshots.is_dir():
        return None
    for snapshot in sorted(snapshots.iterdir(), key=lambda p: p.stat().st_mtime, reverse=True):
        if filename is not None:
            if (snapshot / filename).is_file():
                return snapshot / filename
            continue
        files = sorted(snapshot.rglob("*.safetensors"))
        if len(files) == 1:
            return files[0]
    return None
