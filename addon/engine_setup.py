"""Set Up Engine, carried out: the engine's own environment made and filled, one process at a time,
with progress read from pip, a cancel that stops pip, and a check of the result.

No bpy: the operator (operators/engine.py) drives ``EngineSetup.tick()`` from a timer, or
``run_blocking()`` in background mode. The steps:

1. ``python -m venv`` from Blender's Python (skipped when the environment exists; Repair re-creates
   it in place with ``--clear``, so a broken or half-installed environment starts clean);
2. ``pip install --upgrade pip`` (a new pip prints machine-readable progress);
3. ``pip install torch==<pin>`` from the plan's index (the CUDA, CPU or MPS build for this machine);
4. ``pip install -r engine/requirements.txt`` (torch is already there, so PyPI's build never replaces it);
5. ``python -m engine check`` in the new environment: imports torch and diffusers, reports the device.

Everything pip prints goes to a log file (pip writes more than a pipe holds, and the user may need
it); ``tick()`` reads what is new. Running it again after a cancel or a failure resumes: the
environment is kept, installed packages are skipped and fetched files come from pip's cache.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..engine.worker.lifetime import background_process_options
from .device_label import describe_device
from .engine_setup_plan import SetupPlan, pinned_version, plan_setup
from .machine import Machine
from .pip_progress import RAW_PROGRESS_PIP, PipProgress, pip_version

#: The engine's pinned requirements, shipped inside the extension.
ENGINE_REQUIREMENTS = Path(__file__).resolve().parents[1] / "engine" / "requirements.txt"

#: After Cancel: how long pip gets to exit on ``terminate()`` before it is killed.
TERMINATE_GRACE_S = 3.0


def plan_for(machine: Machine, requirements: Path = ENGINE_REQUIREMENTS) -> SetupPlan:
    """The plan for this machine and a requirements file: its torch pin, else the engine's."""
    for path in (requirements, ENGINE_REQUIREMENTS):
        pin = pinned_version(path.read_text(encoding="utf-8"), "torch") if path.is_file() else None
        if pin:
            return plan_setup(machine, pin)
    return plan_setup(machine, "unknown")


def python_in_environment(environment: Path) -> Path:
    return environment / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")


@dataclass
class Step:
    label: str
    command: list[str] = field(default_factory=list)
    kind: str = "run"
    """``run``, ``pip`` (progress parsed), or ``check`` (the last one)."""


@dataclass
class SetupProgress:
    step: int = 0
    steps: int = 0
    label: str = ""
    detail: str = ""
    fraction: float = 0.0
    """Of the file being fetched, when pip says; else 0."""

    def text(self) -> str:
        head = f"Step {self.step} of {self.steps}: {self.label}" if self.steps else self.label
        return f"{head} — {self.detail}" if self.detail else head


class SetupError(Exception):
    """Set-up failed; the message says why and what to do."""


