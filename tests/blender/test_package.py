"""The built extension package: what the manifest declares and what the zip carries."""

import tomllib
import zipfile

from demo.blender_session import built_package


def test_manifest_declares_the_extension():
    with zipfile.ZipFile(built_package()) as package:
        manifest = tomllib.loads(package.read("blender_manifest.toml").decode())
    assert manifest["id"] == "neural_previs"
    assert manifest["name"] == "Neural Previs"
    assert manifest["type"] == "add-on"
    assert manifest["blender_version_min"] == "4.2.0"
    assert manifest["license"] == ["SPDX:GPL-3.0-or-later"]
    assert set(manifest["permissions"]) == {"files", "network"}
    assert "Set Up Engine" in manifest["permissions"]["network"]
    assert manifest["platforms"] == ["windows-x64", "macos-arm64", "linux-x64"]


def test_blender_accepts_the_manifest_for_every_platform_it_names():
    """Blender's own extension tool checks the built package (make build runs it too)."""
    import subprocess
    import sys
    from pathlib import Path

    import bpy

    tool = Path(bpy.utils.system_resource("SCRIPTS")) / "addons_core" / "bl_pkg" / "cli" / "blender_ext.py"
    result = subprocess.run([sys.executable, str(tool), "validate", str(built_package())], capture_output=True, text=True)
    assert result.returncode == 0 and "Success" in result.stdout, result.stdout + result.stderr


def test_package_carries_the_extension_and_no_development_files():
    with zipfile.ZipFile(built_package()) as package:
        names = package.namelist()
    top_level = {name.split("/")[0] for name in names}
    assert {"__init__.py", "blender_manifest.toml", "addon", "operators", "ui", "engine"} <= top_level
    assert not top_level & {"tests", "benchmarks", "demo", "docs", ".ci", ".venv", ".venv42", "dist", "Makefile", "pyproject.toml", ".git"}
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]
    # 'Set Up Engine' installs the engine's environment from the requirements inside the package.
    assert {"engine/requirements.txt", "engine/requirements-batch.txt"} <= set(names)
