"""Set Up Engine's plan: one row per kind of machine, and nvidia-smi's output as real drivers print it.

The nvidia-smi texts are real: the R595/R610 (Linux and Windows) captures published as test data
by utkuozdemir/nvidia_gpu_exporter (internal/captures/), and headers users posted in issues
(470.57.02 in filecoin-project/bellperson#227, 550.40.07 in Frogging-Family/nvidia-all#212,
575.64.03 with "CUDA Version: N/A" in shkhln/libc6-shim#14).
"""

from pathlib import Path

import pytest

from neural_previs.addon import engine_setup_plan as plans
from neural_previs.addon.machine import Machine, NvidiaGpu, gpu_from_nvidia_smi, parse_nvidia_smi_query, parse_nvidia_smi_summary

REPO = Path(__file__).resolve().parents[2]
TORCH = plans.pinned_version((REPO / "engine" / "requirements.txt").read_text(), "torch")

SUMMARY_595_LINUX = """\
+-----------------------------------------------------------------------------------------+
| NVIDIA-SMI 595.71.05              Driver Version: 595.71.05      CUDA Version: 13.2     |
+-----------------------------------------+------------------------+----------------------+
| GPU  Name                 Persistence-M | Bus-Id          Disp.A | Volatile Uncorr. ECC |
|   0  NVIDIA GeForce RTX 4080 ...    Off |   00000000:01:00.0  On |                  N/A |
|  0%   43C    P8             25W /  320W |     596MiB /  16376MiB |      0%      Default |
"""
SUMMARY_610_WINDOWS = """\
+-----------------------------------------------------------------------------------------+
| NVIDIA-SMI 610.62                 KMD Version: 610.62        CUDA UMD Version: 13.3     |
+-----------------------------------------+------------------------+----------------------+
| GPU  Name                  Driver-Model | Bus-Id          Disp.A | Volatile Uncorr. ECC |
|   0  NVIDIA GeForce RTX 2080 ...  WDDM  |   00000000:0C:00.0  On |                  N/A |
"""
SUMMARY_470 = """\
+-----------------------------------------------------------------------------+
| NVIDIA-SMI 470.57.02    Driver Version: 470.57.02    CUDA Version: 11.4     |
|-------------------------------+----------------------+----------------------+
"""
SUMMARY_550 = "| NVIDIA-SMI 550.40.07              Driver Version: 550.40.07      CUDA Version: 12.4     |\n"
SUMMARY_575_BROKEN = "| NVIDIA-SMI 575.64.03              Driver Version: 575.64.03      CUDA Version: N/A      |\n"
QUERY_4080 = "NVIDIA GeForce RTX 4080 SUPER, 16376, 595.71.05, 8.9\n"
QUERY_2080_WINDOWS = "NVIDIA GeForce RTX 2080 SUPER, 8192, 610.62, 7.5\n"
QUERY_H200_PAIR = "NVIDIA H200, 143771, 590.48.01, 9.0\nNVIDIA H200, 143771, 590.48.01, 9.0\n"


def test_the_table_knows_the_torch_the_engine_pins():
    assert TORCH is not None
    assert ".".join(TORCH.split(".")[:2]) in plans.TORCH_BUILDS  # bumping torch means updating the table


def test_summary_headers_of_every_driver_generation():
    assert parse_nvidia_smi_summary(SUMMARY_595_LINUX) == ("595.71.05", (13, 2))
    assert parse_nvidia_smi_summary(SUMMARY_610_WINDOWS) == ("610.62", (13, 3))
    assert parse_nvidia_smi_summary(SUMMARY_470) == ("470.57.02", (11, 4))
    assert parse_nvidia_smi_summary(SUMMARY_575_BROKEN) == ("575.64.03", None)


