"""'Set Up Engine' from the installed extension: an environment of its own under Blender's user data
(never Blender's Python), the torch build the plan names, progress from pip, a cancel that stops pip
mid-download, a second run that resumes from pip's cache, Repair, and then Start Engine says hello.

pip talks to a package index on 127.0.0.1 that the test builds (tests/blender/package_index.py),
through pip's own environment variables; the Blender user folder has spaces and accents in its path.
"""

import _thread
import importlib
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import bpy
import pytest

from demo.blender_session import REPO
from modal_driver import TIMER, driven, pump
from package_index import PackageIndex, build_wheel, pip_environment, repacked_pip, torch_stand_in

ENGINE_PYTHON = os.environ.get("NEURAL_PREVIS_TEST_ENGINE_PYTHON", sys.executable)
BIG = "np_setup_big-1.0-py3-none-any.whl"


@pytest.fixture
def modules(installed_extension):
    def load(name):
        return importlib.import_module(f"{installed_extension}.{name}")

    return load


@pytest.fixture
def online(request):
    system = bpy.context.preferences.system
    before = system.use_online_access
    system.use_online_access = request.param
    yield request.param
    system.use_online_access = before


@pytest.fixture(scope="module")
def wheels(tmp_path_factory):
    folder = tmp_path_factory.mktemp("wheels")
    torch_pin = re.search(r"^torch==(\S+)", (REPO / "engine" / "requirements.txt").read_text(), re.M).group(1)
    site_packages = subprocess.run([ENGINE_PYTHON, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                   capture_output=True, text=True, check=True).stdout.strip()
    torch_stand_in(folder, torch_pin, site_packages)
    repacked_pip(folder)
    build_wheel(folder, "np_setup_small", "1.0", {"np_setup_small/__init__.py": b"VALUE = 1\n"})
    build_wheel(folder, "np_setup_big", "1.0", {"np_setup_big/__init__.py": b"", "np_setup_big/weights.bin": os.urandom(24 * 2**20)})
    requirements = folder.parent / "requirements-small.txt"
    requirements.write_text(f"torch=={torch_pin}\nnp-setup-small==1.0\nnp-setup-big==1.0\n")
    return folder, requirements


@pytest.fixture
def index(wheels, tmp_path, monkeypatch):
    folder, _ = wheels
    with PackageIndex(folder, held=BIG) as index:
        for key in [key for key in os.environ if key.startswith("PIP_")]:
            monkeypatch.delenv(key)
        for key, value in pip_environment(index, tmp_path / "pip cache").items():
            if key.startswith("PIP_"):
                monkeypatch.setenv(key, value)
        monkeypatch.delenv("NEURAL_PREVIS_PYTHON", raising=False)
        yield index


def processes_running(executable: Path) -> list[int]:
    """Processes of this machine started from ``executable`` (pip, the engine...)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and str(executable) in (entry / "cmdline").read_bytes().decode(errors="replace"):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


@pytest.mark.parametrize("online", [False], indirect=True)
def test_offline_setup_refuses_and_says_what_to_run(online, modules):
    engine_session = modules("addon.engine_session")
    existed = engine_session.setup_environment_folder().exists()
    with pytest.raises(RuntimeError) as error:
        bpy.ops.neural_previs.engine_setup()
    message = str(error.value)
    assert "Online access is off" in message
    assert "-m venv" in message and "pip install torch==" in message and "pip install -r" in message and "requirements.txt" in message
    assert engine_session.setup_environment_folder().exists() == existed


def test_the_plan_shown_before_set_up_is_this_machines(modules):
    machine = modules("addon.machine").this_machine()
    plan = modules("addon.engine_setup").plan_for(machine)
    assert machine.os == "linux" and machine.arch == "x86_64"
    if machine.gpu is None:
        assert plan.device == "cpu" and plan.index_url == "https://download.pytorch.org/whl/cpu"
    assert plan.ok and plan.summary().startswith("torch ") and "GB to download" in plan.summary()


@pytest.mark.parametrize("online", [True], indirect=True)
def test_set_up_cancel_resume_repair_then_start_engine(online, modules, index, wheels, capfd):
    engine_session = modules("addon.engine_session")
    machine = modules("addon.machine").this_machine()
    if machine.gpu is not None:
        pytest.skip("the stand-in torch is this machine's CPU build; with an NVIDIA GPU the plan asks for CUDA")
    _, requirements = wheels
    state = bpy.context.window_manager.neural_previs
    environment = engine_session.setup_environment_folder()
    python = engine_session.python_in_environment(environment)
    user_data = Path(bpy.utils.extension_path_user(engine_session.EXTENSION_PACKAGE))
    assert user_data in environment.parents and re.search(r"[^\x00-\x7f]", str(environment)) and " " in str(environment)

    # 1. Cancel (Ctrl-C, the blocking path's Esc) while the large package is half downloaded.
    def press_ctrl_c_mid_download():
        if index.half_sent.wait(timeout=300):
            _thread.interrupt_main()

    threading.Thread(target=press_ctrl_c_mid_download, daemon=True).start()
    assert bpy.ops.neural_previs.engine_setup(requirements=str(requirements)) == {"CANCELLED"}
    index.release.set()
    printed = capfd.readouterr().out
    assert re.search(r"Step 4 of 5: Installing diffusers and the engine's other requirements — Downloading np_setup_big 1\.0: [1-9]\d* of 25 MB", printed)
    assert "cancelled" in state.engine_setup_status and not state.engine_setup_running
    assert processes_running(python) == []  # pip is gone, nothing of the environment runs
    site_packages = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                        capture_output=True, text=True, check=True).stdout.strip())
    installed = {p.name.split("-")[0] for p in site_packages.glob("*.dist-info")}
    assert "torch" in installed and "np_setup_big" not in installed and "np_setup_small" not in installed

    # 2. Run again: it resumes, fetching only what the cancel interrupted.
    assert bpy.ops.neural_previs.engine_setup(requirements=str(requirements)) == {"FINISHED"}
    assert index.requests["torch-2.13.0-py3-none-any.whl"] == 1 and index.requests["np_setup_small-1.0-py3-none-any.whl"] == 1
    assert index.requests[BIG] == 2
    cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name"))
    assert state.engine_setup_status == f"Ready: CPU: {cpu}"
    assert engine_session.resolve_engine_python() == str(python)
    log = engine_session.setup_log().read_text(encoding="utf-8")
    assert "--index-url https://download.pytorch.org/whl/cpu" in log  # the plan's index (pip was told to use only ours)
    assert "Requirement already satisfied: torch==" in log

    # 3. Repair: the same environment re-created in place, everything reinstalled from pip's cache.
    marker = site_packages / "left_by_a_broken_install.txt"
    marker.write_text("")
    fetched = dict(index.requests)
    assert bpy.ops.neural_previs.engine_setup(requirements=str(requirements), repair=True) == {"FINISHED"}
    assert not marker.exists() and python.is_file()
    assert {name: count for name, count in index.requests.items() if name.endswith(".whl")} == {
        name: count for name, count in fetched.items() if name.endswith(".whl")}
    assert state.engine_setup_status == f"Ready: CPU: {cpu}"

    # 4. Start Engine runs the new environment's Python, and it says hello.
    try:
        assert bpy.ops.neural_previs.engine_start() == {"FINISHED"}
        client = engine_session.current()
        assert client.python == str(python) and client.hello.device_type == "cpu"
        assert state.engine_status == f"Ready on CPU: {cpu}"
    finally:
        engine_session.stop(timeout=20)
    log = engine_session.engine_log().read_text(encoding="utf-8")
    assert f"engine started with {python}" in log


@pytest.mark.parametrize("online", [True], indirect=True)
def test_cancel_set_up_and_disabling_the_add_on_stop_pip_in_the_ui(online, modules, index, wheels, installed_extension):
    """The UI's (modal) path: the Cancel Set-Up button mid-download, then the add-on disabled mid-install.
    Each stops pip at once and leaves nothing "running" to block the next Set Up Engine."""
    engine_session = modules("addon.engine_session")
    if modules("addon.machine").this_machine().gpu is not None:
        pytest.skip("the stand-in torch is this machine's CPU build; with an NVIDIA GPU the plan asks for CUDA")
    _, requirements = wheels
    state = bpy.context.window_manager.neural_previs
    python = engine_session.python_in_environment(engine_session.setup_environment_folder())
    operator_class = driven(modules("operators.engine").NEURAL_PREVIS_OT_engine_setup, "engine_setup")
    try:
        # Repair: an environment an earlier test completed is installed again, so the held download happens
        assert bpy.ops.np_test.engine_setup(requirements=str(requirements), repair=True) == {"RUNNING_MODAL"}
        operator = operator_class.runs[-1]
        pump(operator, until=lambda result: index.half_sent.is_set())
        assert state.engine_setup_running and not bpy.ops.neural_previs.engine_setup.poll()
        assert bpy.ops.neural_previs.engine_setup_cancel() == {"FINISHED"}
        assert pump(operator) == {"CANCELLED"}
        index.release.set()
        assert not state.engine_setup_running and "cancelled" in state.engine_setup_status and state.engine_status == "Stopped"
        assert processes_running(python) == [] and not bpy.ops.neural_previs.engine_setup_cancel.poll()

        index.requests[BIG], _ = 0, index.half_sent.clear()  # the big package's next download is held again
        index.release.clear()
        assert bpy.ops.np_test.engine_setup(requirements=str(requirements)) == {"RUNNING_MODAL"}
        operator = operator_class.runs[-1]
        pump(operator, until=lambda result: index.half_sent.is_set())
        assert processes_running(python)  # pip is mid-download
        bpy.ops.preferences.addon_disable(module=installed_extension)
        try:
            assert processes_running(python) == []  # pip went with the add-on
        finally:
            index.release.set()
            bpy.ops.preferences.addon_enable(module=installed_extension)
        assert not bpy.context.window_manager.neural_previs.engine_setup_running
        assert bpy.ops.neural_previs.engine_setup.poll()  # nothing stale stands in the way of the next set-up
        assert operator.modal(bpy.context, TIMER) == {"CANCELLED"}  # its handler, if Blender kept it, ends too
    finally:
        bpy.utils.unregister_class(operator_class)
