"""Download and Delete from Blender: the installed extension's operators run the engine's own
`python -m engine download` against a Hub on 127.0.0.1 (tests/hub_server.py), into a Models Folder
whose path has a space and an accent.

The bpy module is Blender in background mode with no event loop: `INVOKE_DEFAULT` has no event to
give, so it runs `execute`, and timers never fire. The modal path is therefore driven as Blender's
window manager drives it: a subclass of the real operator enters its modal path (`_run_modal`: a
timer and a modal handler on the real window), the live operator is taken from
`window.modal_operators`, and TIMER/ESC events are handed to its `modal()`; a file load makes Blender
itself call `cancel()`."""

import importlib
import os
import subprocess
import sys
import threading
import time
import types

import bpy
import pytest

import scenes
from demo.blender_session import REPO
from tests.hub_server import LocalHub, Repo, pad_safetensors

ENGINE_PYTHON = os.environ.get("NEURAL_PREVIS_TEST_ENGINE_PYTHON", sys.executable)
REPO_ID = "studio/tiny-vace"
BIG = "transformer/diffusion_pytorch_model.safetensors"
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def repo_files(tmp_path_factory):
    """The engine's tiny-random pipeline (built by the engine's Python: bpy and torch never share a
    process), its transformer padded past huggingface_hub's 10 MiB chunk, plus a stray root checkpoint."""
    folder = tmp_path_factory.mktemp("hub-repo") / "tiny"
    build = "import sys; from pathlib import Path; from engine.backends import tiny_random; tiny_random.build(Path(sys.argv[1]))"
    subprocess.run([ENGINE_PYTHON, "-c", build, str(folder)], cwd=REPO, check=True, timeout=300,
                   env={**os.environ, "PYTHONPATH": str(REPO)})
    pad_safetensors(folder / BIG, 13 * MIB)
    files = Repo.from_folder(folder).files
    files["v1-5-pruned-emaonly.ckpt"] = b"pickled checkpoint" * 100
    return files


@pytest.fixture
def modules(installed_extension):
    def load(name):
        return importlib.import_module(f"{installed_extension}.{name}")

    return load