def test_query_rows_give_full_names_memory_and_compute_capability():
    assert parse_nvidia_smi_query(QUERY_H200_PAIR) == [("NVIDIA H200", 143771, "590.48.01", (9, 0))] * 2
    assert parse_nvidia_smi_query("Tesla K80, 11441, 470.57.02\n") == [("Tesla K80", 11441, "470.57.02", None)]
    gpu = gpu_from_nvidia_smi(SUMMARY_610_WINDOWS, QUERY_2080_WINDOWS)
    assert gpu == NvidiaGpu("NVIDIA GeForce RTX 2080 SUPER", 8192, "610.62", (13, 3), (7, 5))
    assert gpu_from_nvidia_smi(SUMMARY_595_LINUX, "") is None


def nvidia(summary, query, os="linux"):
    return Machine(os=os, arch="x86_64", gpu=gpu_from_nvidia_smi(summary, query))


def gpu(name, driver, cuda, capability, os):
    return Machine(os=os, arch="x86_64", gpu=NvidiaGpu(name, 24564, driver, cuda, capability))


def test_linux_with_a_recent_driver_takes_pypis_cuda_13_build():
    plan = plans.plan_setup(nvidia(SUMMARY_595_LINUX, QUERY_4080), TORCH)
    assert (plan.ok, plan.device, plan.build, plan.index_url) == (True, "cuda", "CUDA 13.0", None)
    assert plan.torch_requirement == f"torch=={TORCH}" and 2.5 < plan.download_gb < 4
    assert plan.summary().startswith(f"torch {TORCH} (CUDA 13.0) from PyPI") and "GB" in plan.summary()


def test_windows_with_a_recent_driver_takes_cuda_13_from_pytorchs_index():
    plan = plans.plan_setup(nvidia(SUMMARY_610_WINDOWS, QUERY_2080_WINDOWS, os="windows"), TORCH)
    assert (plan.device, plan.build, plan.index_url) == ("cuda", "CUDA 13.0", "https://download.pytorch.org/whl/cu130")
    assert plan.warnings == ()


@pytest.mark.parametrize("os", ["linux", "windows"])
def test_a_cuda_12_driver_gets_the_cuda_12_6_build_from_pytorchs_index(os):
    """Driver 550 says CUDA 12.4: CUDA 12.6 runs on it through minor-version compatibility, 13.0 does not."""
    plan = plans.plan_setup(nvidia(SUMMARY_550, "NVIDIA GeForce RTX 4070, 12282, 550.40.07, 8.9\n", os=os), TORCH)
    assert (plan.ok, plan.build, plan.index_url) == (True, "CUDA 12.6", "https://download.pytorch.org/whl/cu126")


def test_a_pascal_card_with_a_new_driver_gets_cuda_12_6_which_still_has_its_kernels():
    plan = plans.plan_setup(gpu("NVIDIA GeForce GTX 1080 Ti", "580.95.05", (13, 0), (6, 1), "linux"), TORCH)
    assert (plan.build, plan.index_url) == ("CUDA 12.6", "https://download.pytorch.org/whl/cu126")


@pytest.mark.parametrize("os, driver", [("linux", "525.60.13"), ("windows", "528.33")])
def test_a_driver_too_old_for_every_build_is_refused_naming_the_driver_needed(os, driver):
    plan = plans.plan_setup(nvidia(SUMMARY_470, "NVIDIA GeForce RTX 3070, 7979, 470.57.02\n", os=os), TORCH)
    assert not plan.ok
    assert "470.57.02 supports CUDA 11.4" in plan.refusal and f"update the driver to {driver} or newer" in plan.refusal
    assert plan.summary() == plan.refusal


def test_a_blackwell_card_on_a_cuda_12_driver_needs_the_580_driver():
    plan = plans.plan_setup(gpu("NVIDIA GeForce RTX 5090", "575.57.08", (12, 9), (12, 0), "windows"), TORCH)
    assert not plan.ok and "needs CUDA 13.0" in plan.refusal and "update the driver to 580 or newer" in plan.refusal


def test_a_driver_that_does_not_say_its_cuda_version_is_judged_by_its_branch():
    plan = plans.plan_setup(nvidia(SUMMARY_575_BROKEN, "NVIDIA GeForce RTX 5070, 12227, 575.64.03, 12.0\n"), TORCH)
    assert not plan.ok and "update the driver to 580.65.06 or newer" in plan.refusal


