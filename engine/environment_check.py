"""``python -m engine check``: can this Python run the engine, and on what?

Imports torch and diffusers (which is what a take needs first), asks torch for the default device,
and prints one JSON line on stdout: ``{"type": "check", "ok": true, "device_type": "cuda",
"device_name": "NVIDIA GeForce RTX 4090", "device_memory": 25757220864, "cuda_version": "12.8", ...}``
or ``{"type": "check", "ok": false, "problem": "..."}``. Exit code 0 only when ``ok``. The add-on's
Set Up Engine runs it last, in the new environment, and turns it into its "Ready: ..." line.
"""

from __future__ import annotations

import json
import platform
import warnings


def check() -> dict:
    try:
        import torch
    except Exception as error:  # an ImportError, or a broken binary raising OSError on load
        return {"ok": False, "problem": f"torch cannot be imported ({type(error).__name__}: {error})"}
    try:
        import diffusers
        import transformers
    except Exception as error:
        return {"ok": False, "problem": f"diffusers or transformers cannot be imported ({type(error).__name__}: {error})"}
    from .generation.runtime import device_report

    with warnings.catch_warnings(record=True) as caught:  # torch explains a too-old driver as a warning
        warnings.simplefilter("always")
        cuda_available = torch.cuda.is_available()
    report = {"ok": True, **device_report()}
    report.update(
        python_version=platform.python_version(),
        diffusers_version=diffusers.__version__,
        transformers_version=transformers.__version__,
    )
    if torch.version.cuda and not cuda_available:
        said = "; ".join(str(w.message).splitlines()[0] for w in caught if str(w.message).strip())
        report["cuda_problem"] = said or "torch's CUDA build sees no NVIDIA GPU"
    return report


def main(out) -> int:
    """Write the report to ``out`` (the reserved stdout: library chatter goes to stderr)."""
    report = check()
    out.write(json.dumps({"type": "check", **report}, ensure_ascii=True) + "\n")
    out.flush()
    return 0 if report["ok"] else 1
