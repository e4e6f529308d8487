"""Start Blender (the bpy module) with a throw-away user folder and the built extension installed from its zip.

This is how `make demo`, the benchmarks and the Blender tests meet the extension: exactly as a user
installs it (Install from Disk), never from the source tree.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EXTENSION_MODULE = "bl_ext.user_default.neural_previs"


def built_package() -> Path:
    version = re.search(r'^version = "([^"]+)"', (REPO / "blender_manifest.toml").read_text(), re.M).group(1)
    return REPO / "dist" / f"neural_previs-{version}.zip"


def isolate_user_folder() -> None:
    """Point Blender's user folder at a fresh temporary one; must run before bpy is first imported.

    Its path has a space and accents, as a Windows user folder often does (C:\\Users\\Usér Nàme\\...):
    the extension, its engine environment, logs and caches all live under it."""
    if "bpy" in sys.modules:
        raise RuntimeError("bpy was imported before the Blender user folder was isolated")
    os.environ["BLENDER_USER_RESOURCES"] = tempfile.mkdtemp(prefix="neural_previs Usér Nàme ")


def start_blender_with_extension():
    """Import bpy with an isolated user folder and install + enable the extension; returns bpy."""
    if "bpy" not in sys.modules:
        isolate_user_folder()
    import bpy

    package = built_package()
    if not package.is_file():
        raise SystemExit(f"{package} is missing; run 'make build' first")
    if EXTENSION_MODULE not in bpy.context.preferences.addons:
        result = bpy.ops.extensions.package_install_files(filepath=str(package), repo="user_default", enable_on_install=True)
        if result != {"FINISHED"} or EXTENSION_MODULE not in bpy.context.preferences.addons:
            raise SystemExit(f"Installing {package} into Blender failed")
    return bpy
