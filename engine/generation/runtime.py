"""Where and how a pipeline runs: device, precision, memory profile; peak memory; out-of-memory advice.

Where the weights of each profile live is ``engine.speed.offload``."""

from __future__ import annotations

import resource
import sys
from dataclasses import dataclass

import torch

from ..errors import OutOfMemory, ParamsError
from ..formats.params import GenerateParams

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
    """``cpu`` or ``cuda:N``."""
    dtype: str
    """Resolved weights precision (``float32``, ``bfloat16``, ``float16``)."""
    offload: str

    @property
    def torch_dtype(self) -> torch.dtype:
        return _DTYPES[self.dtype]

    @property
    def key(self) -> tuple:
        return (self.device, self.dtype, self.offload)

    def describe_device(self) -> str:
        if self.device.startswith("cuda"):
            return f"{self.device} ({torch.cuda.get_device_name(torch.device(self.device))})"
        return "cpu"

    def reset_peak_memory(self) -> None:
        if self.device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats(torch.device(self.device))

    def peak_memory(self) -> dict:
        """Peak memory of the request on the device, and of the whole process on the host."""
        peak = {"host_process_peak_bytes": _host_peak_bytes()}
        if self.device.startswith("cuda"):
            peak["device_peak_bytes"] = int(torch.cuda.max_memory_allocated(torch.device(self.device)))
        return peak


def resolve_runtime(params: GenerateParams) -> Runtime:
    device = params.device
    if device == "auto":
        device = "cuda:0" if torch.cuda.is_available() else "cpu"
    elif device == "cuda":
        device = "cuda:0"
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ParamsError(f"device {params.device} requested but torch sees no CUDA GPU; use --device cpu")
        index = int(device.split(":")[1])
        if index >= torch.cuda.device_count():
            raise ParamsError(f"device {device} does not exist: torch sees {torch.cuda.device_count()} GPU(s)")
    elif params.offload != "none":
        raise ParamsError(f"--offload {params.offload} moves weights to a GPU; on the CPU use --offload none")
    dtype = params.dtype
    if dtype == "auto":
        dtype = "bfloat16" if device.startswith("cuda") else "float32"
    return Runtime(device=device, dtype=dtype, offload=params.offload)


def default_device_description() -> str:
    if torch.cuda.is_available():
        return f"cuda:0 ({torch.cuda.get_device_name(0)})"
    return "cpu"


def is_out_of_memory(error: BaseException) -> bool:
    """CUDA OOM, and CPU allocation failures (which torch raises as RuntimeError)."""
    if isinstance(error, (torch.OutOfMemoryError, MemoryError)):
        return True
    return isinstance(error, RuntimeError) and "DefaultCPUAllocator: can't allocate memory" in str(error)


def out_of_memory_error(runtime: Runtime, phase: str, what: str) -> OutOfMemory:
    """The one-line message for an OOM: where it happened and which profile to try next."""
    if not runtime.device.startswith("cuda"):
        return OutOfMemory(f"out of memory on the CPU while {phase} {what}: close other programs, or use fewer pixels or frames")
    return OutOfMemory(
        f"out of GPU memory on {runtime.device} while {phase} {what} with --offload {runtime.offload}: {_NEXT_PROFILE[runtime.offload]}"
    )


def _host_peak_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)  # Linux reports KiB