class EngineSetup:
    def __init__(self, *, base_python: str, environment: Path, requirements: Path, package_root: Path, plan: SetupPlan,
                 log_path: Path, repair: bool = False, env: dict | None = None):
        self.base_python = base_python
        self.environment = Path(environment)
        self.requirements = Path(requirements)
        self.package_root = Path(package_root)
        self.plan = plan
        self.log_path = Path(log_path)
        self.repair = repair
        self.env = dict(os.environ if env is None else env)
        self.progress = SetupProgress()
        self.ready: str = ""
        """After success: ``Ready: NVIDIA GeForce RTX 4090, 24 GB, CUDA 12.8``."""
        self.report: dict | None = None
        """After success: what ``python -m engine check`` said."""
        self.cancelled = False
        self.finished = False
        self._steps: list[Step] = []
        self._index = -1
        self._process: subprocess.Popen | None = None
        self._log = None
        self._read_offset = 0
        self._partial = ""
        self._pip = PipProgress()
        self._output: list[str] = []
        self._pip_version: tuple[int, int] | None = None

    @property
    def python(self) -> Path:
        return python_in_environment(self.environment)

    # -- the steps ------------------------------------------------------------------------------

    def _plan_steps(self) -> list[Step]:
        python = str(self.python)
        steps = []
        if self.repair or not self.python.is_file():
            venv = [self.base_python, "-m", "venv"] + (["--clear"] if self.repair else []) + [str(self.environment)]
            steps.append(Step("Creating the engine's Python environment", venv))
        pip = [python, "-m", "pip", "install", "--disable-pip-version-check", "--no-input"]
        steps.append(Step("Updating pip", pip + ["--upgrade", "pip"], "pip"))
        if pinned_version(self.requirements.read_text(encoding="utf-8"), "torch"):
            index = ["--index-url", self.plan.index_url] if self.plan.index_url else []
            steps.append(Step(f"Installing torch ({self.plan.build})", pip + [self.plan.torch_requirement] + index, "pip"))
        steps.append(Step("Installing diffusers and the engine's other requirements", pip + ["-r", str(self.requirements)], "pip"))
        steps.append(Step("Checking the new environment", [python, "-m", "engine", "check"], "check"))
        return steps

    def _command(self, step: Step) -> list[str]:
        if step.kind == "pip" and self._pip_version is not None and self._pip_version >= RAW_PROGRESS_PIP:
            return step.command + ["--progress-bar", "raw"]
        return step.command

    # -- running --------------------------------------------------------------------------------

    def start(self) -> None:
        if not self.plan.ok:
            raise SetupError(self.plan.refusal)
        if not self.requirements.is_file():
            raise SetupError(f"The requirements file {self.requirements} is missing; reinstall the add-on")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_path.write_text("", encoding="utf-8")
        # Appending: pip (sharing this file as its stdout) and our own lines never overwrite each other.
        self._log = open(self.log_path, "a", encoding="utf-8")
        self._log.write(f"Set Up Engine{' (Repair)' if self.repair else ''}: {self.plan.summary()}\n")
        self._log.flush()
        self._steps = self._plan_steps()
        self._start_next()

    def _start_next(self) -> None:
        self._index += 1
        step = self._steps[self._index]
        self.progress = SetupProgress(self._index + 1, len(self._steps), step.label)
        self._pip = PipProgress()
        self._output = []
        command = self._command(step)
        env = dict(self.env)
        env.update(PYTHONUNBUFFERED="1", PYTHONUTF8="1", PYTHONIOENCODING="utf-8")
        for variable in ("PYTHONHOME", "PYTHONSTARTUP"):  # Blender's own Python must not leak into these
            env.pop(variable, None)
        cwd = None
        if step.kind == "check":
            env["PYTHONPATH"] = os.pathsep.join(p for p in (str(self.package_root), env.get("PYTHONPATH")) if p)
            cwd = str(self.package_root)
        self._log.write("$ " + subprocess.list2cmdline(command) + "\n")
        self._log.flush()
        self._read_offset = self.log_path.stat().st_size
        try:
            self._process = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                             env=env, cwd=cwd, **background_process_options())
        except OSError as error:
            raise SetupError(f"Cannot run {command[0]}: {error.strerror}; {self.log_hint()}") from None

    def tick(self) -> bool:
        """Read what the running step printed, start the next one when it ends. True while running;
        raises ``SetupError`` when a step fails."""
        if self.finished:
            return False
        self._read_new_output()
        if self._process.poll() is None:
            return True
        self._read_new_output()
        step = self._steps[self._index]
        if self._process.returncode != 0 and step.kind != "check":
            self._close()
            raise SetupError(self._failure(step))
        if step.label == "Updating pip":
            self._pip_version = pip_version("\n".join(self._output))
        if step.kind == "check":
            self._close()
            self._judge(self._check_report())
            return False
        self._start_next()
        return True

    def cancel(self) -> None:
        """Stop the running step: ``terminate()``, then ``kill()`` if pip does not exit in time."""
        self.cancelled = True
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(TERMINATE_GRACE_S)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._close()

    def run_blocking(self, on_progress=None, poll_s: float = 0.2) -> None:
        """Background mode: run every step to the end (Ctrl-C cancels like Esc)."""
        self.start()
        last = None
        try:
            while self.tick():
                if on_progress is not None and self.progress.text() != last:
                    last = self.progress.text()
                    on_progress(self.progress)
                time.sleep(poll_s)
        except KeyboardInterrupt:
            self.cancel()
            raise

    # -- output ---------------------------------------------------------------------------------

    def _read_new_output(self) -> None:
        try:
            with open(self.log_path, "rb") as log:
                log.seek(self._read_offset)
                data = log.read()
        except OSError:
            return
        self._read_offset += len(data)
        text = self._partial + data.decode("utf-8", errors="replace")
        *lines, self._partial = text.replace("\r", "\n").split("\n")
        for line in lines:
            if line.strip():
                self._output.append(line)
                self._pip.feed(line)
        if self._steps[self._index].kind == "pip":
            self.progress.detail = self._pip.describe()
            self.progress.fraction = self._pip.file_fraction

    def _failure(self, step: Step) -> str:
        said = self._pip.error or next((line.strip() for line in reversed(self._output) if line.strip()), "no output")
        return f"{step.label} failed: {said}; {self.log_hint()}"

    def log_hint(self) -> str:
        return f"the full output is in {self.log_path}"

    def _check_report(self) -> dict:
        for line in reversed(self._output):
            if line.startswith('{"type": "check"'):
                try:
                    return json.loads(line)
                except ValueError:
                    break
        last = next((line.strip() for line in reversed(self._output) if line.strip()), "no output")
        return {"ok": False, "problem": last}

    def _judge(self, report: dict) -> None:
        self.finished = True
        if not report.get("ok"):
            raise SetupError(f"The new environment cannot run the engine: {report.get('problem')}; press Repair, "
                             f"and if that does not help, {self.log_hint()}")
        expected = self.plan.torch_requirement.split("==", 1)[1]
        found = report.get("torch_version", "")
        if found.split("+", 1)[0] != expected:
            raise SetupError(f"The environment has torch {found}, the engine needs {expected}: press Repair")
        if self.plan.device != report.get("device_type"):
            why = report.get("cuda_problem") or f"torch runs on {report.get('device_type')}"
            raise SetupError(f"torch was installed for {self.plan.build} but cannot use the GPU ({why}): update the "
                             "GPU driver and press Repair")
        self.report = report
        self.ready = f"Ready: {describe_device(report)}"

    def _close(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None
