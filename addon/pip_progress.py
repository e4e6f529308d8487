"""What pip is doing, read from its output line by line: the package being fetched, MB done of MB
total, installing, finished, or the error.

Pure Python. pip 24.1 and later print ``Progress <done> of <total>`` lines with ``--progress-bar
raw``; older pips (the one a fresh venv gets from Blender's Python) print only ``Downloading <file>
(<size>)`` and, when a file is complete, a drawn bar ending in ``<done>/<total> MB``. Both are read.
Tests feed this real pip output captured on this project's machines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

RAW_PROGRESS_PIP = (24, 1)  # the first pip with --progress-bar raw

_UNITS = {"B": 1, "bytes": 1, "kB": 1e3, "KB": 1e3, "MB": 1e6, "GB": 1e9}
_SIZE = r"([\d.]+)\s*(bytes|B|kB|KB|MB|GB)"


def _bytes(value: str, unit: str) -> int:
    return int(float(value) * _UNITS[unit])


def package_of(filename: str) -> str:
    """``torch-2.13.0-cp311-...whl`` -> ``torch 2.13.0``; ``pkg-1.0.tar.gz`` -> ``pkg 1.0``."""
    name = filename.rsplit("/", 1)[-1]
    stem = re.sub(r"\.(whl|tar\.gz|zip)$", "", name)
    parts = stem.split("-")
    return f"{parts[0]} {parts[1]}" if len(parts) > 1 else stem


def pip_version(output: str) -> tuple[int, int] | None:
    """The pip version after ``pip install --upgrade pip``, from its own report."""
    match = re.search(r"Successfully installed (?:.* )?pip-(\d+)\.(\d+)", output) or re.search(
        r"Requirement already satisfied: pip in .*\((\d+)\.(\d+)", output)
    return (int(match.group(1)), int(match.group(2))) if match else None


@dataclass
class PipProgress:
    phase: str = "starting"
    """``starting``, ``collecting``, ``downloading``, ``installing``, ``done``."""
    package: str = ""
    """What is being fetched, e.g. ``torch 2.13.0``."""
    done_bytes: int = 0
    total_bytes: int = 0
    """Of the file being fetched (0 when pip did not say)."""
    fetched_bytes: int = 0
    """Of all files completely fetched so far by this pip run."""
    cached: int = 0
    """Files taken from pip's cache instead of downloaded (a resumed run)."""
    installing: list[str] = field(default_factory=list)
    installed: list[str] = field(default_factory=list)
    error: str = ""
    """pip's first ``ERROR:`` line, if any."""

    def feed(self, line: str) -> None:
        text = line.rstrip("\r\n")
        stripped = text.strip()
        if stripped.startswith("Collecting "):
            self._finish_file()
            self.phase, self.package = "collecting", re.split(r"[\s(<>=!~;\[]", stripped[len("Collecting "):], maxsplit=1)[0]
        elif match := re.match(rf"(Downloading|Using cached) (\S+) \({_SIZE}\)", stripped):
            self._finish_file()
            self.package = package_of(match.group(2))
            if match.group(1) == "Using cached":
                self.cached += 1
                self.done_bytes = self.total_bytes = 0
            else:
                self.phase, self.done_bytes, self.total_bytes = "downloading", 0, _bytes(match.group(3), match.group(4))
        elif match := re.fullmatch(r"Progress (\d+) of (\d+)", stripped):
            self.done_bytes, total = int(match.group(1)), int(match.group(2))
            self.total_bytes = total or self.total_bytes
        elif match := re.search(rf"━\s+([\d.]+)/{_SIZE}", stripped):  # an old pip's completed bar
            self.done_bytes = self.total_bytes
        elif stripped.startswith("Installing collected packages:"):
            self._finish_file()
            self.phase = "installing"
            self.installing = [name.strip() for name in stripped.split(":", 1)[1].split(",") if name.strip()]
        elif stripped.startswith("Successfully installed "):
            self.phase, self.installed = "done", stripped[len("Successfully installed "):].split()
        elif stripped.startswith("ERROR:") and not self.error:
            self.error = stripped[len("ERROR:"):].strip()

    def _finish_file(self) -> None:
        if self.phase == "downloading" and self.total_bytes:
            self.fetched_bytes += self.total_bytes
        self.done_bytes = self.total_bytes = 0

    @property
    def file_fraction(self) -> float:
        return min(1.0, self.done_bytes / self.total_bytes) if self.total_bytes else 0.0

    def describe(self) -> str:
        """One line for a progress bar: ``Downloading torch 2.13.0: 120 of 527 MB``."""
        if self.phase == "downloading":
            if self.total_bytes:
                return f"Downloading {self.package}: {self.done_bytes / 1e6:.0f} of {self.total_bytes / 1e6:.0f} MB"
            return f"Downloading {self.package}"
        if self.phase == "collecting":
            return f"Looking up {self.package}"
        if self.phase == "installing":
            return f"Installing {len(self.installing)} packages"
        if self.phase == "done":
            return f"Installed {len(self.installed)} packages"
        return "Starting pip"
