"""A package index on 127.0.0.1 for Set Up Engine's tests: wheels the test builds, served over HTTP as
a page of links (what pip reads with ``--find-links``), with the cache headers PyPI sends.

- ``torch``: a stand-in with the version engine/requirements.txt pins whose only content is a ``.pth``
  file adding the development environment's site-packages, so the new environment imports the real
  torch and diffusers already on this machine instead of downloading 3 GB;
- ``pip``: the pip of the running Python, re-packed as a wheel (a new pip prints byte progress);
- small packages named by the test, and a large one whose first download stops half-way until the
  test releases it, so a cancel lands mid-download every time.
"""

from __future__ import annotations

import base64
import collections
import hashlib
import http.server
import importlib.metadata
import io
import os
import threading
import time
import zipfile
from pathlib import Path


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def build_wheel(folder: Path, name: str, version: str, files: dict[str, bytes], metadata_extra: str = "") -> Path:
    """A pure-Python wheel holding ``files`` (stored uncompressed, so its size is what it holds)."""
    dist_info = f"{name}-{version}.dist-info"
    entries = dict(files)
    entries[f"{dist_info}/METADATA"] = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n{metadata_extra}".encode()
    entries[f"{dist_info}/WHEEL"] = b"Wheel-Version: 1.0\nGenerator: neural-previs-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    record = [_record_line(path, data) for path, data in entries.items()] + [f"{dist_info}/RECORD,,"]
    entries[f"{dist_info}/RECORD"] = ("\n".join(record) + "\n").encode()
    path = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as wheel:
        for name_in_zip, data in entries.items():
            wheel.writestr(name_in_zip, data)
    return path


def torch_stand_in(folder: Path, version: str, site_packages: str) -> Path:
    return build_wheel(folder, "torch", version, {"neural_previs_test_devsite.pth": (site_packages + "\n").encode()})


def repacked_pip(folder: Path) -> Path:
    """The running Python's pip as a wheel: its files as installed, with a fresh RECORD."""
    dist = importlib.metadata.distribution("pip")
    root = Path(dist.locate_file(""))
    files = {}
    for file in dist.files:
        parts = Path(file).parts
        if parts[0] == ".." or "__pycache__" in parts or parts[-1] in ("RECORD", "INSTALLER", "REQUESTED", "direct_url.json"):
            continue
        files[Path(file).as_posix()] = (root / file).read_bytes()
    dist_info = f"pip-{dist.version}.dist-info"
    record = [_record_line(path, data) for path, data in files.items()] + [f"{dist_info}/RECORD,,"]
    files[f"{dist_info}/RECORD"] = ("\n".join(record) + "\n").encode()
    path = folder / f"pip-{dist.version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as wheel:
        for name_in_zip, data in files.items():
            wheel.writestr(name_in_zip, data)
    return path


class PackageIndex:
    """Serves ``folder``'s wheels; ``held`` names one whose first download pauses half-way."""

    def __init__(self, folder: Path, held: str | None = None):
        self.folder = folder
        self.held = held
        self.requests: collections.Counter = collections.Counter()
        self.half_sent = threading.Event()
        self.release = threading.Event()
        index = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                name = self.path.strip("/").split("?")[0]
                index.requests[name or "/"] += 1
                if not name:
                    links = "".join(f'<a href="/{p.name}">{p.name}</a><br>\n' for p in sorted(index.folder.glob("*.whl")))
                    self._send(f"<html><body>\n{links}</body></html>\n".encode(), "text/html", cache=False)
                    return
                path = index.folder / name
                if not path.is_file():
                    self.send_error(404)
                    return
                data = path.read_bytes()
                if name == index.held and index.requests[name] == 1:
                    self._send_held(data)
                else:
                    self._send(data, "application/octet-stream", cache=True)

            def _headers(self, length: int, kind: str, cache: bool):
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(length))
                # What PyPI's files carry: pip's HTTP cache keeps them, so a second run does not fetch them again.
                self.send_header("Cache-Control", "max-age=365000000, immutable, public" if cache else "max-age=0")
                self.end_headers()

            def _send(self, data: bytes, kind: str, cache: bool):
                self._headers(len(data), kind, cache)
                self.wfile.write(data)

            def _send_held(self, data: bytes):
                self._headers(len(data), "application/octet-stream", cache=True)
                half = len(data) // 2
                try:
                    for start in range(0, half, half // 8):  # the first half over a second: pip reports progress
                        self.wfile.write(data[start:min(start + half // 8, half)])
                        self.wfile.flush()
                        time.sleep(0.12)
                    index.half_sent.set()
                    index.release.wait(timeout=300)
                    self.wfile.write(data[half:])
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client was stopped mid-download: what the test is after

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/"

    def __enter__(self) -> "PackageIndex":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()


def pip_environment(index: PackageIndex, cache: Path) -> dict:
    """pip's own variables, for a pip that sees only this index: no configuration files of the
    machine, no other index (``--no-index`` also drops the torch index the plan names), its own
    cache. pip caches downloads from https origins (PyPI, PyTorch's index) and trusted hosts only;
    this index is plain http on 127.0.0.1, hence the trust."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PIP_")}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_NO_INDEX="1", PIP_FIND_LINKS=index.url, PIP_CACHE_DIR=str(cache),
               PIP_TRUSTED_HOST="127.0.0.1")
    return env
