"""A Hugging Face Hub on 127.0.0.1 for tests: the endpoints huggingface_hub 2.4 calls to download.

- ``GET /api/models/{org}/{name}[/revision/{rev}]`` (``HfApi.model_info``, with ``?blobs=True``): id, sha,
  siblings with sizes, ``gated``;
- ``HEAD``/``GET /{org}/{name}/resolve/{rev}/{path}``: ``ETag`` (sha256 for LFS-style weights, the git
  blob sha1 otherwise), ``X-Repo-Commit``, ``Content-Length``, ``Accept-Ranges``; ``Range: bytes=N-``
  answered with 206 and ``Content-Range``;
- errors as the Hub sends them: 404 ``X-Error-Code: RepoNotFound`` / ``EntryNotFound``, 401/403
  ``X-Error-Code: GatedRepo``.

Server-side behaviours a test switches on per file (the code under test has no hook for them):
``stall`` (send a prefix, then wait until released), ``drop`` (send a prefix, then close the
connection; later requests close at once), ``missing`` (listed, but not served), ``listed_size``
(the listing claims another size). Every request is logged with its ``Range`` and the bytes sent.
"""

from __future__ import annotations

import hashlib
import json
import re
import struct
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlparse

TOKEN = "hf_test_token_with_access"


def pad_safetensors(path: Path, size: int) -> None:
    """Grow a safetensors file to about ``size`` bytes through its header metadata (the tensors stay as
    they are): huggingface_hub writes 10 MiB chunks, so only a larger file leaves a partial file mid-way."""
    data = path.read_bytes()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + length])
    header.setdefault("__metadata__", {})["padding"] = "p" * max(size - len(data), 0)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + data[8 + length:])


@dataclass
class Repo:
    files: dict[str, bytes]
    sha: str = "a" * 40
    gated: bool = False
    stall: dict[str, tuple[int, threading.Event]] = field(default_factory=dict)
    """path -> (bytes sent before waiting, the event that releases the rest)"""
    drop: dict[str, int] = field(default_factory=dict)
    """path -> bytes sent before the connection is closed (only the first request; later ones close at once)"""
    missing: set[str] = field(default_factory=set)
    listed_size: dict[str, int] = field(default_factory=dict)

    @staticmethod
    def from_folder(folder: Path, **options) -> "Repo":
        files = {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
        return Repo(files, **options)

    def etag(self, path: str) -> str:
        data = self.files[path]
        if path.endswith((".safetensors", ".bin", ".ckpt")):
            return hashlib.sha256(data).hexdigest()  # LFS: the etag is the content's sha256
        return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class Request:
    method: str
    path: str
    range: str | None
    sent: int = 0


class LocalHub:
    """``with LocalHub({"org/name": Repo(...)}) as hub:`` then ``HF_ENDPOINT=hub.url``."""

    def __init__(self, repos: dict[str, Repo]):
        self.repos = repos
        self.log: list[Request] = []
        self.stalled = threading.Event()
        """Set once a stalled file has sent its prefix (the client now holds a partial file)."""
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                hub._serve(self, body=True)

            def do_HEAD(self):
                hub._serve(self, body=False)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        for repo in self.repos.values():
            for _, event in repo.stall.values():
                event.set()
        self._server.shutdown()
        self._server.server_close()

    def requests_for(self, path: str, method: str = "GET") -> list[Request]:
        with self._lock:
            return [r for r in self.log if r.method == method and r.path.endswith("/" + path)]

    def fetched(self, method: str = "GET") -> list[str]:
        """The repository paths of every file request with that method, in order."""
        with self._lock:
            return [r.path.split("/resolve/", 1)[1].split("/", 1)[1] for r in self.log if r.method == method and "/resolve/" in r.path]

    # ------------------------------------------------------------------------------------------

    def _error(self, handler, status: int, code: str, message: str = ""):
        handler.send_response(status)
        handler.send_header("X-Error-Code", code)
        if message:
            handler.send_header("X-Error-Message", message)
        body = json.dumps({"error": message or code}).encode()
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    def _serve(self, handler, body: bool):
        url = urlparse(handler.path)
        path = unquote(url.path)
        request = Request(handler.command, path, handler.headers.get("Range"))
        with self._lock:
            self.log.append(request)
        info = re.fullmatch(r"/api/models/([^/]+/[^/]+?)(?:/revision/([^/]+))?", path)
        if info:
            return self._model_info(handler, info.group(1))
        resolve = re.fullmatch(r"/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path)
        if not resolve:
            return self._error(handler, 404, "RepoNotFound", "Repository not found")
        return self._file(handler, request, resolve.group(1), resolve.group(2), resolve.group(3), body)

    def _model_info(self, handler, repo_id: str):
        repo = self.repos.get(repo_id)
        if repo is None:
            return self._error(handler, 401, "RepoNotFound", "Repository not found")
        siblings = []
        for name, data in sorted(repo.files.items()):
            size = repo.listed_size.get(name, len(data))
            entry = {"rfilename": name, "size": size, "blobId": hashlib.sha1(data).hexdigest()}
            if name.endswith((".safetensors", ".bin", ".ckpt")):
                entry["lfs"] = {"size": size, "sha256": repo.etag(name), "pointerSize": 134}
            siblings.append(entry)
        payload = {"id": repo_id, "modelId": repo_id, "sha": repo.sha, "private": False,
                   "gated": "manual" if repo.gated else False, "siblings": siblings, "tags": ["diffusers"]}
        data = json.dumps(payload).encode()
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _file(self, handler, request: Request, repo_id: str, revision: str, name: str, body: bool):
        repo = self.repos.get(repo_id)
        if repo is None:
            return self._error(handler, 404, "RepoNotFound", "Repository not found")
        if repo.gated:
            auth = handler.headers.get("Authorization", "")
            if not auth:
                return self._error(handler, 401, "GatedRepo", "Access to model is restricted. You must be authenticated.")
            if auth != f"Bearer {TOKEN}":
                return self._error(handler, 403, "GatedRepo", "Access to model is restricted and you are not in the authorized list.")
        if revision not in (repo.sha, "main"):
            return self._error(handler, 404, "RevisionNotFound", "Invalid rev id")
        if name not in repo.files or name in repo.missing:
            return self._error(handler, 404, "EntryNotFound", "Entry not found")
        data = repo.files[name]
        start = 0
        match = re.fullmatch(r"bytes=(\d+)-", request.range or "")
        if match:
            start = int(match.group(1))
        part = data[start:]
        handler.send_response(206 if match else 200)
        handler.send_header("ETag", f'"{repo.etag(name)}"')
        handler.send_header("X-Repo-Commit", repo.sha)
        handler.send_header("Accept-Ranges", "bytes")
        handler.send_header("Content-Length", str(len(part)))
        if match:
            handler.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        handler.end_headers()
        if not body:
            return
        try:
            if name in repo.drop:
                first = repo.drop.pop(name, None)
                repo.drop[name] = 0  # every later request is cut at once
                count = min(first or 0, len(part))
                handler.wfile.write(part[:count])
                request.sent += count
                handler.wfile.flush()
                handler.close_connection = True
                handler.connection.shutdown(2)
                return
            if name in repo.stall:
                prefix, release = repo.stall.pop(name)
                handler.wfile.write(part[:prefix])
                request.sent += prefix
                handler.wfile.flush()
                self.stalled.set()
                release.wait(60)
                part = part[prefix:]
            handler.wfile.write(part)
            request.sent += len(part)
        except (BrokenPipeError, ConnectionResetError):
            pass