@pytest.fixture
def models_folder(tmp_path, monkeypatch, modules, installed_extension):
    monkeypatch.setenv("NEURAL_PREVIS_PYTHON", ENGINE_PYTHON)
    for variable in ("HF_HUB_OFFLINE", "HF_TOKEN", "HF_HUB_CACHE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("HF_TOKEN_PATH", str(tmp_path / "no-token"))
    modules("addon.engine_session").stop()
    preferences = bpy.context.preferences.addons[installed_extension].preferences
    system = bpy.context.preferences.system
    before = (preferences.models_directory, system.use_online_access)
    folder = tmp_path / "Modèles partagés"
    preferences.models_directory = str(folder)
    system.use_online_access = True
    yield folder
    modules("addon.model_download").stop()
    modules("addon.engine_session").stop()
    preferences.models_directory, system.use_online_access = before


def event(kind, value="NOTHING"):
    """What Blender's window manager hands to modal(): the operator reads `type` and `value`."""
    return types.SimpleNamespace(type=kind, value=value)


def ui_download_operator(modules):
    """The real operator's code, entered through its modal path as a click in the UI would (see the module
    docstring). A copy of its methods, not a subclass: Blender maps one Python class to each registered type."""
    real = modules("operators.models").NEURAL_PREVIS_OT_model_download
    namespace = {k: v for k, v in vars(real).items() if k not in ("bl_rna", "__dict__", "__weakref__", "__module__", "__doc__")}
    namespace["bl_idname"] = "neural_previs.model_download_ui_path"
    namespace["execute"] = lambda self, context: self._begin(context) or self._run_modal(context)
    return type("NEURAL_PREVIS_OT_model_download_ui_path", (bpy.types.Operator,), namespace)


def live_operator():
    (operator,) = [op for op in bpy.context.window.modal_operators if op.bl_idname.endswith("model_download_ui_path")]
    return operator


def tick_until(operator, condition, limit_s=60):
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        result = operator.modal(bpy.context, event("TIMER"))
        if condition(result):
            return result
        time.sleep(0.05)
    raise AssertionError("condition never met")


def partial_bytes(folder):
    return sum(p.stat().st_size for p in folder.rglob("*.incomplete"))


def make_shot(tmp_path):
    bpy.ops.wm.read_homefile(use_empty=True)
    scene = bpy.context.scene
    scene.render.resolution_x, scene.render.resolution_y = 32, 32
    scene.frame_start, scene.frame_end = 1, 3
    scenes.floor(scene)
    scenes.box(scene, "Crate", (0, 0, 0.5))
    scenes.add_camera(scene, location=(4, -4, 2.5), target=(0, 0, 0.4))
    scene.neural_previs.prompt = "neon"
    scene.neural_previs.steps = 1
    scene.neural_previs.output_directory = str(tmp_path / "takes")
    return scene


def test_download_modal_cancel_and_esc_resume_then_background_finishes_and_generates(models_folder, repo_files, modules, monkeypatch, tmp_path):
    model_download = modules("addon.model_download")
    model_store = modules("addon.model_store")
    first, second = threading.Event(), threading.Event()
    repo = Repo(dict(repo_files), stall={BIG: (11 * MIB, first)})
    UiDownload = ui_download_operator(modules)
    bpy.utils.register_class(UiDownload)
    try:
        with LocalHub({REPO_ID: repo}) as hub:
            monkeypatch.setenv("HF_ENDPOINT", hub.url)
            # 1. Modal, as from the Download button; the progress reaches the job the preferences draw.
            assert bpy.ops.neural_previs.model_download_ui_path(model=REPO_ID) == {"RUNNING_MODAL"}
            operator = live_operator()
            job = model_download.active()
            assert job is not None and job.model == REPO_ID
            tick_until(operator, lambda result: job.state.done >= 10 * MIB)
            assert job.state.total == sum(len(data) for name, data in repo_files.items() if not name.endswith((".ckpt", "NOTE.txt")))
            assert "MB of" in job.state.text() and 0 < job.state.fraction < 1
            assert not bpy.ops.neural_previs.model_download.poll()  # one download at a time

            # 2. A file load ends the operator: Blender calls cancel(); the process stops, the partial file stays.
            bpy.ops.wm.read_homefile(use_empty=True)
            first.set()
            assert job.outcome == "cancelled" and job._process.poll() is not None
            assert model_download.active() is None and not list(bpy.context.window.modal_operators)
            kept = partial_bytes(models_folder)
            assert kept >= 10 * MIB
            assert model_store.needs_download(REPO_ID, str(models_folder))
            assert "only partly downloaded" in model_store.not_downloaded_message(REPO_ID, str(models_folder))

            # 3. Modal again: it resumes with a Range request; Esc cancels it.
            repo.stall[BIG] = (2 * MIB, second)
            hub.stalled.clear()
            assert bpy.ops.neural_previs.model_download_ui_path(model=REPO_ID) == {"RUNNING_MODAL"}
            operator, job = live_operator(), model_download.active()
            assert hub.stalled.wait(60)
            tick_until(operator, lambda result: job.state.file == BIG and job.state.done >= kept)  # resumed bytes count as done
            assert operator.modal(bpy.context, event("ESC", "PRESS")) == {"CANCELLED"}
            second.set()
            resumed = hub.requests_for(BIG)[-1]
            assert resumed.range == f"bytes={kept}-"
            assert model_download.active() is None and job.outcome == "cancelled" and job._process.poll() is not None

            # 4. Background mode (what bpy.ops runs here): it blocks and finishes only when complete.
            before = len(hub.log)
            assert bpy.ops.neural_previs.model_download(model=REPO_ID) == {"FINISHED"}
            last = [r for r in hub.log[before:] if r.method == "GET" and r.path.endswith(BIG)]
            assert len(last) == 1 and last[0].range and last[0].sent < len(repo_files[BIG])
            assert "v1-5-pruned-emaonly.ckpt" not in hub.fetched()
    finally:
        bpy.utils.unregister_class(UiDownload)
    assert not model_store.needs_download(REPO_ID, str(models_folder))
    snapshot = models_folder / "hub" / "models--studio--tiny-vace" / "snapshots" / ("a" * 40)
    assert (snapshot / BIG).is_file()

    # The downloaded model generates a take through the Generate operator (offline from here on).
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    scene = make_shot(tmp_path)
    # The downloaded repository is not a model the add-on knows to be tiny: on this GPU-less machine it asks first.
    assert bpy.ops.neural_previs.generate(model=REPO_ID, steps=1, seed=5, allow_cpu=True) == {"FINISHED"}
    strips = scene.sequence_editor.strips if hasattr(scene.sequence_editor, "strips") else scene.sequence_editor.sequences
    (strip,) = [s for s in strips if "_take_" in s.name]
    assert strip["neural_previs"]["model"]["repo_id"] == REPO_ID

    # Delete removes the snapshot from the Models Folder's cache; the model needs its Download again.
    assert bpy.ops.neural_previs.model_delete(model=REPO_ID) == {"FINISHED"}
    assert not (models_folder / "hub" / "models--studio--tiny-vace").exists()
    assert model_store.needs_download(REPO_ID, str(models_folder))


def test_nothing_is_fetched_while_online_access_is_off(models_folder, repo_files, monkeypatch):
    bpy.context.preferences.system.use_online_access = False
    with LocalHub({REPO_ID: Repo(dict(repo_files))}) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        with pytest.raises(RuntimeError) as error:
            bpy.ops.neural_previs.model_download(model=REPO_ID)
        assert hub.log == []
    assert "Allow Online Access" in str(error.value) and "Preferences > System > Network" in str(error.value)
    assert not models_folder.exists()


@pytest.mark.parametrize("repo_id, repos, fragment", [
    ("nobody/nothing", {}, "was not found on the Hugging Face Hub"),
    ("lab/gated", {"lab/gated": "gated"}, "accept its licence"),
])
def test_download_failures_are_one_line_naming_no_command_line_flag(models_folder, monkeypatch, repo_id, repos, fragment):
    served = {name: Repo({"config.json": b"{}", "diffusion_pytorch_model.safetensors": b"w" * 100}, gated=True) for name in repos}
    with LocalHub(served) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        with pytest.raises(RuntimeError) as error:
            bpy.ops.neural_previs.model_download(model=repo_id)
    message = str(error.value).strip()
    assert fragment in message and "\n" not in message and "--" not in message


def test_generate_with_a_model_not_downloaded_names_the_button(models_folder, tmp_path):
    make_shot(tmp_path)
    with pytest.raises(RuntimeError) as error:
        bpy.ops.neural_previs.generate(model="wan-vace-1.3b", allow_cpu=True)  # past the no-GPU question
    message = str(error.value)
    assert "Wan2.1 VACE 1.3B (wan-vace-1.3b) is not downloaded: press Download" in message and "--" not in message
    assert not (tmp_path / "takes").exists()


def test_preferences_rows_show_size_gpu_licence_state_and_local_folders(models_folder, repo_files, modules):
    ui_models, model_store = modules("ui.models"), modules("addon.model_store")
    local = models_folder / "Mon modèle"
    for name, data in repo_files.items():
        if not name.endswith(".ckpt"):
            (local / name).parent.mkdir(parents=True, exist_ok=True)
            (local / name).write_bytes(data)
    rows = {row["name"]: row for row in model_store.model_rows(str(models_folder), models_folder / "engine-cache")}
    assert {"tiny-random", "wan-vace-1.3b", "wan-vace-14b", "animatediff-controlnet", str(local)} <= set(rows)
    wan = rows["wan-vace-1.3b"]
    assert (wan["licence"], wan["download_gb"]) == ("Apache-2.0", 20.5)
    assert ui_models.gpu_text(wan) == "Needs 8 GB GPU for Least Memory (5.3 GB counted), 24 GB GPU for Fastest (18.2 GB counted)"
    assert ui_models.state_text(wan) == ("Not downloaded", "CANCEL")
    assert ui_models.gpu_text(rows["animatediff-controlnet"]) == (
        "Needs 12 GB GPU for Least Memory (6.6 GB counted), 12 GB GPU for Fastest (10.1 GB counted)")
    assert ui_models.gpu_text(rows["tiny-random"]) == "GPU memory: not counted yet"  # built locally: nothing counted
    assert rows[str(local)]["local"] and rows[str(local)]["backend"] == "wan-vace"
    assert ui_models.state_text(rows[str(local)]) == (f"Installed: {local}", "CHECKMARK")
