"""Blender tests: the real `bpy` module with the extension installed from its built zip, as a user installs it.

The Blender user directory is a throw-away folder, so nothing touches a real Blender configuration.
"""

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from demo.blender_session import EXTENSION_MODULE, built_package, isolate_user_folder, start_blender_with_extension  # noqa: E402

isolate_user_folder()  # before any test module imports bpy


@pytest.fixture(scope="session", autouse=True)
def installed_extension():
    if not built_package().is_file():
        pytest.exit(f"{built_package()} is missing; run 'make build' (make test does it)", returncode=2)
    start_blender_with_extension()
    yield EXTENSION_MODULE


@pytest.fixture
def empty_scene():
    """A new empty file (the extension stays enabled): the test builds what it needs."""
    import bpy

    bpy.ops.wm.read_homefile(use_empty=True)
    return bpy.context.scene


@pytest.fixture(scope="session")
def textured_renders(installed_extension, tmp_path_factory):
    """demo/textured_set.py rendered once per session: its bundle, a Cycles render of every frame and, for pairs of
    frames, Blender's own ray casts of what the earlier frame's camera sees (see rendered_set.py)."""
    import rendered_set

    return rendered_set.render(tmp_path_factory.mktemp("textured_set"))
