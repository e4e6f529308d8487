"""The ``loras`` parameter's entries: ``{"path", "weight"}``, or ``PATH_OR_REPO[:WEIGHT]`` text (the
command line, shot lists), and the checks of their form. No file is read here: whether a file is a
LoRA the model can take is ``engine.models.loras``'s question. Pure.
"""

from __future__ import annotations

import math
import re

from ..errors import ParamsError

#: Weights people use sit in [-2, 2]; anything outside [-10, 10] is a typo.
MAX_WEIGHT = 10.0
DEFAULT_WEIGHT = 1.0
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def parse_lora_argument(text: str) -> dict:
    """``PATH_OR_REPO[:WEIGHT]`` -> ``{"path": ..., "weight": ...}`` (weight 1.0 when not given).

    The weight is what follows the last ``:`` when that is a number; a Windows drive letter is not
    one (``C:\\loras\\x.safetensors`` is a path, ``C:\\loras\\x.safetensors:0.8`` a path and 0.8)."""
    if not isinstance(text, str) or not text.strip():
        raise ParamsError("a LoRA is empty: give a .safetensors file or a repo id, e.g. --lora style.safetensors:0.8")
    text = text.strip()
    path, colon, tail = text.rpartition(":")
    if colon and path and _NUMBER.match(tail.strip()) and not _is_drive(path):
        return {"path": path, "weight": float(tail)}
    return {"path": text, "weight": DEFAULT_WEIGHT}


def _is_drive(text: str) -> bool:
    """``C`` (as in ``C:0.5``, a file named ``0.5`` on drive C's current folder)."""
    return len(text) == 1 and text.isalpha()


def normalize_loras(value) -> list:
    """The ``loras`` parameter as a list of ``{"path", "weight"}``: each entry may also be a
    ``PATH[:WEIGHT]`` string (shot lists, the command line). Anything else is left for ``check_loras``."""
    if value is None:
        return []
    if not isinstance(value, list):
        return value
    return [parse_lora_argument(entry) if isinstance(entry, str) else entry for entry in value]


def check_loras(loras) -> None:
    """Raise ``ParamsError`` for a malformed ``loras`` list (no file is looked at)."""
    if not isinstance(loras, list):
        raise ParamsError('loras must be a list of {"path": ..., "weight": ...}')
    seen = set()
    for entry in loras:
        if not isinstance(entry, dict):
            raise ParamsError(f'each LoRA must be {{"path": ..., "weight": ...}}, got {entry!r}')
        unknown = sorted(set(entry) - {"path", "weight"})
        if unknown:
            raise ParamsError(f"unknown LoRA key(s) {', '.join(unknown)}; a LoRA has path and weight")
        path, weight = entry.get("path"), entry.get("weight", DEFAULT_WEIGHT)
        if not isinstance(path, str) or not path.strip():
            raise ParamsError(f"a LoRA's path must be a file or repo id (a non-empty string), got {path!r}")
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight) \
                or abs(weight) > MAX_WEIGHT:
            raise ParamsError(f"LoRA {path}: weight must be a number from -{MAX_WEIGHT:g} to {MAX_WEIGHT:g}, got {weight!r}")
        if path in seen:
            raise ParamsError(f"LoRA {path} is listed twice: list it once with the sum of the weights")
        seen.add(path)