def test_a_gpu_older_than_every_build_falls_back_to_the_cpu_with_a_warning():
    plan = plans.plan_setup(gpu("Tesla K80", "470.57.02", (11, 4), (3, 7), "linux"), TORCH)
    assert (plan.ok, plan.device, plan.index_url) == (True, "cpu", "https://download.pytorch.org/whl/cpu")
    assert "Tesla K80 (compute capability 3.7) is older" in plan.warnings[0]


def test_linux_without_nvidia_gets_the_cpu_build_from_pytorchs_cpu_index():
    plan = plans.plan_setup(Machine(os="linux", arch="x86_64"), TORCH)
    assert (plan.ok, plan.device, plan.build, plan.index_url) == (True, "cpu", "CPU", "https://download.pytorch.org/whl/cpu")
    assert plan.download_gb < 0.5
    assert any("takes hours" in warning for warning in plan.warnings)


def test_windows_without_nvidia_gets_pypis_build_which_is_the_cpu_one():
    plan = plans.plan_setup(Machine(os="windows", arch="x86_64"), TORCH)
    assert (plan.device, plan.index_url) == ("cpu", None)
    assert any("takes hours" in warning for warning in plan.warnings)


def test_a_driver_that_does_not_answer_is_named_in_the_warnings():
    plan = plans.plan_setup(Machine(os="linux", arch="x86_64", nvidia_problem="NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver."), TORCH)
    assert plan.device == "cpu" and "couldn't communicate with the NVIDIA driver" in plan.warnings[0]
    assert "press Repair" in plan.warnings[0]


def test_apple_silicon_gets_pypis_build_on_mps():
    plan = plans.plan_setup(Machine(os="macos", arch="arm64"), TORCH)
    assert (plan.ok, plan.device, plan.build, plan.index_url) == (True, "mps", "Apple GPU (MPS)", None)
    assert plan.warnings == () and plan.download_gb < 0.5


def test_apple_silicon_on_a_macos_older_than_the_wheel_is_told_to_update():
    plan = plans.plan_setup(Machine(os="macos", arch="arm64", macos_version=(13, 6)), TORCH)
    assert not plan.ok and f"torch {TORCH} needs macOS 14.0 or later, this Mac runs 13.6" in plan.refusal
    assert plans.plan_setup(Machine(os="macos", arch="arm64", macos_version=(15, 1)), TORCH).ok


def test_an_intel_mac_is_told_generation_is_not_supported():
    plan = plans.plan_setup(Machine(os="macos", arch="x86_64"), TORCH)
    assert not plan.ok and plan.refusal.startswith("Generation is not supported on Intel Macs")


def test_intel_blender_under_rosetta_is_told_to_install_the_apple_silicon_build():
    plan = plans.plan_setup(Machine(os="macos", arch="x86_64", translated=True), TORCH)
    assert not plan.ok and "Apple Silicon build of Blender" in plan.refusal


@pytest.mark.parametrize("os, arch", [("linux", "arm64"), ("windows", "arm64"), ("freebsd14", "x86_64")])
def test_other_platforms_are_refused(os, arch):
    plan = plans.plan_setup(Machine(os=os, arch=arch), TORCH)
    assert not plan.ok and f"this is {os} on {arch}" in plan.refusal


def test_a_torch_version_the_table_does_not_know_is_refused():
    plan = plans.plan_setup(Machine(os="linux", arch="x86_64"), "9.1.0")
    assert not plan.ok and "does not know which builds torch 9.1.0 has" in plan.refusal


def test_pinned_version_reads_requirement_lines():
    text = "# comment\ndiffusers==0.42.1\nTorch == 2.13.0  # the engine's\nnumpy<2\n"
    assert plans.pinned_version(text, "torch") == "2.13.0"
    assert plans.pinned_version(text, "numpy") is None
