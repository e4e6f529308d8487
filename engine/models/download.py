"""Downloading a model from the Hugging Face Hub into the hub cache: only what the pipeline loads,
resumable, checked, and never half-installed.

``download_model(name, hub_cache, report)`` runs in the engine's own Python (``python -m engine
download``, the Blender add-on's Download button, ``generate --download``). It honours
huggingface_hub's environment: ``HF_ENDPOINT`` (another Hub or a mirror), ``HF_TOKEN`` (gated
repositories), ``HF_HUB_OFFLINE`` (refused with one line).

1. **Plan**: per repository, the file listing with sizes (``HfApi.model_info(files_metadata=True)``)
   and its ``model_index.json`` decide the files (``repo_files.needed_files``): nothing else is fetched.
2. **Check** before any byte moves: the Models Folder is writable and has room for what is left.
3. **Fetch** each file into ``blobs/<etag>.incomplete`` with huggingface_hub's ``http_get``, resuming
   from the bytes already there (a ``Range`` request); huggingface_hub 2.4's own ``hf_hub_download``
   downloads into a temporary file unique to the process and deletes it on failure, so it never
   resumes across runs. Each file is checked (size; sha256 where the etag is one, as for every LFS
   file) and only then renamed to ``blobs/<etag>``; ``hf_hub_download`` then links it into
   ``snapshots/<commit>/`` the way it links any cached blob.
4. **Commit**: ``refs/main`` and the engine's record (``installed.RECORD_NAME``) are written last.
   ``installed.repo_state`` calls a snapshot complete only against that record, so a download cut
   off anywhere never loads as if it were complete.

A cancel is a killed process (the add-on) or SIGTERM/Ctrl-C (a terminal, a farm): the partial files
stay in ``blobs/`` and the next run resumes them.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..errors import EngineError
from .catalog import KNOWN_MODELS
from .installed import PARTIAL_SUFFIX, RECORD_NAME, RECORD_SCHEMA, is_repo_id, storage_folder, unused_components
from .repo_files import PIPELINE_INDEX, RepoLayoutError, needed_files

#: Room kept free beyond the download itself, so the disk is not filled to the last byte.
FREE_SPACE_MARGIN = 256 * 1024 * 1024
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class DownloadError(EngineError):
    """A download that cannot finish; ``reason`` says why (the add-on words its message from it)."""

    kind = "download"

    def __init__(self, message: str, reason: str, **details):
        super().__init__(message)
        self.reason = reason
        self.details = {"reason": reason, **details}


@dataclass
class RepoPlan:
    repo_id: str
    revision: str
    files: dict[str, int]
    """Path in the repository -> size in bytes, for every file the pipeline needs."""
    commit: bool = True
    """False for single files taken from a repository (a LoRA): no record claims the repository complete."""


@dataclass
class DownloadProgress:
    model: str
    repo: str
    file: str
    done: int
    """Bytes on disk of everything the model needs, resumed parts included."""
    total: int
    speed: float | None = None
    """Bytes per second over the last seconds of this run; ``None`` until measured."""
    eta: float | None = None
    files_done: int = 0
    files_total: int = 0


def download_targets(name: str) -> list[str]:
    """The repositories behind a known name, or the repo id itself. Raises for anything else."""
    known = KNOWN_MODELS.get(name)
    if known is not None:
        return list(known.repos)
    if is_repo_id(name):
        return [name]
    raise DownloadError(
        f"unknown model {name!r}: give a known name ({', '.join(KNOWN_MODELS)}) or a Hugging Face repo id (org/name)",
        "unknown_model", model=name,
    )


def download_model(name: str, hub_cache: Path, report: Callable[[DownloadProgress], None]) -> list[Path]:
    """Download everything ``name`` needs into ``hub_cache``; the snapshot folders, one per repository."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        raise DownloadError("HF_HUB_OFFLINE is set, so nothing can be downloaded; unset it (or set it to 0) and run again",
                            "offline", model=name)
    hub_cache = Path(hub_cache).expanduser()
    plans = [_plan(repo, hub_cache) for repo in download_targets(name)]
    # A known model's step-distillation LoRA (quality draft) comes with it.
    plans += [_file_plan(repo, file) for repo, file in _lora_files(name)]
    _check_writable(hub_cache, plans)
    _check_free_space(hub_cache, plans)
    meter = _Meter(name, plans, hub_cache, report)
    snapshots = []
    for plan in plans:
        storage = storage_folder(hub_cache, plan.repo_id)
        for path, size in sorted(plan.files.items(), key=lambda item: item[1]):  # configs first, the big weights last
            _fetch(plan, path, size, hub_cache, meter)
        if not plan.commit:
            snapshots.append(storage / "snapshots" / plan.revision)
            continue
        _commit(storage, plan)
        snapshots.append(storage / "snapshots" / plan.revision)
    meter.finish()
    return snapshots


