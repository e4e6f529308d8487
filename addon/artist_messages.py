"""What Blender says when the engine refuses or fails: the engine's one line, in the artist's words.

The engine speaks to the command line ("run again with --download", "retry with --offload model");
in Blender the same advice names the panel's fields and buttons. The engine's own line always goes to
the log as well (addon/generation.py), so nothing is lost in translation. Pure Python: no bpy.
"""

from __future__ import annotations

import re

# The engine's flags, as the fields and choices of the Neural Previs panel and preferences.
_FLAG_VALUES = {
    ("offload", "none"): "Memory Profile 'Fastest'",
    ("offload", "model"): "Memory Profile 'Less Memory'",
    ("offload", "group"): "Memory Profile 'Least Memory'",
    ("device", "cpu"): "Device 'CPU' (Neural Previs preferences)",
    ("mode", "selective"): "Mode 'Selective'",
    ("mode", "restyle"): "Mode 'Restyle'",
    ("weights", "fp8"): "Weights 'FP8'",
    ("weights", "auto"): "Weights 'As Loaded'",
}
_FLAGS = {
    "offload": "Memory Profile",
    "device": "Device (Neural Previs preferences)",
    "model": "Model",
    "prompt": "Prompt",
    "negative-prompt": "Negative Prompt",
    "objects": "Objects to Regenerate",
    "plate": "Plate",
    "plate-from": "Set Reference (Sequencer tab)",
    "reference": "Reference",
    "steps": "Steps",
    "guidance": "Guidance",
    "seed": "Seed",
    "quality": "Quality",
    "conditioning-scale": "Strength",
    "mode": "Mode",
    "out": "Output Folder",
    "download": "Download",
    "lora": "LoRAs",
    "keyframe": "Keyframes",
    "control": "Neural Previs Control (Object properties)",
    "weights": "Weights",
}

_SWITCHES = {"download"}  # flags that take no value: what follows them is the sentence going on

_NOT_DOWNLOADED = re.compile(r"weights for (?P<model>\S+) are (?:not|only partly) downloaded")
_FLAG_WITH_VALUE = re.compile(r"--(?P<flag>[a-z][a-z-]*)(?: (?P<value>[A-Za-z0-9_.:-]+))?")
_SHELL_COMMAND = re.compile(r",? ?or [a-z ]*? with `[^`]*`")


def for_artist(message: str, kind: str = "") -> str:
    """One line for the panel: what happened and what to do, naming Blender's fields, never a flag."""
    not_downloaded = _NOT_DOWNLOADED.search(message)
    if not_downloaded:
        model = not_downloaded.group("model")
        return f"The model '{model}' is not installed on this machine; download it (Download, next to Model) or pick an installed model"
    if kind == "internal":
        return "The engine hit an unexpected problem (a bug); the details are in the log. Try again, or report it with the log"
    if kind == "worker":
        return "The engine stopped unexpectedly (the details are in the log); press Generate again to restart it"
    text = _SHELL_COMMAND.sub("", message)
    text = _FLAG_WITH_VALUE.sub(_field, text)
    text = text.replace("; see the worker's stderr", "; the details are in the log")
    return text[:1].upper() + text[1:]


def _field(match: re.Match) -> str:
    """`--offload model` → `Memory Profile 'Less Memory'`; `--model tiny-random` → `Model 'tiny-random'`;
    a placeholder (`--plate FRAMES_DIR`) → `the Plate field`; `--download to fetch` → `Download to fetch`."""
    flag, value = match.group("flag"), match.group("value")
    if (flag, value) in _FLAG_VALUES:
        return _FLAG_VALUES[(flag, value)]
    label = _FLAGS.get(flag, flag.replace("-", " ").title())
    if flag in _SWITCHES:
        return f"{label} {value}" if value else label
    if value is None or value.isupper() or value.endswith(","):
        return f"the {label} field"
    return f"{label} '{value}'"
