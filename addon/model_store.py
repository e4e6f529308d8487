"""The models on this machine, seen from Blender: what the Models Folder holds, which model still
needs its Download, deleting one, and the artist's wording of the engine's download errors. Pure (no
bpy): the preferences, the 3D-view panel and the operators call it with the Models Folder's absolute
path ("" = the standard Hugging Face cache, which is where the engine then looks too).

The file checks are the engine's own (``engine.models.installed``), so Blender and the engine agree on
what "installed" means.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from ..engine.models import installed
from ..engine.models.catalog import KNOWN_MODELS
from ..engine.models.locations import hub_cache_dir, models_home

PREFERENCES_PLACE = "Neural Previs preferences (Edit > Preferences > Add-ons > Neural Previs)"


def home_for(models_folder: str) -> Path:
    """The Hugging Face home the engine uses: the Models Folder, else the standard one."""
    return Path(models_folder).expanduser() if models_folder else models_home()


def hub_cache_for(models_folder: str) -> Path:
    """Where downloads go: ``<Models Folder>/hub``, else the standard cache (``HF_HUB_CACHE``, ``HF_HOME``)."""
    return home_for(models_folder) / "hub" if models_folder else hub_cache_dir()


def model_rows(models_folder: str, engine_cache: Path) -> list[dict]:
    """Every known model with its size, GPU memory, licence and state on disk, then the local diffusers
    folders of the Models Folder (the same entries as the engine's ``hello.models``)."""
    return installed.models_on_disk(hub_cache_for(models_folder), engine_cache, home_for(models_folder))


def needs_download(model: str, models_folder: str) -> bool:
    """Whether ``model`` (a known name or a repo id) must be downloaded before it can generate."""
    return installed.needs_download(model, hub_cache_for(models_folder))


def can_download(model: str) -> bool:
    """A known name with repositories, or a repo id: something the Download button can fetch."""
    known = KNOWN_MODELS.get(model)
    return bool(known.repos) if known is not None else installed.is_repo_id(model) and not Path(model).expanduser().exists()


def title_of(model: str) -> str:
    known = KNOWN_MODELS.get(model)
    return f"{known.title} ({model})" if known is not None and known.title else model


def not_downloaded_message(model: str, models_folder: str) -> str:
    """What Generate says for a model whose weights are missing (or only partly there)."""
    partial = any(installed.repo_state(hub_cache_for(models_folder), repo).partial_bytes for repo in _repos(model))
    state = "only partly downloaded" if partial else "not downloaded"
    return f"{title_of(model)} is {state}: press Download next to it in {PREFERENCES_PLACE}, or pick another model"


def _repos(model: str) -> tuple[str, ...]:
    known = KNOWN_MODELS.get(model)
    if known is not None:
        return known.repos
    return (model,) if installed.is_repo_id(model) else ()


def delete_model(model: str, models_folder: str) -> list[Path]:
    """Remove the model's repositories from the hub cache (snapshots, blobs, partial downloads, locks):
    only folders named ``models--org--name`` inside that cache, never a symlink out of it. Returns what
    was removed. Raises ``OSError`` when a file cannot be removed (on Windows: in use by the engine)."""
    hub = hub_cache_for(models_folder).resolve()
    removed = []
    for repo in _repos(model):
        for folder in (installed.storage_folder(hub, repo), hub / ".locks" / installed.storage_folder(hub, repo).name):
            if folder.is_symlink() or not folder.is_dir() or folder.resolve().parent not in (hub, hub / ".locks"):
                continue
            shutil.rmtree(folder)
            removed.append(folder)
    return removed


def download_failure_message(event_message: str, details: dict, models_folder: str, log_path=None) -> str:
    """The engine's download error, worded for an artist: Blender's buttons and fields, never a command-line flag.
    The known causes say what to do; any other names the download's log (``log_path``), where the details are."""
    reason = details.get("reason")
    repo = details.get("repo") or ""
    folder = models_folder or str(hub_cache_for(models_folder))
    if reason == "gated":
        return (f"{repo} is gated: accept its licence at {details.get('url', repo)} while logged in to Hugging Face, "
                "then set the HF_TOKEN environment variable to a read token of that account, restart Blender and press Download again")
    if reason == "not_found":
        return f"{repo} was not found on the Hugging Face Hub: check the model name (if it is private, set HF_TOKEN to a token that can read it)"
    if reason == "disk_space":
        needed, free = details.get("needed") or 0, details.get("free") or 0
        amounts = f" (needs {needed / 1e9:.1f} GB, {free / 1e9:.1f} GB free)" if needed else ""
        return f"Not enough disk space in {folder}{amounts}: free some space, or choose a Models Folder on another disk in {PREFERENCES_PLACE}"
    if reason == "read_only":
        return f"The Models Folder {details.get('folder') or folder} is read-only: choose a writable Models Folder in {PREFERENCES_PLACE}"
    if reason == "network":
        return "The connection to the Hugging Face Hub was lost: check the network and press Download again; it resumes where it stopped"
    if reason == "offline":
        return "HF_HUB_OFFLINE is set in Blender's environment, so nothing can be downloaded: unset it and restart Blender"
    if reason == "missing_file":
        return f"{details.get('file')} of {repo} is listed on the Hub but not served: try again later"
    if reason == "busy":
        return f"Another download of {repo} is running (another Blender or a terminal): wait for it, then press Download again"
    if reason == "damaged":
        return f"A file of {repo} arrived damaged and was discarded: press Download again"
    message = event_message[:1].upper() + event_message[1:] if event_message else "The download failed"
    return f"{message} (details: {log_path})" if log_path else message
