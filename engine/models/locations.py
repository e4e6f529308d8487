"""Where the engine keeps what it builds, and where Hugging Face keeps what it downloads.

Read from the environment at call time (``NEURAL_PREVIS_CACHE``; ``HF_HUB_CACHE``, ``HF_HOME``), so
the Blender add-on and tests can point a worker somewhere else through its environment. Pure.
"""

from __future__ import annotations

import os
from pathlib import Path


def engine_cache_dir() -> Path:
    """Where the engine keeps what it builds itself (the tiny-random model, Inductor's kernels)."""
    root = os.environ.get("NEURAL_PREVIS_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "neural_previs")
    return Path(root)


def models_home() -> Path:
    """The Hugging Face home (``HF_HOME``, default ``~/.cache/huggingface``): the add-on's Models Folder.
    Diffusers folders put directly inside it are offered as models too (``installed.local_folders``)."""
    home = os.environ.get("HF_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "huggingface")
    return Path(home).expanduser()


def hub_cache_dir() -> Path:
    """The Hugging Face hub cache, read from the environment at call time (``HF_HUB_CACHE``, ``HF_HOME``)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    return models_home() / "hub"