# ----------------------------------------------------------------------------------------- plan


def _plan(repo_id: str, hub_cache: Path) -> RepoPlan:
    from huggingface_hub import HfApi, hf_hub_download

    with _hub_errors(repo_id):
        info = HfApi().model_info(repo_id, files_metadata=True)
        sizes = {s.rfilename: (s.size if s.size is not None else (s.lfs.size if s.lfs else 0)) for s in info.siblings or ()}
        model_index = None
        if PIPELINE_INDEX in sizes:
            index_path = hf_hub_download(repo_id, PIPELINE_INDEX, revision=info.sha, cache_dir=str(hub_cache))
            model_index = _read_index(index_path, repo_id)
    if not sizes:
        raise DownloadError(f"{repo_id} has no files on the Hub", "layout", repo=repo_id)
    try:
        files = needed_files(sizes, model_index, unused_components(model_index))
    except RepoLayoutError as error:
        raise DownloadError(f"{repo_id} cannot be used: {error}", "layout", repo=repo_id) from None
    return RepoPlan(repo_id, info.sha, {path: sizes[path] for path in files})


def _lora_files(name: str) -> list[tuple[str, str]]:
    """``(repo, file)`` of the LoRAs a known model's download includes (its draft LoRA)."""
    known = KNOWN_MODELS.get(name)
    return [known.draft_lora] if known is not None and known.draft_lora else []


def _file_plan(repo_id: str, filename: str | None) -> RepoPlan:
    """One file of a repository (``None``: its only ``.safetensors``), without a record of the repository."""
    from huggingface_hub import HfApi

    with _hub_errors(repo_id, filename):
        info = HfApi().model_info(repo_id, files_metadata=True)
    sizes = {s.rfilename: (s.size if s.size is not None else (s.lfs.size if s.lfs else 0)) for s in info.siblings or ()}
    if filename is None:
        candidates = [path for path in sizes if path.endswith(".safetensors")]
        if len(candidates) != 1:
            raise DownloadError(f"{repo_id} holds {len(candidates)} .safetensors files; name one as {repo_id}/FILE.safetensors",
                                "layout", repo=repo_id)
        filename = candidates[0]
    if filename not in sizes:
        raise DownloadError(f"{repo_id} has no file {filename}", "layout", repo=repo_id, file=filename)
    return RepoPlan(repo_id, info.sha, {filename: sizes[filename]}, commit=False)


