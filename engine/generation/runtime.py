"""Where and how a pipeline runs: device, precision, memory profile; peak memory; out-of-memory advice.

Where the weights of each profile live is ``engine.speed.offload``."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch

from ..errors import OutOfMemory, ParamsError
from ..formats.params import GenerateParams
from . import host

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}

#: What to try after running out of memory with each ``--offload`` profile.
_NEXT_PROFILE = {
    "none": "retry with --offload model (one model on the GPU at a time)",
    "model": "retry with --offload group (layers streamed to the GPU: least memory, slower)",
    "group": "even --offload group does not fit: use a smaller model (e.g. wan-vace-1.3b) or fewer pixels per frame",
}


@dataclass(frozen=True)
class Runtime:
    device: str
    """``cpu``, ``mps`` or ``cuda:N``."""
    dtype: str
    """Resolved weights precision (``float32``, ``bfloat16``, ``float16``)."""
    offload: str
    weights: str = "auto"
    """How the denoisers store their weights (``--weights``: ``auto`` or ``fp8``; ``engine.speed.weight_storage``)."""

    @property
    def torch_dtype(self) -> torch.dtype:
        return _DTYPES[self.dtype]

    @property
    def key(self) -> tuple:
        return (self.device, self.dtype, self.offload, self.weights)

    def describe_device(self) -> str:
        return describe_device(self.device)

    def reset_peak_memory(self) -> None:
        if self.device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats(torch.device(self.device))

    def peak_memory(self) -> dict:
        """Peak memory of the request on the device, and of the whole process on the host."""
        peak = {"host_process_peak_bytes": host.process_peak_bytes()}
        if self.device.startswith("cuda"):
            peak["device_peak_bytes"] = int(torch.cuda.max_memory_allocated(torch.device(self.device)))
        return peak


def resolve_device(requested: str) -> str:
    """``auto``: the first CUDA GPU, else Apple's GPU (``mps``), else the CPU; a named device is checked.

    What this machine has is asked of torch here; the choice itself is ``choose_device``."""
    return choose_device(requested, cuda_gpus=_cuda_gpus(), mps_available=_mps_available())


def choose_device(requested: str, cuda_gpus: int, mps_available: bool) -> str:
    """The device a request runs on, given what the machine reports: how many CUDA GPUs torch can use
    and whether it can use Apple's GPU. A device that is not there is a ``ParamsError`` naming it as
    it was requested. Pure: no torch call."""
    if requested == "auto":
        if cuda_gpus:
            return "cuda:0"
        return "mps" if mps_available else "cpu"
    device = "cuda:0" if requested == "cuda" else requested
    if device.startswith("cuda"):
        if not cuda_gpus:
            raise ParamsError(f"device {requested} requested but torch sees no CUDA GPU; use --device cpu")
        index = int(device.split(":")[1])
        if index >= cuda_gpus:
            raise ParamsError(f"device {device} does not exist: torch sees {cuda_gpus} GPU(s)")
    elif device == "mps" and not mps_available:
        raise ParamsError("device mps requested but this torch sees no Apple GPU (it needs Apple silicon and macOS 12.3 or later); use --device cpu")
    return device


def resolve_runtime(params: GenerateParams) -> Runtime:
    device = resolve_device(params.device)
    if not device.startswith("cuda") and params.offload != "none":
        raise ParamsError(f"--offload {params.offload} streams weights between the CPU and a CUDA GPU; on {device} use --offload none")
    dtype = probe_dtype(device) if params.dtype == "auto" else params.dtype
    return Runtime(device=device, dtype=dtype, offload=params.offload, weights=params.weights)


def _cuda_gpus() -> int:
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return backend is not None and backend.is_available()


def dtype_order(device_type: str, cuda_capability: tuple[int, int] | None = None) -> tuple[str, ...]:
    """Precisions worth trying on a kind of device (``cuda``, ``mps``, ``cpu``), best first; a CUDA GPU's
    order depends on its compute capability (``torch.cuda.get_device_capability``). Pure."""
    if device_type == "cuda":
        major, _ = cuda_capability
        if major >= 8:  # Ampere and later compute bfloat16 natively
            return ("bfloat16", "float16", "float32")
        if major >= 7:  # Volta and Turing: float16 on tensor cores, bfloat16 only emulated
            return ("float16", "float32")
        return ("float32",)  # Pascal and older: float16 runs at a fraction of float32 speed on most cards
    if device_type == "mps":  # bfloat16 needs macOS 14; float16 works on every Apple GPU
        return ("bfloat16", "float16", "float32")
    # CPUs: half precision is emulated and slower than float32 on most of them, and float32 keeps
    # CPU takes identical to the reference pipelines the tests compare against.
    return ("float32",)


def _dtype_candidates(device: str) -> tuple[str, ...]:
    """Precisions worth trying on this device, best first."""
    if device.startswith("cuda"):
        return dtype_order("cuda", torch.cuda.get_device_capability(torch.device(device)))
    return dtype_order(device.split(":")[0])


@functools.lru_cache(maxsize=None)
def probe_dtype(device: str) -> str:
    """The weights' precision for ``dtype=auto``: the best candidate the device actually computes
    (a small matrix product is tried, not assumed from a table)."""
    for dtype in _dtype_candidates(device):
        try:
            ones = torch.ones((16, 16), device=device, dtype=_DTYPES[dtype])
            if float((ones @ ones).float().sum().item()) == 16.0 * 16 * 16:
                return dtype
        except (RuntimeError, TypeError):  # e.g. MPS before macOS 14: "BFloat16 is not supported on MPS"
            continue
    return "float32"


def describe_device(device: str) -> str:
    """``cuda:0 (NVIDIA H100 80GB HBM3)``, ``mps (Apple M3 Max)`` or ``cpu``."""
    if device.startswith("cuda"):
        return f"{device} ({torch.cuda.get_device_name(torch.device(device))})"
    if device == "mps":
        return f"mps ({host.cpu_name()})"
    return "cpu"


def device_report(device: str | None = None) -> dict:
    """What the engine runs on by default, for ``hello`` and ``python -m engine check``: the device,
    its name and memory, the precision it will use, and the torch/CUDA versions."""
    device = device or resolve_device("auto")
    report = {
        "device": describe_device(device),
        "device_type": device.split(":")[0],
        "dtype": probe_dtype(device),
        "torch_version": torch.__version__,
        "cuda_version": torch.version.cuda,
    }
    if device.startswith("cuda"):
        properties = torch.cuda.get_device_properties(torch.device(device))
        report.update(device_name=properties.name, device_memory=int(properties.total_memory),
                      compute_capability=f"{properties.major}.{properties.minor}")
    elif device == "mps":
        # Apple GPUs share the machine's memory; Metal's recommended working set is what a take can use.
        recommended = getattr(torch.mps, "recommended_max_memory", None)
        report.update(device_name=host.cpu_name(), device_memory=int(recommended()) if recommended else host.total_memory_bytes())
    else:
        report.update(device_name=host.cpu_name(), device_memory=host.total_memory_bytes())
    return report


def is_out_of_memory(error: BaseException) -> bool:
    """CUDA OOM, and CPU and Apple GPU allocation failures (which torch raises as RuntimeError)."""
    if isinstance(error, (torch.OutOfMemoryError, MemoryError)):
        return True
    text = str(error) if isinstance(error, RuntimeError) else ""
    return "DefaultCPUAllocator: can't allocate memory" in text or "MPS backend out of memory" in text


def out_of_memory_error(runtime: Runtime, phase: str, what: str) -> OutOfMemory:
    """The one-line message for an OOM: where it happened and which profile to try next."""
    if not runtime.device.startswith("cuda"):
        where = "the Apple GPU (mps)" if runtime.device == "mps" else "the CPU"
        return OutOfMemory(f"out of memory on {where} while {phase} {what}: close other programs, or use fewer pixels or frames")
    return OutOfMemory(
        f"out of GPU memory on {runtime.device} while {phase} {what} with --offload {runtime.offload}: {_NEXT_PROFILE[runtime.offload]}"
    )
