"""Which torch Set Up Engine installs: one pure function of the machine (OS, CPU architecture, the
GPU found) and the torch version ``engine/requirements.txt`` pins, to a plan the preferences show
before anything runs (what, from where, about how many GB) and Set Up Engine then carries out.

No bpy, no I/O. The builds torch publishes, per torch minor version (``TORCH_BUILDS``), come from:

- PyTorch's release compatibility matrix (``RELEASE.md``; the 2.13 row added in pytorch/pytorch#187075):
  torch 2.13 is built for CUDA 12.6 and 13.0 (stable) and 13.2 (experimental; not offered here);
- the CUDA support matrix of the same file (RFCs pytorch/pytorch#172663, #178665, #190355; 2.13's
  equals 2.14's): CUDA 12.6 builds run Maxwell to Hopper (compute capability 5.0 to 9.0), CUDA 13.x
  builds Turing to Blackwell (7.5 to 12.0); 13.x dropped everything before Turing;
- PyPI: since 2.12 the Linux x86_64 wheel on PyPI is the CUDA 13.0 build (googlecolab/colabtools#5982;
  torch-2.13.0-cp311-cp311-manylinux_2_28_x86_64.whl is 526.6 MB, checked with pip here), Windows'
  is CPU-only (122.0 MB), macOS arm64's runs on MPS (111.2 MB, macOS 14+); the last Intel-Mac build
  is torch 2.2.2;
- NVIDIA's CUDA minor-version compatibility (docs.nvidia.com/deploy/cuda-compatibility): a CUDA 12.x
  build runs on any driver of the 12 family, 525.60.13 (Linux) / 528.33 (Windows) or newer; a 13.x
  build on the R580 branch or newer (580.65.06 on Linux). nvidia-smi's "CUDA Version" is the newest
  the driver supports, so a build fits when its major version is at most that one.

Download sizes are rough: the torch wheels above, 2.45 GB of CUDA 13 libraries (nvidia-cudnn,
cublas, ... as pip fetched them for the PyPI build), 0.15 GB for diffusers, transformers and the
engine's other requirements (pip, this machine); the CUDA 12.6 and Windows CUDA wheels could not be
measured here (download.pytorch.org is unreachable from it) and are estimated from earlier releases.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .machine import Machine

PYPI = None  # index_url of a plan that installs from PyPI
TORCH_INDEX = "https://download.pytorch.org/whl/{tag}"
OTHER_REQUIREMENTS_GB = 0.15


@dataclass(frozen=True)
class CudaBuild:
    cuda: tuple[int, int]
    capabilities: tuple[tuple[int, int], tuple[int, int]]
    """Lowest and highest compute capability the build has kernels for."""
    min_driver: dict
    """The oldest driver it runs on, per OS."""
    on_pypi_for_linux: bool = False
    download_gb: dict = field(default_factory=dict)

    @property
    def tag(self) -> str:
        return f"cu{self.cuda[0]}{self.cuda[1]}"

    @property
    def label(self) -> str:
        return f"CUDA {self.cuda[0]}.{self.cuda[1]}"


@dataclass(frozen=True)
class TorchBuilds:
    cuda: tuple[CudaBuild, ...]
    """Newest first."""
    cpu_download_gb: dict
    mps_download_gb: float
    mps_min_macos: tuple[int, int]
    """The oldest macOS its Apple-silicon wheel installs on (the wheel's platform tag)."""


_CUDA_12 = {"linux": "525.60.13", "windows": "528.33"}
_CUDA_13 = {"linux": "580.65.06", "windows": "580"}

TORCH_BUILDS = {
    "2.13": TorchBuilds(
        cuda=(
            CudaBuild((13, 0), ((7, 5), (12, 0)), _CUDA_13, on_pypi_for_linux=True, download_gb={"linux": 3.0, "windows": 3.0}),
            CudaBuild((12, 6), ((5, 0), (9, 0)), _CUDA_12, download_gb={"linux": 3.3, "windows": 2.9}),
        ),
        cpu_download_gb={"linux": 0.19, "windows": 0.12},
        mps_download_gb=0.11,
        mps_min_macos=(14, 0),  # torch-2.13.0-cp311-cp311-macosx_14_0_arm64.whl
    ),
}


@dataclass(frozen=True)
class SetupPlan:
    torch_requirement: str
    """e.g. ``torch==2.13.0``: what the torch step installs (the version of engine/requirements.txt)."""
    index_url: str | None
    """Where torch comes from: PyTorch's wheel index for that build, or None for PyPI."""
    build: str
    """``CUDA 13.0``, ``CPU`` or ``Apple GPU (MPS)``."""
    device: str
    """What the engine will run on: ``cuda``, ``mps`` or ``cpu``."""
    download_gb: float
    warnings: tuple[str, ...] = ()
    refusal: str = ""
    """Non-empty: nothing can be installed that would work; the message says what to do."""

    @property
    def ok(self) -> bool:
        return not self.refusal

    @property
    def source(self) -> str:
        return "PyPI" if self.index_url is PYPI else self.index_url

    def summary(self) -> str:
        """One line for the preferences: what, from where, how big."""
        if not self.ok:
            return self.refusal
        return (f"{self.torch_requirement.replace('==', ' ')} ({self.build}) from {self.source}, then diffusers and the "
                f"engine's other requirements from PyPI: about {self.download_gb:.1f} GB to download")


def pinned_version(requirements_text: str, package: str) -> str | None:
    """The ``==`` version a requirements file pins for a package, or None."""
    for line in requirements_text.splitlines():
        match = re.match(rf"\s*{re.escape(package)}\s*==\s*([^\s;#]+)", line, re.IGNORECASE)
        if match:
            return match.group(1)
    return None


def _driver_text(machine: Machine, build: CudaBuild) -> str:
    return f"{build.min_driver.get(machine.os, build.min_driver['linux'])} or newer"


def _fits_architecture(build: CudaBuild, capability) -> bool:
    return capability is None or build.capabilities[0] <= capability <= build.capabilities[1]


def _fits_driver(build: CudaBuild, driver_cuda) -> bool:
    # Minor-version compatibility: the driver's major CUDA version decides (12.2 runs a 12.6 build).
    return driver_cuda is not None and driver_cuda[0] >= build.cuda[0]


def _driver_cuda(gpu) -> tuple[int, int] | None:
    """What the driver supports: nvidia-smi's "CUDA Version", else derived from the driver branch."""
    if gpu.cuda is not None:
        return gpu.cuda
    branch = re.match(r"(\d+)", gpu.driver or "")
    if not branch:
        return None
    return (13, 0) if int(branch.group(1)) >= 580 else (12, 0) if int(branch.group(1)) >= 525 else (11, 0)


def plan_setup(machine: Machine, torch_version: str) -> SetupPlan:
    """The plan for this machine. Rows (each has a unit test):

    - Windows or Linux, x86-64, NVIDIA GPU: the newest CUDA build the driver and the GPU support,
      from PyTorch's index for it (Linux: from PyPI when that is the build PyPI carries);
    - a driver too old for every build: refused, naming the driver version needed;
    - no NVIDIA GPU (or one older than every build): the CPU build, from PyTorch's CPU index on Linux
      (PyPI's Linux wheel is the 3 GB CUDA one), from PyPI on Windows; a warning that takes are slow;
    - macOS on Apple silicon: PyPI's build (MPS); an Intel Mac, or Blender running under Rosetta: refused;
    - anything else (ARM Windows or Linux, another OS): refused.
    """
    requirement = f"torch=={torch_version}"
    builds = TORCH_BUILDS.get(".".join(torch_version.split(".")[:2]))
    if builds is None:
        return SetupPlan(requirement, PYPI, "", "", 0.0, refusal=(
            f"Set Up Engine does not know which builds torch {torch_version} has; this add-on version knows "
            f"{', '.join(TORCH_BUILDS)}: update the add-on"))
    if machine.os == "macos":
        return _plan_mac(machine, requirement, builds)
    if machine.os not in ("windows", "linux") or machine.arch != "x86_64":
        return SetupPlan(requirement, PYPI, "", "", 0.0, refusal=(
            f"Neural Previs runs on Windows and Linux on x86-64 PCs and on Macs with Apple silicon; "
            f"this is {machine.os} on {machine.arch}"))
    gpu = machine.gpu
    if gpu is None:
        warnings = []
        if machine.nvidia_problem:
            warnings.append(f"nvidia-smi is installed but found no working GPU ({machine.nvidia_problem}): "
                            "if this machine has an NVIDIA card, install or repair its driver and press Repair")
        return _plan_cpu(machine, requirement, builds, warnings)
    driver_cuda = _driver_cuda(gpu)
    for build in builds.cuda:
        if _fits_architecture(build, gpu.compute_capability) and _fits_driver(build, driver_cuda):
            linux_pypi = machine.os == "linux" and build.on_pypi_for_linux
            return SetupPlan(
                requirement, PYPI if linux_pypi else TORCH_INDEX.format(tag=build.tag), build.label, "cuda",
                build.download_gb[machine.os] + OTHER_REQUIREMENTS_GB,
            )
    for_gpu = [build for build in builds.cuda if _fits_architecture(build, gpu.compute_capability)]
    if not for_gpu:
        capability = ".".join(map(str, gpu.compute_capability))
        return _plan_cpu(machine, requirement, builds, [
            f"{gpu.name} (compute capability {capability}) is older than any GPU torch {torch_version} supports: "
            "the engine will run on the CPU"])
    needed = for_gpu[-1]  # the build asking least of the driver
    said = f"supports CUDA {driver_cuda[0]}.{driver_cuda[1]}" if driver_cuda else "does not say which CUDA it supports"
    return SetupPlan(requirement, TORCH_INDEX.format(tag=needed.tag), needed.label, "cuda", 0.0, refusal=(
        f"The NVIDIA driver {gpu.driver or '(unknown version)'} {said}; torch {torch_version} on {gpu.name} needs "
        f"{needed.label}: update the driver to {_driver_text(machine, needed)} and press Set Up Engine again"))


def _plan_cpu(machine: Machine, requirement: str, builds: TorchBuilds, warnings: list[str]) -> SetupPlan:
    warnings = [*warnings, "No supported NVIDIA GPU: the engine will run on the CPU, where a take with a real model "
                           "takes hours (tiny-random, the test model, runs in seconds)"]
    index = TORCH_INDEX.format(tag="cpu") if machine.os == "linux" else PYPI
    return SetupPlan(requirement, index, "CPU", "cpu", builds.cpu_download_gb[machine.os] + OTHER_REQUIREMENTS_GB,
                     warnings=tuple(warnings))


def _plan_mac(machine: Machine, requirement: str, builds: TorchBuilds) -> SetupPlan:
    if machine.arch == "arm64" and not machine.translated:
        if machine.macos_version is not None and machine.macos_version < builds.mps_min_macos:
            needed = ".".join(map(str, builds.mps_min_macos))
            return SetupPlan(requirement, PYPI, "", "", 0.0, refusal=(
                f"{requirement.replace('==', ' ')} needs macOS {needed} or later, this Mac runs "
                f"{'.'.join(map(str, machine.macos_version))}: update macOS and press Set Up Engine again"))
        return SetupPlan(requirement, PYPI, "Apple GPU (MPS)", "mps", builds.mps_download_gb + OTHER_REQUIREMENTS_GB)
    if machine.translated:
        refusal = ("Blender is the Intel build, running on this Apple-silicon Mac through Rosetta, and torch has no "
                   "Intel-Mac builds: install the Apple Silicon build of Blender from blender.org")
    else:
        refusal = ("Generation is not supported on Intel Macs: torch stopped publishing Intel-Mac builds after 2.2, and "
                   "the engine needs a newer one; use a Mac with Apple silicon, or a Windows or Linux PC")
    return SetupPlan(requirement, PYPI, "", "", 0.0, refusal=refusal)
