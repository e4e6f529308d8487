"""The engine's device in words, for the preferences, the panel and Set Up Engine's "Ready: ..." line.

Pure: reads a worker's ``hello`` or the JSON of ``python -m engine check`` (the same keys).
"""

from __future__ import annotations


def _get(device, key: str, default=None):
    return device.get(key, default) if isinstance(device, dict) else getattr(device, key, default)


def describe_device(device) -> str:
    """``NVIDIA GeForce RTX 4090, 24 GB, CUDA 12.8``, ``Apple M3 Max (MPS)`` or ``CPU: <name>``."""
    kind = _get(device, "device_type", "")
    name = _get(device, "device_name", "") or _get(device, "device", "") or "unknown device"
    if kind == "cuda":
        memory = _get(device, "device_memory", 0) or 0
        parts = [name] + ([f"{memory / 2**30:.0f} GB"] if memory else []) + (
            [f"CUDA {_get(device, 'cuda_version')}"] if _get(device, "cuda_version") else [])
        return ", ".join(parts)
    if kind == "mps":
        return f"{name} (MPS)"
    if kind == "cpu":
        return f"CPU: {name}"
    return _get(device, "device", "") or "unknown device"


def runs_on_cpu(device) -> bool:
    return _get(device, "device_type", "") == "cpu" or (not _get(device, "device_type", "") and _get(device, "device", "") == "cpu")


def engine_line(status: str, device, running: bool) -> str:
    """The panel's engine line: its status and what it runs on (or last ran on), a CPU flagged as slow."""
    line = f"Engine: {status}"
    if device is not None and not running:
        line += f"; last ran on {describe_device(device)}"
    if device is not None and runs_on_cpu(device):
        line += " (CPU: only tiny-random is quick)"
    return line
