"""Put on PYTHONPATH by tests/engine/test_without_unix_modules.py: this Python behaves, for Neural
Previs's own code, like one where the Unix-only modules do not exist (Windows).

An import of one of them made from a file of the extension (engine/, addon/, operators/, ui/, at any
depth, at load time or inside a function) raises ModuleNotFoundError, exactly as on Windows. Imports
made by the standard library and third-party packages go through: on Windows those take their own
Windows code paths, which this Linux machine cannot run.
"""

import builtins
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from platform_modules import WITHHELD_FROM_ENGINE  # noqa: E402

sys.path.pop(0)
_REPO = Path(os.environ["NEURAL_PREVIS_WITHHOLD_FROM"]).resolve()
_OURS = tuple(str(_REPO / name) + os.sep for name in ("engine", "addon", "operators", "ui"))
_IMPORT_MACHINERY = ("<frozen importlib", str(Path(__import__("importlib").__file__).parent) + os.sep)


def _importer_file() -> str:
    """The file of the code that asked for the import (the first frame outside importlib)."""
    frame = sys._getframe(2)
    while frame is not None and frame.f_code.co_filename.startswith(_IMPORT_MACHINERY):
        frame = frame.f_back
    return frame.f_code.co_filename if frame is not None else ""


def _refuse(name: str, importer: str) -> None:
    if name.split(".")[0] in WITHHELD_FROM_ENGINE and importer.startswith(_OURS):
        print(f"withheld: {name} imported by {importer}", file=sys.stderr)
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)


class WithholdUnixModules:
    """For ``importlib.import_module`` and imports of modules not loaded yet."""

    def find_spec(self, name, path=None, target=None):
        _refuse(name, _importer_file())
        return None


_real_import = builtins.__import__


def _import(name, globals=None, locals=None, fromlist=(), level=0):
    """For ``import`` statements, also of a module the standard library has already loaded (a cache
    hit never reaches the finder)."""
    if level == 0:
        _refuse(name, (globals or {}).get("__file__") or "")
    return _real_import(name, globals, locals, fromlist, level)


builtins.__import__ = _import
sys.meta_path.insert(0, WithholdUnixModules())
