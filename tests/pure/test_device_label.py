"""The engine's device in words (preferences, panel, Set Up Engine's "Ready: ..."), read from the worker's
``hello`` as the engine builds it (``engine.worker.protocol.Hello``) and as it arrives over the pipe.

The figures are real ones: the RTX 5090's memory is the ``totalGlobalMem`` CUDA reports for it
(deviceQuery: "32120 MBytes (33680457728 bytes)", CUDA 12.8, in NVIDIA/nccl#1637; torch's
``total_memory`` is the same field), the label rounds it in GiB, hence 31 for the 32 GB card. The Apple
figure is Metal's recommended working set of an M2 Ultra (154618822656 bytes, in apache/tvm#16398).
"""

import pytest

from neural_previs.addon.device_label import describe_device, engine_line, runs_on_cpu
from neural_previs.engine.generation import host
from neural_previs.engine.worker import protocol


def hello(device: str, **fields) -> protocol.Hello:
    """A hello as ``engine.worker.serve`` sends it, with the default device's fields."""
    return protocol.Hello(protocol=protocol.PROTOCOL_VERSION, engine="0.1.0", device=device, backends=[], pid=4242,
                          **fields)


def received(message: protocol.Hello) -> protocol.Hello:
    """The hello as the add-on gets it: one JSON line through the protocol's own parser."""
    event = protocol.parse_message(message.to_json())
    assert isinstance(event, protocol.Hello)
    return event


NVIDIA = hello("cuda:0 (NVIDIA GeForce RTX 5090)", device_type="cuda", device_name="NVIDIA GeForce RTX 5090",
               device_memory=33680457728, dtype="bfloat16", torch_version="2.13.0+cu128", cuda_version="12.8")
APPLE = hello("mps (Apple M2 Ultra)", device_type="mps", device_name="Apple M2 Ultra", device_memory=154618822656,
              dtype="bfloat16", torch_version="2.13.0", cuda_version=None)
# The CPU's fields as engine.generation.runtime.device_report fills them: this machine's own name and RAM.
CPU = hello("cpu", device_type="cpu", device_name=host.cpu_name(), device_memory=host.total_memory_bytes(),
            dtype="float32", torch_version="2.13.0+cpu", cuda_version=None)


@pytest.mark.parametrize("message, label", [
    (NVIDIA, "NVIDIA GeForce RTX 5090, 31 GB, CUDA 12.8"),
    (APPLE, "Apple M2 Ultra (MPS)"),
    (CPU, f"CPU: {host.cpu_name()}"),
], ids=["nvidia", "apple", "cpu"])
def test_each_kind_of_device_in_words(message, label):
    assert describe_device(received(message)) == label
    # `python -m engine check` prints the same keys as a JSON object: the same words
    assert describe_device(message.to_dict()) == label


def test_the_nvidia_memory_is_whole_gib_of_what_cuda_reports():
    # RTX 4090 on Linux (deviceQuery "24210 MBytes (25386352640 bytes)") and on Windows, where the display
    # driver keeps more for itself ("23028 MBytes (24146083840 bytes)")
    linux = hello("cuda:0 (NVIDIA GeForce RTX 4090)", device_type="cuda", device_name="NVIDIA GeForce RTX 4090",
                  device_memory=25386352640, cuda_version="12.4")
    windows = hello("cuda:0 (NVIDIA GeForce RTX 4090)", device_type="cuda", device_name="NVIDIA GeForce RTX 4090",
                    device_memory=24146083840, cuda_version="12.6")
    assert describe_device(received(linux)) == "NVIDIA GeForce RTX 4090, 24 GB, CUDA 12.4"
    assert describe_device(received(windows)) == "NVIDIA GeForce RTX 4090, 22 GB, CUDA 12.6"


def test_an_nvidia_hello_without_memory_or_cuda_version_leaves_them_out():
    bare = hello("cuda:0 (NVIDIA GeForce RTX 5090)", device_type="cuda", device_name="NVIDIA GeForce RTX 5090")
    assert describe_device(received(bare)) == "NVIDIA GeForce RTX 5090"


def test_a_worker_from_before_the_device_fields_is_described_by_its_device_line():
    # protocol 1 as first shipped: `device` only; the later fields take their defaults when parsed
    old = protocol.parse_message('{"type":"hello","protocol":1,"engine":"0.0.9","device":"cuda:0 (NVIDIA H100 80GB HBM3)",'
                                 '"backends":[],"pid":7}')
    assert describe_device(old) == "cuda:0 (NVIDIA H100 80GB HBM3)"
    assert not runs_on_cpu(old)
    assert runs_on_cpu(protocol.parse_message('{"type":"hello","protocol":1,"engine":"0.0.9","device":"cpu","backends":[],"pid":7}'))


def test_only_the_cpu_is_flagged_as_slow_on_the_panel():
    assert [runs_on_cpu(received(m)) for m in (NVIDIA, APPLE, CPU)] == [False, False, True]
    assert engine_line("running", received(NVIDIA), running=True) == "Engine: running"
    assert engine_line("stopped", received(APPLE), running=False) == "Engine: stopped; last ran on Apple M2 Ultra (MPS)"
    assert engine_line("running", received(CPU), running=True) == "Engine: running (CPU: only tiny-random is quick)"
