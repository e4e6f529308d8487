"""``python -m engine download`` against a Hub on 127.0.0.1 (tests/hub_server.py) with the real
huggingface_hub: only what the pipeline loads, JSON progress, resume after an interrupt, one line per
failure, nothing half-installed ever loads, and the downloaded model generates a take."""

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest

from engine_testlib import REPO_ROOT, engine_env, make_bundle
from tests.hub_server import TOKEN, LocalHub, Repo, pad_safetensors

REPO_ID = "studio/tiny-vace"
BIG = "transformer/diffusion_pytorch_model.safetensors"
#: huggingface_hub writes in 10 MiB chunks: a file must be larger for a partial file to exist mid-way.
PADDED_BYTES = 13 * 1024 * 1024
#: Files of a real pipeline repository the pipeline never loads: none may be fetched.
STRAY = {
    "v1-5-pruned-emaonly.ckpt": b"pickle" * 100,
    "v1-5-pruned.safetensors": b"root checkpoint" * 100,
    "transformer/diffusion_pytorch_model.bin": b"pickle" * 100,
    "transformer/diffusion_pytorch_model.fp16.safetensors": b"variant" * 100,
    "text_encoder/modeling_evil.py": b"import os\n",
    "examples/depth.png": b"\x89PNG" + b"0" * 100,
    "README.md": b"# tiny\n",
}


@pytest.fixture(scope="session")
def repo_files(engine_cache, tmp_path_factory):
    """The tiny-random pipeline as a Hub repository: its files, a transformer padded past one chunk, strays."""
    from engine.models.weights import resolve_model

    folder = tmp_path_factory.mktemp("hub-repo") / "tiny-vace"
    shutil.copytree(resolve_model("tiny-random").path, folder)
    pad_safetensors(folder / BIG, PADDED_BYTES)
    files = Repo.from_folder(folder).files
    files.update(STRAY)
    return files


def needed(files):
    return sorted(p for p in files if p not in STRAY and p != "NOTE.txt")


@pytest.fixture
def env(engine_cache, tmp_path):
    environment = engine_env(engine_cache)
    environment.pop("HF_HUB_OFFLINE")
    environment.pop("HF_TOKEN", None)
    environment["HF_HOME"] = str(tmp_path / "models")
    environment["HF_TOKEN_PATH"] = str(tmp_path / "no-token")
    return environment


