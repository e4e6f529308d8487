"""Makes the repository importable as the package `neural_previs`, as Blender imports the extension.

Pure modules (addon.camera_math, addon.image_files, ...) are then testable without Blender.
Importing the package runs only the register-only __init__.py, which imports nothing at load time.
"""

import importlib.util
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

if "neural_previs" not in sys.modules:
    _spec = importlib.util.spec_from_file_location("neural_previs", REPO / "__init__.py", submodule_search_locations=[str(REPO)])
    _package = importlib.util.module_from_spec(_spec)
    sys.modules["neural_previs"] = _package
    _spec.loader.exec_module(_package)
