"""Device selection on a machine without CUDA or Apple GPU (this one): auto is the CPU, a named GPU
that is not there is a clear error, and the precision is what the device computes."""

import pytest
import torch

from engine.errors import ParamsError
from engine.formats.params import GenerateParams
from engine.generation.runtime import probe_dtype, resolve_device, resolve_runtime

pytestmark = pytest.mark.skipif(torch.cuda.is_available() or torch.backends.mps.is_available(), reason="for a machine without GPU")


def test_auto_falls_back_to_the_cpu_in_float32():
    runtime = resolve_runtime(GenerateParams(prompt="x", model="tiny-random"))
    assert (runtime.device, runtime.dtype) == ("cpu", "float32")
    assert probe_dtype("cpu") == "float32"


@pytest.mark.parametrize("device, said", [("mps", "sees no Apple GPU"), ("cuda", "sees no CUDA GPU"), ("cuda:1", "sees no CUDA GPU")])
def test_a_gpu_that_is_not_there_is_named(device, said):
    GenerateParams(prompt="x", device=device).check()  # a valid request, just not on this machine
    with pytest.raises(ParamsError, match=said):
        resolve_device(device)


def test_offload_needs_a_cuda_gpu():
    with pytest.raises(ParamsError, match="on cpu use --offload none"):
        resolve_runtime(GenerateParams(prompt="x", device="cpu", offload="group"))
