"""Running the Blender side of a batch (`addon/batch_worker.py`) as a subprocess, with `bpy` or a Blender binary.

The worker is Blender-side code, so it lives in addon/; the engine only names its path and never imports it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from ..errors import EngineError

PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # the folder holding engine/ and addon/
WORKER = PACKAGE_ROOT / "addon" / "batch_worker.py"
RESULT_PREFIX = "NEURAL_PREVIS_RESULT "
BLENDER_VARIABLE = "NEURAL_PREVIS_BLENDER"


class BlenderError(EngineError):
    kind = "blender"


def default_blender() -> str:
    """$NEURAL_PREVIS_BLENDER (a Blender binary or a Python with bpy), else this interpreter."""
    return os.environ.get(BLENDER_VARIABLE) or sys.executable


def command_line(blender: str, command: str, request: dict) -> list[str]:
    arguments = [str(PACKAGE_ROOT), command, json.dumps(request)]
    if Path(blender).name.lower().startswith("blender"):
        return [blender, "-b", "--factory-startup", "--python-exit-code", "1", "--python", str(WORKER), "--", *arguments]
    return [blender, str(WORKER), *arguments]


def run_blender(blender: str, command: str, request: dict, timeout: float | None = None, log: Path | None = None) -> dict:
    """Run one worker command; returns its JSON answer (with "ok"). Raises BlenderError if it gave none."""
    try:
        done = subprocess.run(command_line(blender, command, request), capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError:
        raise BlenderError(f"cannot run '{blender}'; give --blender a Blender binary or a Python with the bpy module") from None
    except subprocess.TimeoutExpired:
        raise BlenderError(f"Blender did not finish '{command}' within {timeout:.0f} s") from None
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(f"$ {command} {json.dumps(request)}\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}\n", encoding="utf-8")
    answers = [line[len(RESULT_PREFIX) :] for line in done.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    if not answers:
        # Blender's headless GL prints harmless EGL complaints; the line that says why is usually above them.
        lines = [line for line in done.stderr.splitlines() if line.strip() and not line.startswith("EGL Error")]
        last = lines[-1].strip() if lines else "no message"
        raise BlenderError(f"Blender stopped without an answer to '{command}' (exit code {done.returncode}): {last}")
    return json.loads(answers[-1])