def download_file(repo_id: str, filename: str | None, hub_cache: Path, report=lambda progress: None) -> Path:
    """Download one file of a repository (a LoRA) into the hub cache, resumable and checked like a
    model's files; its path in the snapshot."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        raise DownloadError("HF_HUB_OFFLINE is set, so nothing can be downloaded; unset it (or set it to 0) and run again",
                            "offline", model=repo_id)
    hub_cache = Path(hub_cache).expanduser()
    plan = _file_plan(repo_id, filename)
    _check_writable(hub_cache, [plan])
    _check_free_space(hub_cache, [plan])
    meter = _Meter(repo_id, [plan], hub_cache, report)
    (path, size), = plan.files.items()
    _fetch(plan, path, size, hub_cache, meter)
    meter.finish()
    return storage_folder(hub_cache, repo_id) / "snapshots" / plan.revision / path


def _read_index(path: str, repo_id: str) -> dict:
    try:
        index = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise DownloadError(f"{repo_id}: its model_index.json is not readable JSON ({error})", "layout", repo=repo_id) from None
    if not isinstance(index, dict):
        raise DownloadError(f"{repo_id}: its model_index.json is not a JSON object", "layout", repo=repo_id)
    return index


# ---------------------------------------------------------------------------------------- check


def _existing_parent(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _check_writable(hub_cache: Path, plans: list[RepoPlan]) -> None:
    for plan in plans:
        blobs = storage_folder(hub_cache, plan.repo_id) / "blobs"
        try:
            blobs.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=blobs, prefix=".write-test-"):
                pass
        except OSError as error:
            if error.errno == errno.ENOSPC:
                raise DownloadError(f"the disk of {hub_cache} is full: free some space, or use another models folder (--models-dir)",
                                    "disk_space", folder=str(hub_cache), needed=0, free=0) from None
            raise DownloadError(
                f"the models folder {hub_cache} is read-only ({error.strerror}): use a writable folder (--models-dir) or fix its permissions",
                "read_only", folder=str(hub_cache),
            ) from None


def _left_to_fetch(hub_cache: Path, plan: RepoPlan) -> int:
    storage = storage_folder(hub_cache, plan.repo_id)
    snapshot = storage / "snapshots" / plan.revision
    left = sum(size for path, size in plan.files.items() if not (snapshot / path).is_file())
    blobs = storage / "blobs"
    partial = sum(p.stat().st_size for p in blobs.iterdir() if p.name.endswith(PARTIAL_SUFFIX)) if blobs.is_dir() else 0
    return max(left - partial, 0)


def _check_free_space(hub_cache: Path, plans: list[RepoPlan]) -> None:
    needed = sum(_left_to_fetch(hub_cache, plan) for plan in plans)
    free = shutil.disk_usage(_existing_parent(hub_cache)).free
    if needed + FREE_SPACE_MARGIN > free:
        raise DownloadError(
            f"not enough disk space in {hub_cache}: the download needs {_gb(needed)} more and {_gb(free)} is free; "
            "free some space, or use a models folder on another disk (--models-dir)",
            "disk_space", folder=str(hub_cache), needed=needed, free=free,
        )


def _gb(size: int) -> str:
    return f"{size / 1e9:.1f} GB" if size >= 1e8 else f"{size / 1e6:.1f} MB"


# ---------------------------------------------------------------------------------------- fetch


class _Meter:
    """Counts bytes for every file of every repository and reports each step: a file started or ended, and
    every chunk written (huggingface_hub writes 10 MiB at a time, so reports follow the bandwidth)."""

    def __init__(self, model: str, plans: list[RepoPlan], hub_cache: Path, report):
        self.model = model
        self.report = report
        self.total = sum(sum(p.files.values()) for p in plans)
        self.files_total = sum(len(p.files) for p in plans)
        self.done = 0
        self.files_done = 0
        self.repo = plans[0].repo_id if plans else ""
        self.file = ""
        self._window: list[tuple[float, int]] = []  # (time, bytes fetched by this run)
        self._fetched = 0

    def start_file(self, repo: str, path: str, already: int) -> None:
        self.repo, self.file = repo, path
        self.done += already
        self.emit()

    def add(self, count: int) -> None:
        self.done += count
        self._fetched += count
        self.emit()

    def rewind(self, count: int) -> None:
        """A server ignored the Range request: the resumed bytes are fetched again."""
        self.done -= count

    def end_file(self, remaining: int) -> None:
        self.done += remaining  # a file linked from an existing blob adds its size at once
        self.files_done += 1

    def speed(self) -> float | None:
        now = time.monotonic()
        self._window.append((now, self._fetched))
        self._window = [(t, b) for t, b in self._window if now - t <= 5.0] or [(now, self._fetched)]
        elapsed = now - self._window[0][0]
        return (self._fetched - self._window[0][1]) / elapsed if elapsed >= 0.5 else None

    def emit(self) -> None:
        speed = self.speed()
        eta = (self.total - self.done) / speed if speed else None
        self.report(DownloadProgress(self.model, self.repo, self.file, self.done, self.total, speed,
                                     eta, self.files_done, self.files_total))

    def finish(self) -> None:
        self.file = ""
        self.done = self.total
        self.emit()


class _CountingFile:
    """What ``http_get`` writes into: the partial file, counted for progress and hashed on the way."""

    def __init__(self, handle, meter: _Meter, hasher, resumed: int):
        self.handle, self.meter, self.hasher, self.resumed = handle, meter, hasher, resumed

    def write(self, chunk: bytes) -> int:
        written = self.handle.write(chunk)
        if self.hasher is not None:
            self.hasher.update(chunk)
        self.meter.add(len(chunk))
        return written

    def tell(self) -> int:
        return self.handle.tell()

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self.handle.seek(offset, whence)

    def truncate(self, size: int | None = None) -> int:
        before = self.handle.tell() if size is None else size
        result = self.handle.truncate(size)
        if before == 0:  # started over from the first byte (the server ignored the Range request)
            self.meter.rewind(self.resumed)
            if self.hasher is not None:
                self.hasher = hashlib.sha256()
        return result


def _fetch(plan: RepoPlan, path: str, size: int, hub_cache: Path, meter: _Meter) -> None:
    from filelock import FileLock, Timeout
    from huggingface_hub import get_hf_file_metadata, hf_hub_download, hf_hub_url
    from huggingface_hub.file_download import http_get
    from huggingface_hub.utils import build_hf_headers

    storage = storage_folder(hub_cache, plan.repo_id)
    if (storage / "snapshots" / plan.revision / path).is_file():
        meter.start_file(plan.repo_id, path, size)
        meter.end_file(0)
        return
    with _hub_errors(plan.repo_id, path):
        metadata = get_hf_file_metadata(hf_hub_url(plan.repo_id, path, revision=plan.revision))
    etag = metadata.etag
    expected = metadata.size if metadata.size is not None else size
    blob = storage / "blobs" / etag
    partial = blob.with_name(etag + PARTIAL_SUFFIX)
    if not blob.is_file():
        lock = hub_cache / ".locks" / storage.name / f"{etag}.lock"
        lock.parent.mkdir(parents=True, exist_ok=True)
        try:
            with FileLock(str(lock), timeout=0):
                _resume_into(partial, blob, metadata, expected, plan, path, meter, http_get, build_hf_headers)
        except Timeout:
            raise DownloadError(f"another download of {plan.repo_id} is writing {path}; wait for it to finish, then run again",
                                "busy", repo=plan.repo_id, file=path) from None
    else:
        meter.start_file(plan.repo_id, path, 0)
        meter.end_file(expected)
    with _hub_errors(plan.repo_id, path), _disk_errors(hub_cache):
        # The blob is in place: huggingface_hub links it into the snapshot as it links any cached blob.
        hf_hub_download(plan.repo_id, path, revision=plan.revision, cache_dir=str(hub_cache))


def _resume_into(partial: Path, blob: Path, metadata, expected: int, plan: RepoPlan, path: str, meter: _Meter,
                 http_get, build_hf_headers) -> None:
    resumed = partial.stat().st_size if partial.is_file() else 0
    if resumed > expected:  # not a prefix of this file: start over
        partial.unlink()
        resumed = 0
    hasher = hashlib.sha256() if _SHA256.match(metadata.etag) else None
    if hasher is not None and resumed:
        with open(partial, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 22), b""):
                hasher.update(block)
    meter.start_file(plan.repo_id, path, resumed)
    with _hub_errors(plan.repo_id, path, partial=partial), _disk_errors(blob.parent.parent.parent):
        with open(partial, "ab") as handle:
            counting = _CountingFile(handle, meter, hasher, resumed)
            # Accept-Encoding identity: resumed byte ranges must be ranges of the file itself.
            headers = {**build_hf_headers(), "Accept-Encoding": "identity"}
            http_get(metadata.location, counting, resume_size=resumed, headers=headers, expected_size=expected)
            hasher = counting.hasher
    on_disk = partial.stat().st_size
    if on_disk != expected or (hasher is not None and hasher.hexdigest() != metadata.etag):
        partial.unlink(missing_ok=True)
        raise DownloadError(
            f"{path} of {plan.repo_id} arrived damaged ({on_disk} of {expected} bytes, or a wrong checksum); "
            "it was discarded: run the download again", "damaged", repo=plan.repo_id, file=path,
        )
    os.replace(partial, blob)
    meter.end_file(0)


def _commit(storage: Path, plan: RepoPlan) -> None:
    """The last writes: ``refs/main`` and the record that makes the snapshot count as complete."""
    snapshot = storage / "snapshots" / plan.revision
    missing = [path for path in plan.files if not (snapshot / path).is_file()]
    if missing:
        raise DownloadError(f"{plan.repo_id}: {missing[0]} did not arrive; run the download again", "missing_file",
                            repo=plan.repo_id, file=missing[0])
    record = {"schema": RECORD_SCHEMA, "repo_id": plan.repo_id, "revision": plan.revision, "files": plan.files,
              "finished_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    with _disk_errors(storage):
        _write_atomically(storage / "refs" / "main", plan.revision)
        _write_atomically(storage / RECORD_NAME, json.dumps(record, indent=1, sort_keys=True) + "\n")


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


# ---------------------------------------------------------------------------------------- errors


class _hub_errors:
    """Turns huggingface_hub's and the network's exceptions into one ``DownloadError`` line each."""

    def __init__(self, repo_id: str, path: str | None = None, partial: Path | None = None):
        self.repo_id, self.path, self.partial = repo_id, path, partial

    def __enter__(self):
        return self

    def __exit__(self, kind, error, traceback):
        if error is None or not isinstance(error, Exception) or isinstance(error, DownloadError):
            return False  # KeyboardInterrupt (a cancel) goes on up: the partial files stay for the next run
        raise self.translate(error) from None

    def translate(self, error: BaseException) -> EngineError:
        import httpx2
        from huggingface_hub.errors import (
            EntryNotFoundError, GatedRepoError, HfHubHTTPError, OfflineModeIsEnabled, RepositoryNotFoundError,
            RevisionNotFoundError,
        )
        from huggingface_hub import constants

        repo, where = self.repo_id, f"{constants.ENDPOINT}/{self.repo_id}"
        if isinstance(error, GatedRepoError):
            return DownloadError(
                f"{repo} is gated: accept its licence at {where} while logged in, then set HF_TOKEN to a read token "
                "of that account (or run `hf auth login`) and run again", "gated", repo=repo, url=where)
        if isinstance(error, RepositoryNotFoundError):
            return DownloadError(
                f"{repo} was not found on {constants.ENDPOINT}: check the repo id (org/name); if it is private, set HF_TOKEN "
                "to a token that can read it", "not_found", repo=repo)
        if isinstance(error, RevisionNotFoundError):
            return DownloadError(f"{repo} has no main revision on {constants.ENDPOINT}", "not_found", repo=repo)
        if isinstance(error, EntryNotFoundError):
            return DownloadError(
                f"{self.path} of {repo} is listed but the Hub does not serve it; try again later, and if it "
                "persists tell the repository's owner", "missing_file", repo=repo, file=self.path)
        if isinstance(error, OfflineModeIsEnabled):
            return DownloadError("HF_HUB_OFFLINE is set, so nothing can be downloaded; unset it and run again", "offline", repo=repo)
        if isinstance(error, (httpx2.TransportError, ConnectionError, TimeoutError)) or (
            isinstance(error, OSError) and not isinstance(error, HfHubHTTPError) and "Consistency check failed" in str(error)
        ):
            size = self.partial.stat().st_size if self.partial is not None and self.partial.is_file() else 0
            kept = f" ({_gb(size)} of {self.path} kept)" if size else ""
            return DownloadError(
                f"the connection to {constants.ENDPOINT} was lost while downloading {repo}{kept}; check the network and "
                "run the same download again: it resumes where it stopped", "network", repo=repo, file=self.path)
        if isinstance(error, HfHubHTTPError):
            status = error.response.status_code if error.response is not None else "?"
            return DownloadError(f"{constants.ENDPOINT} answered {status} for {repo}; try again later", "http",
                                 repo=repo, status=status)
        if isinstance(error, OSError):
            return _disk_error(error, None)
        return DownloadError(f"downloading {repo} failed ({type(error).__name__}: {error})", "internal", repo=repo)


class _disk_errors:
    """A write that fails mid-way: a full disk or a folder that turned read-only, in one line."""

    def __init__(self, folder: Path):
        self.folder = folder

    def __enter__(self):
        return self

    def __exit__(self, kind, error, traceback):
        if isinstance(error, OSError) and not isinstance(error, DownloadError) and error.errno in _DISK_ERRNOS:
            raise _disk_error(error, self.folder) from None
        return False


_DISK_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM}


def _disk_error(error: OSError, folder: Path | None) -> DownloadError:
    where = str(folder) if folder else (error.filename or "the models folder")
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return DownloadError(f"the disk of {where} is full: free some space and run the download again (it resumes)",
                             "disk_space", folder=where, needed=0, free=0)
    if error.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return DownloadError(f"the models folder {where} is read-only ({error.strerror}): use a writable folder (--models-dir)",
                             "read_only", folder=where)
    return DownloadError(f"writing into {where} failed ({error.strerror or error})", "disk", folder=where)
