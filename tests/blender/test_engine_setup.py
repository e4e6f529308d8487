"""'Set Up Engine': an environment of its own under Blender's user data, never Blender's Python, online only when allowed."""

import importlib
from pathlib import Path

import bpy
import pytest


@pytest.fixture
def engine_session(installed_extension):
    return importlib.import_module(f"{installed_extension}.addon.engine_session")


@pytest.fixture
def online(request):
    system = bpy.context.preferences.system
    before = system.use_online_access
    system.use_online_access = request.param
    yield request.param
    system.use_online_access = before


@pytest.mark.parametrize("online", [False], indirect=True)
def test_offline_setup_refuses_and_says_what_to_run(online, engine_session):
    existed = engine_session.setup_environment_folder().exists()
    with pytest.raises(RuntimeError) as error:
        bpy.ops.neural_previs.engine_setup()
    message = str(error.value)
    assert "Online access is off" in message
    assert "-m venv" in message and "pip install -r" in message and "requirements.txt" in message
    assert engine_session.setup_environment_folder().exists() == existed


@pytest.mark.parametrize("online", [True], indirect=True)
def test_setup_creates_its_own_environment_in_user_data(online, engine_session, tmp_path, monkeypatch):
    monkeypatch.delenv("NEURAL_PREVIS_PYTHON", raising=False)
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("# nothing to install: the mechanics are under test, not the download\n")
    assert bpy.ops.neural_previs.engine_setup(requirements=str(requirements)) == {"FINISHED"}
    environment = engine_session.setup_environment_folder()
    python = engine_session.python_in_environment(environment)
    assert python.is_file()
    user_data = Path(bpy.utils.extension_path_user(engine_session.EXTENSION_PACKAGE))
    assert user_data in environment.parents
    assert engine_session.resolve_engine_python() == str(python)
