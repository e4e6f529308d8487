"""The commands Set Up Engine runs for a plan (the real runs are in tests/blender/test_engine_setup.py)."""

import sys
from pathlib import Path

from neural_previs.addon.engine_setup import EngineSetup, plan_for, python_in_environment
from neural_previs.addon.machine import Machine, NvidiaGpu


def setup_for(tmp_path, machine, requirements_text="torch==2.13.0\ndiffusers==0.42.1\n", repair=False, environment_exists=False):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(requirements_text)
    environment = tmp_path / "Usér Nàme" / "engine-env"
    if environment_exists:
        python = python_in_environment(environment)
        python.parent.mkdir(parents=True)
        python.write_text("")
    return EngineSetup(base_python=sys.executable, environment=environment, requirements=requirements, package_root=tmp_path,
                       plan=plan_for(machine, requirements), log_path=tmp_path / "setup.log", repair=repair)


def commands(setup):
    return [step.command for step in setup._plan_steps()]


WINDOWS_RTX = Machine(os="windows", arch="x86_64", gpu=NvidiaGpu("NVIDIA GeForce RTX 4090", 24564, "591.86", (13, 1), (8, 9)))


def test_a_first_set_up_makes_the_environment_then_installs_torch_from_the_plans_index(tmp_path):
    setup = setup_for(tmp_path, WINDOWS_RTX)
    venv, pip, torch, rest, check = commands(setup)
    assert venv == [sys.executable, "-m", "venv", str(setup.environment)]
    assert pip[:4] == [str(setup.python), "-m", "pip", "install"] and pip[-2:] == ["--upgrade", "pip"]
    assert torch[-3:] == ["torch==2.13.0", "--index-url", "https://download.pytorch.org/whl/cu130"]
    assert rest[-2:] == ["-r", str(setup.requirements)]
    assert check == [str(setup.python), "-m", "engine", "check"]


def test_a_second_run_keeps_the_environment(tmp_path):
    setup = setup_for(tmp_path, Machine(os="linux", arch="x86_64"), environment_exists=True)
    labels = [step.label for step in setup._plan_steps()]
    assert labels[0] == "Updating pip" and len(labels) == 4


def test_repair_recreates_the_same_environment_in_place(tmp_path):
    setup = setup_for(tmp_path, Machine(os="linux", arch="x86_64"), repair=True, environment_exists=True)
    venv = commands(setup)[0]
    assert venv == [sys.executable, "-m", "venv", "--clear", str(setup.environment)]


def test_byte_progress_is_asked_for_only_from_a_pip_that_has_it(tmp_path):
    setup = setup_for(tmp_path, Machine(os="linux", arch="x86_64"))
    torch = setup._plan_steps()[2]
    assert "--progress-bar" not in setup._command(torch)  # pip not upgraded yet (23.2: no raw mode)
    setup._pip_version = (24, 1)
    assert setup._command(torch)[-2:] == ["--progress-bar", "raw"]


def test_requirements_without_torch_skip_the_torch_step(tmp_path):
    setup = setup_for(tmp_path, Machine(os="macos", arch="arm64"), requirements_text="diffusers==0.42.1\n")
    assert [step.label for step in setup._plan_steps()][2:] == [
        "Installing diffusers and the engine's other requirements", "Checking the new environment"]
    assert setup.plan.torch_requirement == "torch==2.13.0"  # the engine's own pin still decides the plan


def test_apple_silicon_installs_torch_from_pypi(tmp_path):
    setup = setup_for(tmp_path, Machine(os="macos", arch="arm64"))
    torch = commands(setup)[2]
    assert torch[-1] == "torch==2.13.0" and "--index-url" not in torch
    assert Path(setup.python).name == ("python.exe" if sys.platform == "win32" else "python")