def start_download(model, env, hub, *extra):
    env = {**env, "HF_ENDPOINT": hub.url}
    return subprocess.Popen([sys.executable, "-m", "engine", "download", model, *extra], cwd=REPO_ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def download(model, env, hub, *extra, timeout=120):
    process = start_download(model, env, hub, *extra)
    out, err = process.communicate(timeout=timeout)
    return process.returncode, [json.loads(line) for line in out.splitlines()], err


def hub_cache(env):
    return __import__("pathlib").Path(env["HF_HOME"]) / "hub"


def test_download_fetches_only_the_pipeline_files_with_progress_then_generates(repo_files, env, tmp_path):
    with LocalHub({REPO_ID: Repo(dict(repo_files))}) as hub:
        code, events, err = download(REPO_ID, env, hub)
        assert code == 0, err
        fetched = hub.fetched()
    assert sorted(set(fetched)) == needed(repo_files)  # no stray checkpoint, pickle, variant, code or image
    assert len(fetched) == len(set(fetched))  # each file once
    progress = [e for e in events if e["type"] == "download_progress"]
    total = sum(len(repo_files[p]) for p in needed(repo_files))
    assert progress and all(e["total"] == total for e in progress)
    assert [e["done"] for e in progress] == sorted(e["done"] for e in progress)  # never goes back
    assert progress[-1]["done"] == total and progress[-1]["files_done"] == progress[-1]["files_total"] == len(needed(repo_files))
    assert events[-1]["type"] == "downloaded" and events[-1]["total"] == total
    snapshot = hub_cache(env) / "models--studio--tiny-vace" / "snapshots" / ("a" * 40)
    assert events[-1]["paths"] == [str(snapshot)]
    assert sorted(p.relative_to(snapshot).as_posix() for p in snapshot.rglob("*") if p.is_file()) == needed(repo_files)

    # The downloaded repository generates a take offline, through the engine's own command line.
    bundle = make_bundle(tmp_path / "bundle", width=32, height=32, frames=[1, 2, 3])
    generate_env = {**env, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "engine", "generate", str(bundle), "--out", str(tmp_path / "take"), "--model", REPO_ID,
         "--prompt", "neon", "--steps", "1", "--seed", "3"],
        cwd=REPO_ROOT, env=generate_env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    record = json.loads((tmp_path / "take" / "take.json").read_text())
    assert record["model"]["repo_id"] == REPO_ID and record["model"]["revision"] == "a" * 40


def wait_for_partial(folder, at_least, process, limit_s=60):
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        partial = [p for p in folder.rglob("*.incomplete") if p.stat().st_size >= at_least]
        if partial:
            return partial[0]
        assert process.poll() is None, process.communicate()
        time.sleep(0.05)
    raise AssertionError("no partial file appeared")


def test_interrupted_download_resumes_with_a_range_request(repo_files, env):
    from engine.models import installed
    from engine.models.weights import NotDownloaded, resolve_model

    release = threading.Event()
    repo = Repo(dict(repo_files), stall={BIG: (11 * 1024 * 1024, release)})
    storage = hub_cache(env) / "models--studio--tiny-vace"
    with LocalHub({REPO_ID: repo}) as hub:
        process = start_download(REPO_ID, env, hub)
        hub.stalled.wait(60)
        partial = wait_for_partial(storage, 10 * 1024 * 1024, process)
        process.send_signal(signal.SIGTERM)  # what a farm's job control does; Blender kills the process
        out, err = process.communicate(timeout=60)
        release.set()
        assert process.returncode == 130, err
        assert "run the same command again to resume" in err
        kept = partial.stat().st_size

        state = installed.repo_state(hub_cache(env), REPO_ID)
        assert not state.complete and state.partial_bytes == kept
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("HF_HOME", env["HF_HOME"])
            with pytest.raises(NotDownloaded, match="only partly downloaded"):
                resolve_model(REPO_ID)

        before = len(hub.log)
        code, events, err = download(REPO_ID, env, hub)
        assert code == 0, err
        again = [r for r in hub.log[before:] if r.method == "GET" and r.path.endswith(BIG)]
    assert [r.range for r in again] == [f"bytes={kept}-"]
    assert again[0].sent == len(repo_files[BIG]) - kept < len(repo_files[BIG])
    resumed = [e for e in events if e["type"] == "download_progress" and e["file"] == BIG]
    assert resumed[0]["done"] >= kept  # progress counts what was already there
    assert installed.repo_state(hub_cache(env), REPO_ID).complete


def small_repo(**options):
    return Repo({"config.json": b'{"_class_name": "ControlNetModel"}', "diffusion_pytorch_model.safetensors": b"w" * 4000,
                 "diffusion_pytorch_model.bin": b"pickle"}, **options)


def one_line_failure(code, events, err, reason):
    assert code == 1
    errors = [e for e in events if e["type"] == "error"]
    assert len(errors) == 1 and errors[0]["kind"] == "download" and errors[0]["reason"] == reason, events
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and lines[0] == f"error: {errors[0]['message']}"
    return errors[0]["message"]


def nothing_installed(env, repo_id):
    from engine.models import installed

    storage = installed.storage_folder(hub_cache(env), repo_id)
    assert not (storage / "refs" / "main").exists() and not (storage / installed.RECORD_NAME).exists()


def test_unknown_repository(env):
    with LocalHub({}) as hub:
        message = one_line_failure(*download("nobody/nothing", env, hub), "not_found")
    assert "nobody/nothing was not found" in message and "check the repo id" in message
    nothing_installed(env, "nobody/nothing")


def test_gated_repository_needs_the_licence_and_a_token(env):
    with LocalHub({"lab/gated": small_repo(gated=True)}) as hub:
        message = one_line_failure(*download("lab/gated", env, hub), "gated")  # 401: no token
        assert "accept its licence" in message and "HF_TOKEN" in message and f"{hub.url}/lab/gated" in message
        wrong = {**env, "HF_TOKEN": "hf_someone_else"}
        one_line_failure(*download("lab/gated", wrong, hub), "gated")  # 403: a token without access
        nothing_installed(env, "lab/gated")
        code, events, err = download("lab/gated", {**env, "HF_TOKEN": TOKEN}, hub)
    assert code == 0, err
    assert events[-1]["type"] == "downloaded"


def test_listed_file_the_hub_does_not_serve(env):
    with LocalHub({"lab/broken": small_repo(missing={"diffusion_pytorch_model.safetensors"})}) as hub:
        message = one_line_failure(*download("lab/broken", env, hub), "missing_file")
    assert "diffusion_pytorch_model.safetensors" in message
    nothing_installed(env, "lab/broken")


def test_not_enough_disk_space_is_refused_before_any_byte(env):
    repo = small_repo(listed_size={"diffusion_pytorch_model.safetensors": 10 ** 16})  # 10 PB
    with LocalHub({"lab/huge": repo}) as hub:
        message = one_line_failure(*download("lab/huge", env, hub), "disk_space")
        assert "not enough disk space" in message and "--models-dir" in message
        assert not [name for name in hub.fetched() if name.endswith(".safetensors")]


@pytest.fixture
def read_only_folder(tmp_path):
    folder = tmp_path / "read-only models"
    folder.mkdir()
    folder.chmod(0o555)
    immutable = False
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # root ignores permission bits: make it immutable
        immutable = subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode == 0
        if not immutable:
            pytest.skip("running as root without chattr: no folder here is read-only")
    yield folder
    if immutable:
        subprocess.run(["chattr", "-i", str(folder)], check=True)
    folder.chmod(0o755)


def test_read_only_models_folder(env, read_only_folder):
    with LocalHub({"lab/model": small_repo()}) as hub:
        message = one_line_failure(*download("lab/model", env, hub, "--models-dir", str(read_only_folder)), "read_only")
    assert "read-only" in message and str(read_only_folder) in message


def test_network_lost_mid_way_keeps_what_arrived_and_the_next_run_resumes(repo_files, env):
    repo = Repo(dict(repo_files), drop={BIG: 11 * 1024 * 1024})
    with LocalHub({REPO_ID: repo}) as hub:
        message = one_line_failure(*download(REPO_ID, env, hub), "network")
        assert "connection" in message and "resumes" in message
        nothing_installed(env, REPO_ID)
        repo.drop.clear()  # the network is back
        before = len(hub.log)
        code, events, err = download(REPO_ID, env, hub)
        assert code == 0, err
        again = [r for r in hub.log[before:] if r.method == "GET" and r.path.endswith(BIG)]
    assert len(again) == 1 and again[0].range and again[0].sent < len(repo_files[BIG])


def test_offline_mode_refuses(env):
    with LocalHub({"lab/model": small_repo()}) as hub:
        message = one_line_failure(*download("lab/model", {**env, "HF_HUB_OFFLINE": "1"}, hub), "offline")
        assert "HF_HUB_OFFLINE" in message and hub.log == []


def test_a_snapshot_missing_a_recorded_file_is_not_loaded(repo_files, env, monkeypatch):
    from engine.models import installed
    from engine.models.weights import NotDownloaded, resolve_model

    with LocalHub({REPO_ID: Repo(dict(repo_files))}) as hub:
        code, _, err = download(REPO_ID, env, hub)
    assert code == 0, err
    snapshot = installed.repo_state(hub_cache(env), REPO_ID).snapshot
    (snapshot / "vae" / "diffusion_pytorch_model.safetensors").unlink()
    state = installed.repo_state(hub_cache(env), REPO_ID)
    assert state.missing == ["vae/diffusion_pytorch_model.safetensors"]
    monkeypatch.setenv("HF_HOME", env["HF_HOME"])
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    with pytest.raises(NotDownloaded, match="python -m engine download"):
        resolve_model(REPO_ID)
    entry = next(m for m in __import__("engine.models.weights", fromlist=["x"]).known_models() if m["name"] == "wan-vace-1.3b")
    assert entry["installed"] is False


@pytest.mark.skipif(sys.platform == "win32", reason="a pseudo-terminal is how the test gives the command a terminal")
def test_download_in_a_terminal_draws_one_bar_then_says_the_model_is_complete(repo_files, env):
    """On a terminal the command draws progress/DownloadBar on one line (no JSON); a pipe gets JSON (above)."""
    import pty

    main, child = pty.openpty()
    with LocalHub({REPO_ID: Repo(dict(repo_files))}) as hub:
        process = subprocess.Popen([sys.executable, "-m", "engine", "download", REPO_ID], cwd=REPO_ROOT,
                                   env={**env, "HF_ENDPOINT": hub.url}, stdout=child, stderr=subprocess.PIPE)
        os.close(child)
        shown = b""
        while True:
            try:
                chunk = os.read(main, 65536)
            except OSError:  # the command ended and closed the terminal
                break
            if not chunk:
                break
            shown += chunk
        assert process.wait(timeout=120) == 0, process.stderr.read()
    os.close(main)
    text = shown.decode()
    total_mb = sum(len(repo_files[p]) for p in needed(repo_files)) / 1e6
    assert "{" not in text  # no protocol line on a terminal
    redraws = text.split("\r\x1b[K")[1:]
    assert len(redraws) >= 2 and all(r.startswith("[") for r in redraws)
    assert f"/ {total_mb:.1f} MB" in redraws[-1] and redraws[-1].startswith("[" + "#" * 10)  # a full bar at the end
    snapshot = hub_cache(env) / "models--studio--tiny-vace" / "snapshots" / ("a" * 40)
    assert text.rstrip().endswith(f"{REPO_ID} is complete: {snapshot}")
