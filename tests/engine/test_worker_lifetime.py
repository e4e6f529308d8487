"""A worker never outlives its client, and stopping one needs no POSIX signal from the client.

The "client" here is a separate Python process (standing in for Blender) that starts the real
worker with ``EngineClient``; killing that process the hard way is what a crash of Blender does.
"""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from engine.worker.client import EngineClient
from engine.worker.log_file import RotatingLog
from engine_testlib import REPO_ROOT, engine_env, make_bundle

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="drives POSIX process ids")


def wait_until_gone(pid: int, timeout: float) -> bool:
    """True once the process has exited (a zombie waiting for its re-parented reaper counts as exited)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                if stat.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.2)
    return False


CLIENT = textwrap.dedent("""
    import sys, time
    from engine.worker import protocol
    from engine.worker.client import EngineClient
    client = EngineClient(python=sys.executable, package_root=sys.argv[1])
    client.start(timeout=120)
    request = client.generate(sys.argv[2], sys.argv[3], {"model": "tiny-random", "prompt": "x", "steps": 200, "seed": 1})
    for event in client.events(request, timeout=120):
        if isinstance(event, protocol.Progress) and event.phase == "denoising":
            print(client.process.pid, flush=True)
            break
    time.sleep(600)
""")


def test_a_worker_busy_in_a_take_exits_when_its_client_is_killed(tmp_path, engine_cache):
    bundle = make_bundle(tmp_path / "bundle", width=64, height=64, frames=list(range(1, 30)))
    take = tmp_path / "take"
    blender = subprocess.Popen([sys.executable, "-c", CLIENT, str(REPO_ROOT), str(bundle), str(take)],
                               env=engine_env(engine_cache), cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
    try:
        worker_pid = int(blender.stdout.readline())
        os.kill(blender.pid, signal.SIGKILL)  # no shutdown, no closing of anything: a crash
        blender.wait()
        assert wait_until_gone(worker_pid, timeout=60)
    finally:
        if blender.poll() is None:
            blender.kill()
    assert not take.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".take")]  # the cancelled take cleaned up


WATCHER = textwrap.dedent("""
    import subprocess, sys
    from engine.worker import lifetime
    env = lifetime.worker_environment(dict(__import__("os").environ))
    child = subprocess.Popen([sys.executable, "-c", sys.argv[1]], env=env, stdin=subprocess.DEVNULL,
                             stdout=sys.stdout, **lifetime.worker_process_options())
    print(child.pid, flush=True)
    child.wait()
""")
WATCHED = textwrap.dedent("""
    import os, sys, time
    from engine.worker import lifetime
    lifetime.watch_client(lambda: (print("client gone", flush=True), os._exit(0)))
    print("watching", flush=True)
    time.sleep(600)
""")


def test_the_client_watch_ends_a_worker_whose_stdin_never_closes(tmp_path):
    """The watch alone (stdin is not the client's pipe here): the client dies, the worker leaves."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    blender = subprocess.Popen([sys.executable, "-c", WATCHER, WATCHED], env=env, cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
    try:
        worker_pid = int(blender.stdout.readline())
        assert blender.stdout.readline().strip() == "watching"
        os.kill(blender.pid, signal.SIGKILL)
        blender.wait()
        assert blender.stdout.readline().strip() == "client gone"  # the worker shares the pipe: its last words
        assert wait_until_gone(worker_pid, timeout=30)
    finally:
        if blender.poll() is None:
            blender.kill()


def test_a_worker_that_ignores_shutdown_and_terminate_is_killed(tmp_path):
    """shutdown, then terminate(), then kill(): the client needs the worker's cooperation for none of them."""
    stubborn = tmp_path / "stubborn" / "engine"
    stubborn.mkdir(parents=True)
    (stubborn / "__init__.py").write_text("")
    (stubborn / "__main__.py").write_text(textwrap.dedent("""
        import json, signal, sys, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print(json.dumps({"type": "hello", "protocol": 1, "engine": "stub", "device": "cpu", "backends": [], "pid": 0}), flush=True)
        while True:
            sys.stdin.readline()
            time.sleep(0.1)
    """))
    client = EngineClient(python=sys.executable, package_root=str(stubborn.parent))
    client.start(timeout=60)
    assert client.shutdown(timeout=1.0) == -signal.SIGKILL


def test_the_log_keeps_stderr_across_sessions_and_rotates(tmp_path):
    log = RotatingLog(tmp_path / "Usér logs" / "engine.log", max_bytes=300)
    log.start_session("first session")
    lines = [f"line {number:02d} with an accent é" for number in range(40)]
    for line in lines[:20]:
        log.write_line(line + "\n")
    log = RotatingLog(log.path, max_bytes=300)  # a later Blender session appends to the same log
    log.start_session("second session")
    for line in lines[20:]:
        log.write_line(line)
    current = log.path.read_text(encoding="utf-8").splitlines()
    previous = log.backup.read_text(encoding="utf-8").splitlines()
    assert current[-1] == lines[-1]
    kept = [line for line in previous + current if not line.startswith("=====")]
    assert kept == lines[-len(kept):]  # the newest lines, whole and in order
    assert len(kept) >= 12
    assert all(path.stat().st_size < 300 + 64 for path in (log.path, log.backup))
    assert sorted(p.name for p in log.path.parent.iterdir()) == ["engine.log", "engine.log.1"]


def test_hello_describes_the_device_and_the_log_keeps_the_workers_stderr(tmp_path, engine_cache):
    """Both checked against independent sources: torch itself, /proc, and the worker's own stderr."""
    import torch

    client = EngineClient(python=sys.executable, package_root=str(REPO_ROOT), env=engine_env(engine_cache),
                          log_path=tmp_path / "logs" / "engine.log")
    hello = client.start(timeout=120)
    client.cancel("no-such-request")  # the worker notes it on stderr
    assert client.shutdown(timeout=60) == 0
    text = (tmp_path / "logs" / "engine.log").read_text(encoding="utf-8")
    assert text.startswith("===== ") and f"engine started with {sys.executable}" in text
    assert "cancel for unknown or finished request 'no-such-request' ignored" in text
    assert hello.torch_version == torch.__version__ and hello.cuda_version == torch.version.cuda
    if torch.cuda.is_available():
        assert hello.device_type == "cuda" and hello.device_name == torch.cuda.get_device_name(0)
        assert hello.device_memory == torch.cuda.get_device_properties(0).total_memory
        return
    assert hello.device_type == "cpu" and hello.device == "cpu" and hello.dtype == "float32"
    meminfo = Path("/proc/meminfo").read_text().splitlines()
    total_kib = int(next(line for line in meminfo if line.startswith("MemTotal:")).split()[1])
    assert abs(hello.device_memory - total_kib * 1024) < 64 * 1024 * 1024
    model_names = [line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")]
    assert hello.device_name == model_names[0]


def test_peak_memory_agrees_with_the_kernels_own_accounting():
    import resource

    import numpy as np

    from engine.generation import host

    block = np.ones(64 * 1024 * 1024, dtype=np.uint8)  # 64 MiB, touched
    peak = host.process_peak_bytes()
    kernel = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    assert block.sum() == block.size
    assert peak >= 64 * 1024 * 1024
    assert abs(peak - kernel) < 16 * 1024 * 1024
