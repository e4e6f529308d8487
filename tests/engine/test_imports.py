"""The add-on imports the engine's pure modules inside Blender, which has no torch."""

import subprocess
import sys

from engine_testlib import REPO_ROOT


def test_pure_modules_do_not_import_torch_or_bpy():
    code = (
        "import sys\n"
        "import engine, engine.worker.protocol, engine.worker.client, engine.formats.bundle, engine.formats.params\n"
        "import engine.formats.shotlist, engine.generation.snapping, engine.backends, engine.models.catalog, engine.models.weights\n"
        "import engine.models.repo_files, engine.models.installed, engine.models.locations, engine.progress_bar\n"
        "import engine.formats.motion, engine.formats.take_folder, engine.generation.reprojection, engine.qc.score, engine.qc.report, engine.qc.cli\n"
        "import engine.backends.base, engine.speed.policy, engine.speed.switches, engine.speed.quality, engine.speed.prompt_cache\n"
        "heavy = sorted(m for m in ('torch', 'diffusers', 'transformers', 'bpy', 'OpenEXR', 'PIL', 'huggingface_hub')\n"
        "               if m in sys.modules)\n"
        "print(','.join(heavy))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""


def test_bundle_exports_schema():
    from engine.formats import bundle

    assert bundle.SCHEMA == "neural_previs.bundle/1.1"
