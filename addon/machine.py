"""What this machine is, for Set Up Engine: the OS, the CPU architecture Blender runs as, and the
NVIDIA GPU (from ``nvidia-smi``) if there is one.

No bpy. The parsers are pure functions of nvidia-smi's text (tests feed them real captures); the
probe runs nvidia-smi once per Blender session (the hardware does not change under a running
Blender), on a background thread when the preferences ask first, so drawing never waits for it.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass

from ..engine.worker.lifetime import background_process_options

_QUERY_FIELDS = "name,memory.total,driver_version,compute_cap"


@dataclass(frozen=True)
class NvidiaGpu:
    name: str
    """Full name, e.g. ``NVIDIA GeForce RTX 4090``."""
    memory_mib: int
    driver: str
    """Driver version, e.g. ``570.86.10`` (Linux) or ``591.86`` (Windows)."""
    cuda: tuple[int, int] | None
    """The newest CUDA version the driver supports (nvidia-smi's "CUDA Version"), if it says."""
    compute_capability: tuple[int, int] | None
    """e.g. (8, 9) for Ada; None from drivers too old to report it."""


@dataclass(frozen=True)
class Machine:
    os: str
    """``windows``, ``linux``, ``macos`` (or another ``sys.platform`` value, which is not supported)."""
    arch: str
    """``x86_64`` or ``arm64`` (what Blender's Python runs as)."""
    gpu: NvidiaGpu | None = None
    nvidia_problem: str = ""
    """Why nvidia-smi exists but gave no GPU (a driver that does not answer), for the plan's warning."""
    translated: bool = False
    """macOS: an Intel build of Blender running on Apple silicon through Rosetta."""
    macos_version: tuple[int, int] | None = None


def parse_version(text: str) -> tuple[int, int] | None:
    match = re.match(r"\s*(\d+)\.(\d+)", text or "")
    return (int(match.group(1)), int(match.group(2))) if match else None


def parse_nvidia_smi_summary(text: str) -> tuple[str, tuple[int, int] | None]:
    """Driver version and supported CUDA version from plain ``nvidia-smi``'s header.

    Drivers up to the R595 branch say ``Driver Version: 595.71.05   CUDA Version: 13.2``; from R610
    on, ``KMD Version: 610.57.04   CUDA UMD Version: 13.3``. A broken install says ``CUDA Version: N/A``."""
    driver = re.search(r"(?:Driver|KMD) Version:\s*([\d.]+)", text)
    cuda = re.search(r"CUDA (?:UMD )?Version:\s*([\d.]+)", text)
    return (driver.group(1) if driver else ""), (parse_version(cuda.group(1)) if cuda else None)


def parse_nvidia_smi_query(text: str) -> list[tuple[str, int, str, tuple[int, int] | None]]:
    """Rows of ``nvidia-smi --query-gpu=name,memory.total,driver_version[,compute_cap]
    --format=csv,noheader,nounits``: (name, memory MiB, driver, compute capability)."""
    rows = []
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.split(",")]
        if len(cells) < 3 or not cells[0]:
            continue
        memory = int(cells[1]) if cells[1].isdigit() else 0
        capability = parse_version(cells[3]) if len(cells) > 3 else None
        rows.append((cells[0], memory, cells[2], capability))
    return rows


def gpu_from_nvidia_smi(summary: str, query: str) -> NvidiaGpu | None:
    """The first GPU (the engine's ``cuda:0``), or None when nvidia-smi listed none."""
    rows = parse_nvidia_smi_query(query)
    if not rows:
        return None
    driver, cuda = parse_nvidia_smi_summary(summary)
    name, memory, queried_driver, capability = rows[0]
    return NvidiaGpu(name=name, memory_mib=memory, driver=queried_driver or driver, cuda=cuda, compute_capability=capability)


def _nvidia_smi() -> str | None:
    found = shutil.which("nvidia-smi")
    if found or sys.platform != "win32":
        return found
    # Older Windows drivers installed it outside PATH.
    legacy = os.path.join(os.environ.get("ProgramFiles", r"C:\Program Files"), "NVIDIA Corporation", "NVSMI", "nvidia-smi.exe")
    return legacy if os.path.isfile(legacy) else None


def _run(command: list[str]) -> subprocess.CompletedProcess | None:
    try:
        return subprocess.run(command, capture_output=True, text=True, encoding="utf-8", errors="replace", timeout=20,
                              **background_process_options())
    except (OSError, subprocess.TimeoutExpired):
        return None


def probe_nvidia() -> tuple[NvidiaGpu | None, str]:
    """(GPU, problem): asks nvidia-smi; problem is set when nvidia-smi exists but does not answer."""
    tool = _nvidia_smi()
    if tool is None:
        return None, ""
    summary = _run([tool])
    query = _run([tool, f"--query-gpu={_QUERY_FIELDS}", "--format=csv,noheader,nounits"])
    if query is not None and query.returncode != 0:  # drivers before compute_cap existed (R510)
        query = _run([tool, f"--query-gpu={_QUERY_FIELDS.rsplit(',', 1)[0]}", "--format=csv,noheader,nounits"])
    if summary is None or query is None or query.returncode != 0:
        said = next((line.strip() for line in ((summary.stdout if summary else "") + "\n" + (query.stderr if query else "")).splitlines() if line.strip()), "")
        return None, said or "nvidia-smi did not answer"
    return gpu_from_nvidia_smi(summary.stdout, query.stdout), ""


def _os_name() -> str:
    if sys.platform == "win32":
        return "windows"
    if sys.platform == "darwin":
        return "macos"
    return "linux" if sys.platform.startswith("linux") else sys.platform


def _arch() -> str:
    machine = platform.machine().lower()
    return {"amd64": "x86_64", "x64": "x86_64", "aarch64": "arm64"}.get(machine, machine)


def _rosetta() -> bool:
    result = _run(["sysctl", "-n", "sysctl.proc_translated"])
    return result is not None and result.stdout.strip() == "1"


_probe_lock = threading.Lock()
_probed: Machine | None = None  # facts about this session's hardware, found once


def _probe() -> Machine:
    os_name = _os_name()
    if os_name == "macos":
        return Machine(os=os_name, arch=_arch(), translated=_rosetta(), macos_version=parse_version(platform.mac_ver()[0]))
    gpu, problem = probe_nvidia()
    return Machine(os=os_name, arch=_arch(), gpu=gpu, nvidia_problem=problem)


def this_machine() -> Machine:
    """This machine (probed on the first call, which can take a second while nvidia-smi answers)."""
    global _probed
    with _probe_lock:
        if _probed is None:
            _probed = _probe()
        return _probed


def probed_machine() -> Machine | None:
    """This machine if it has been probed already, else None after starting the probe in the background."""
    if _probed is None and not _probe_lock.locked():
        threading.Thread(target=this_machine, name="neural-previs-machine-probe", daemon=True).start()
    return _probed
