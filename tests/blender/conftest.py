"""Blender tests: the real `bpy` module with the extension installed from its built zip, as a user installs it.

The Blender user directory is a throw-away folder, so nothing touches a real Blender configuration.
"""

import os
import re
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
_USER_DIR = tempfile.mkdtemp(prefix="neural_previs_blender_user_")
os.environ["BLENDER_USER_RESOURCES"] = _USER_DIR  # must be set before bpy is imported

import bpy  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

EXTENSION_MODULE = "bl_ext.user_default.neural_previs"


def built_package() -> Path:
    version = re.search(r'^version = "([^"]+)"', (REPO / "blender_manifest.toml").read_text(), re.M).group(1)
    package = REPO / "dist" / f"neural_previs-{version}.zip"
    if not package.is_file():
        pytest.exit(f"{package} is missing; run 'make build' (make test does it)", returncode=2)
    return package


@pytest.fixture(scope="session", autouse=True)
def installed_extension():
    result = bpy.ops.extensions.package_install_files(filepath=str(built_package()), repo="user_default", enable_on_install=True)
    assert result == {"FINISHED"}
    assert EXTENSION_MODULE in bpy.context.preferences.addons
    yield EXTENSION_MODULE


@pytest.fixture
def empty_scene():
    """A new empty file (the extension stays enabled): the test builds what it needs."""
    bpy.ops.wm.read_homefile(use_empty=True)
    return bpy.context.scene
