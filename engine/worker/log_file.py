"""The engine's log: what a worker writes to stderr, kept in a file across sessions and capped in size.

Pure Python. The client appends each stderr line as it reads it; when the file passes
``max_bytes`` it becomes ``<name>.1`` (the previous ``.1`` is dropped) and a new file starts, so the
log never grows without bound and the last session's lines are always there to read.
"""

from __future__ import annotations

import datetime
import os
import threading
from pathlib import Path

DEFAULT_MAX_BYTES = 4 * 1024 * 1024


class RotatingLog:
    def __init__(self, path: str | os.PathLike, max_bytes: int = DEFAULT_MAX_BYTES):
        self.path = Path(path)
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)

    @property
    def backup(self) -> Path:
        return self.path.with_name(self.path.name + ".1")

    def write_line(self, line: str) -> None:
        with self._lock:
            try:
                if self.path.exists() and self.path.stat().st_size >= self.max_bytes:
                    os.replace(self.path, self.backup)
                with open(self.path, "a", encoding="utf-8", errors="replace") as log:
                    log.write(line.rstrip("\n") + "\n")
            except OSError:
                pass  # a full or read-only disk must not stop the engine; the stderr tail still holds the lines

    def start_session(self, what: str) -> None:
        stamp = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
        self.write_line(f"===== {stamp} {what}")
