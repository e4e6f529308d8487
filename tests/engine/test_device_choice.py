"""Device selection: which device a request runs on, from what the machine reports, and the precisions
tried on each kind of device.

``choose_device`` and ``dtype_order`` are pure, so every kind of machine is covered here: an NVIDIA
machine, an Apple-silicon Mac, a machine with neither. ``resolve_device`` is ``choose_device`` fed with
what torch reports on the machine running the tests; the tests at the end run it for real on a machine
without CUDA or Apple GPU (this one)."""

import pytest
import torch

from engine.errors import ParamsError
from engine.formats.params import GenerateParams
from engine.generation.runtime import choose_device, dtype_order, probe_dtype, resolve_device, resolve_runtime

without_gpu = pytest.mark.skipif(torch.cuda.is_available() or torch.backends.mps.is_available(), reason="for a machine without GPU")

# (CUDA GPUs torch sees, Apple GPU available)
NVIDIA_2 = (2, False)  # a workstation with two NVIDIA cards
APPLE = (0, True)      # an Apple-silicon Mac: no CUDA, torch on mps
NEITHER = (0, False)   # a laptop without a supported GPU, or Windows with PyPI's CPU-only torch


@pytest.mark.parametrize("machine, chosen", [(NVIDIA_2, "cuda:0"), ((1, True), "cuda:0"), (APPLE, "mps"), (NEITHER, "cpu")],
                         ids=["nvidia", "nvidia-and-mps", "apple", "neither"])
def test_auto_prefers_cuda_then_mps_then_the_cpu(machine, chosen):
    assert choose_device("auto", *machine) == chosen


@pytest.mark.parametrize("machine, requested, chosen", [
    (NVIDIA_2, "cuda", "cuda:0"),
    (NVIDIA_2, "cuda:1", "cuda:1"),
    (NVIDIA_2, "cpu", "cpu"),
    (APPLE, "mps", "mps"),
    (APPLE, "cpu", "cpu"),
    (NEITHER, "cpu", "cpu"),
])
def test_a_device_that_is_there_is_used_as_requested(machine, requested, chosen):
    GenerateParams(prompt="x", device=requested).check()
    assert choose_device(requested, *machine) == chosen


@pytest.mark.parametrize("machine, requested, message", [
    (APPLE, "cuda", "device cuda requested but torch sees no CUDA GPU; use --device cpu"),
    (NEITHER, "cuda:1", "device cuda:1 requested but torch sees no CUDA GPU; use --device cpu"),
    (NVIDIA_2, "cuda:2", "device cuda:2 does not exist: torch sees 2 GPU(s)"),
    (NVIDIA_2, "mps", "device mps requested but this torch sees no Apple GPU (it needs Apple silicon and macOS 12.3 or later); use --device cpu"),
    (NEITHER, "mps", "device mps requested but this torch sees no Apple GPU (it needs Apple silicon and macOS 12.3 or later); use --device cpu"),
], ids=["cuda-on-a-mac", "cuda-index-without-cuda", "cuda-index-past-the-last", "mps-on-nvidia", "mps-on-neither"])
def test_a_device_that_is_absent_is_one_line_naming_what_was_requested(machine, requested, message):
    GenerateParams(prompt="x", device=requested).check()  # a valid request, just not on this machine
    with pytest.raises(ParamsError) as raised:
        choose_device(requested, *machine)
    assert raised.value.message == message
    assert "\n" not in raised.value.message and raised.value.kind == "params"


@pytest.mark.parametrize("machine, requested", [(APPLE, "cuda"), (NVIDIA_2, "mps")])
def test_in_blender_the_absent_device_error_names_the_preference_not_a_flag(machine, requested):
    from neural_previs.addon.artist_messages import for_artist

    with pytest.raises(ParamsError) as raised:
        choose_device(requested, *machine)
    line = for_artist(raised.value.message, raised.value.kind)
    assert line.startswith(f"Device {requested} requested but")
    assert line.endswith("use Device 'CPU' (Neural Previs preferences)") and "--" not in line


@pytest.mark.parametrize("capability, order", [
    ((12, 0), ("bfloat16", "float16", "float32")),  # RTX 5090 (Blackwell)
    ((9, 0), ("bfloat16", "float16", "float32")),   # H100 / H200 (Hopper)
    ((8, 9), ("bfloat16", "float16", "float32")),   # RTX 4090 (Ada)
    ((8, 6), ("bfloat16", "float16", "float32")),   # RTX 3090 (Ampere)
    ((8, 0), ("bfloat16", "float16", "float32")),   # A100 (Ampere): the first with bfloat16 tensor cores
    ((7, 5), ("float16", "float32")),               # T4, RTX 2080 (Turing)
    ((7, 0), ("float16", "float32")),               # V100 (Volta)
    ((6, 1), ("float32",)),                         # GTX 1080 (Pascal)
])
def test_cuda_precision_order_follows_the_compute_capability(capability, order):
    assert dtype_order("cuda", capability) == order


def test_mps_tries_bfloat16_then_float16_then_float32():
    # bfloat16 needs macOS 14; float16 runs on every Apple GPU; float32 always works
    assert dtype_order("mps") == ("bfloat16", "float16", "float32")


def test_the_cpu_runs_float32_only():
    assert dtype_order("cpu") == ("float32",)


@pytest.mark.parametrize("requested", ["auto", "cpu", "cuda", "cuda:0", "cuda:1", "mps"])
def test_resolve_device_is_the_choice_for_what_torch_reports_here(requested):
    """On any machine: the same device, or the same error, as the pure choice for torch's own answers."""
    cuda_gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    facts = (cuda_gpus, torch.backends.mps.is_available())
    try:
        expected = choose_device(requested, *facts)
    except ParamsError as error:
        with pytest.raises(ParamsError) as raised:
            resolve_device(requested)
        assert raised.value.message == error.message
    else:
        assert resolve_device(requested) == expected


@without_gpu
def test_auto_falls_back_to_the_cpu_in_float32():
    runtime = resolve_runtime(GenerateParams(prompt="x", model="tiny-random"))
    assert (runtime.device, runtime.dtype) == ("cpu", "float32")
    assert probe_dtype("cpu") == "float32"


@without_gpu
@pytest.mark.parametrize("device, said", [("mps", "sees no Apple GPU"), ("cuda", "sees no CUDA GPU"), ("cuda:1", "sees no CUDA GPU")])
def test_a_gpu_that_is_not_there_is_named(device, said):
    GenerateParams(prompt="x", device=device).check()  # a valid request, just not on this machine
    with pytest.raises(ParamsError, match=said):
        resolve_device(device)


def test_offload_needs_a_cuda_gpu():
    with pytest.raises(ParamsError, match="on cpu use --offload none"):
        resolve_runtime(GenerateParams(prompt="x", device="cpu", offload="group"))
