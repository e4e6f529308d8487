"""Where and how a pipeline runs: device, precision, memory profile; peak memory; out-of-memory advice."""

from __future__ import annotations

import contextlib
import functools
import os
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

    @property
    def torch_dtype(self) -> torch.dtype:
        return _DTYPES[self.dtype]

    @property
    def key(self) -> tuple:
        return (self.device, self.dtype, self.offload)

    def place(self, pipeline) -> None:
        """Move a freshly loaded pipeline onto the device according to the memory profile."""
        if self.offload == "none":
            if text_encoder_stays_on_host(pipeline, self.device):
                keep_text_encoder_on_host(pipeline)
            pipeline.to(self.device)
        elif self.offload == "model":
            pipeline.enable_model_cpu_offload(device=self.device)
        else:  # group: stream layers, overlapping transfers with compute on a CUDA stream
            stream_to_device(pipeline, self.device, use_stream=True)

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


#: Device memory left for a take besides the weights: activations and the VAE's passes at
#: 832x480x81 (benchmarks/memory.py: 8.2 GB for one float32 VAE decode pass, 3.2 GB of 1.3B and
#: 6.8 GB of 14B activations), with room for larger shots and the allocator.
TAKE_HEADROOM_BYTES = 16_000_000_000
#: Text encoders smaller than this stay on the device (CLIP is 0.25 GB; UMT5-XXL is 11.4 GB).
HOSTED_TEXT_ENCODER_MIN_BYTES = 1_000_000_000


def module_bytes(module) -> int:
    return sum(t.numel() * t.element_size() for t in (*module.parameters(), *module.buffers()))


def text_encoder_stays_on_host(pipeline, device: str, total_memory: int | None = None) -> bool:
    """Whether the ``none`` profile keeps the text encoder in host memory, copied to the device only
    to encode a new prompt (the prompt cache makes that once per prompt). Where every weight plus a
    take's working memory fits the device, it stays there (no copy per prompt); where it does not,
    UMT5-XXL's 11.4 GB is the piece a take can do without: VACE-1.3B then needs ~16 GB instead of
    ~28 GB, which fits a 24 GB card. ``NEURAL_PREVIS_TEXT_ENCODER=host|device`` overrides."""
    encoder = getattr(pipeline, "text_encoder", None)
    if encoder is None or not device.startswith("cuda"):
        return False
    choice = os.environ.get("NEURAL_PREVIS_TEXT_ENCODER", "").lower()
    if choice in ("host", "device"):
        return choice == "host"
    if module_bytes(encoder) < HOSTED_TEXT_ENCODER_MIN_BYTES:
        return False
    weights = sum(module_bytes(m) for m in pipeline.components.values() if isinstance(m, torch.nn.Module))
    if total_memory is None:
        total_memory = torch.cuda.get_device_properties(torch.device(device)).total_memory
    return weights + TAKE_HEADROOM_BYTES > total_memory


def keep_text_encoder_on_host(pipeline) -> None:
    """Take the text encoder out of the pipeline (so ``pipeline.to`` and the pipeline's own device
    logic leave it alone) and keep it beside it; ``text_encoder_on_device`` lends it back."""
    pipeline._neural_previs_hosted_text_encoder = pipeline.text_encoder
    pipeline.text_encoder = None


@contextlib.contextmanager
def text_encoder_on_device(pipeline, device: str):
    """While active, a hosted text encoder is back in the pipeline with its weights copied to the
    device; afterwards the device copies are dropped (no copy back: the host weights never moved)."""
    encoder = getattr(pipeline, "_neural_previs_hosted_text_encoder", None)
    if encoder is None:
        yield
        return
    tensors = [*encoder.parameters(), *encoder.buffers()]
    host = [tensor.data for tensor in tensors]
    try:
        for tensor, data in zip(tensors, host):
            tensor.data = data.to(device, non_blocking=True)
        pipeline.text_encoder = encoder
        yield
    finally:
        pipeline.text_encoder = None
        for tensor, data in zip(tensors, host):
            tensor.data = data


def stream_to_device(pipeline, device: str, use_stream: bool) -> None:
    """The ``group`` profile: weights live on the CPU and are streamed to ``device`` as they are used.

    - the denoiser (transformer / UNet, ControlNet, motion adapter): one block of its top-level
      ``ModuleList``s at a time (diffusers' block-level group offloading);
    - the text encoder: one layer at a time (leaf level). Block level would load UMT5-XXL whole,
      11 GB: its blocks sit one level down (``encoder.block``), and block-level offloading groups
      only top-level lists (13.7 GB above resident on an H200, run 3 in docs/speed.md). Leaf level
      also keeps its tied input embedding in one group;
    - the VAE stays on the device (0.5 GB): its memory is bounded by tiling, which diffusers warns
      does not mix with streamed offloading.
    """
    from diffusers.hooks import apply_group_offloading

    streamed = dict(onload_device=torch.device(device), offload_device=torch.device("cpu"), use_stream=use_stream)
    for name, component in pipeline.components.items():
        if not isinstance(component, torch.nn.Module):
            continue
        if name == "vae":
            component.to(device)
        elif name.startswith("text_encoder"):
            apply_group_offloading(component, offload_type="leaf_level", **streamed)
        elif hasattr(component, "enable_group_offload"):
            component.enable_group_offload(offload_type="block_level", num_blocks_per_group=1, **streamed)
        else:
            apply_group_offloading(component, offload_type="block_level", num_blocks_per_group=1, **streamed)


def resolve_device(requested: str) -> str:
    """``auto``: the first CUDA GPU, else Apple's GPU (``mps``), else the CPU; a named device is checked."""
    if requested == "auto":
        if torch.cuda.is_available():
            return "cuda:0"
        return "mps" if _mps_available() else "cpu"
    device = "cuda:0" if requested == "cuda" else requested
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ParamsError(f"device {requested} requested but torch sees no CUDA GPU; use --device cpu")
        index = int(device.split(":")[1])
        if index >= torch.cuda.device_count():
            raise ParamsError(f"device {device} does not exist: torch sees {torch.cuda.device_count()} GPU(s)")
    elif device == "mps" and not _mps_available():
        raise ParamsError("device mps requested but this torch sees no Apple GPU (it needs Apple silicon and macOS 12.3 or later); use --device cpu")
    return device


def resolve_runtime(params: GenerateParams) -> Runtime:
    device = resolve_device(params.device)
    if not device.startswith("cuda") and params.offload != "none":
        raise ParamsError(f"--offload {params.offload} streams weights between the CPU and a CUDA GPU; on {device} use --offload none")
    dtype = probe_dtype(device) if params.dtype == "auto" else params.dtype
    return Runtime(device=device, dtype=dtype, offload=params.offload)


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return backend is not None and backend.is_available()


def _dtype_candidates(device: str) -> tuple[str, ...]:
    """Precisions worth trying on a device, best first."""
    if device.startswith("cuda"):
        major, _ = torch.cuda.get_device_capability(torch.device(device))
        if major >= 8:  # Ampere and later compute bfloat16 natively
            return ("bfloat16", "float16", "float32")
        if major >= 7:  # Volta and Turing: float16 on tensor cores, bfloat16 only emulated
            return ("float16", "float32")
        return ("float32",)  # Pascal and older: float16 runs at a fraction of float32 speed on most cards
    if device == "mps":  # bfloat16 needs macOS 14; float16 works on every Apple GPU
        return ("bfloat16", "float16", "float32")
    # CPUs: half precision is emulated and slower than float32 on most of them, and float32 keeps
    # CPU takes identical to the reference pipelines the tests compare against.
    return ("float32",)


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
