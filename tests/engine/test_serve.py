"""The worker driven as a subprocess through the real protocol (and the client the add-on uses)."""

import json
import os
import signal
import subprocess
import sys

import pytest

from engine.worker import protocol
from engine.worker.client import EngineClient, WorkerError
from engine_testlib import REPO_ROOT, engine_env, make_bundle

TINY = {"model": "tiny-random", "prompt": "rainy neon street", "seed": 1, "steps": 2}


@pytest.fixture
def client(engine_cache):
    client = EngineClient(python=sys.executable, package_root=str(REPO_ROOT), env=engine_env(engine_cache))
    client.start(timeout=120)
    yield client
    client.close()


def run_request(client, bundle, out, params, timeout=120):
    request_id = client.generate(bundle, out, params)
    return request_id, list(client.events(request_id, timeout=timeout))


def test_hello_progress_result_warm_second_request_and_shutdown(client, tmp_path):
    hello = client.hello
    assert hello.protocol == 1 and hello.device == "cpu" and hello.pid == client.process.pid
    backends = {b["name"]: b for b in hello.backends}
    assert set(backends) == {"wan-vace", "animatediff-controlnet", "tiny-random"}
    assert backends["wan-vace"]["frame_rule"] == "4k+1" and backends["wan-vace"]["size_multiple"] == 16
    assert backends["tiny-random"]["synthetic"] is True
    models = {m["name"]: m for m in hello.models}
    assert models["tiny-random"]["available"] and models["tiny-random"]["built"]
    wan = models["wan-vace-1.3b"]
    assert (wan["backend"], wan["repo_id"], wan["available"], wan["installed"], wan["where"]) == (
        "wan-vace", "Wan-AI/Wan2.1-VACE-1.3B-diffusers", False, False, None)
    assert wan["licence"] == "Apache-2.0" and wan["gpu_memory_gb"] == {"group": 5.3, "none": 18.2} and wan["download_gb"] > 0

    bundle = make_bundle(tmp_path / "bundle", frames=list(range(1001, 1012)))
    first_id, events = run_request(client, bundle, tmp_path / "take1", TINY)
    *progress, result = events
    assert isinstance(result, protocol.Result) and result.id == first_id
    assert result.take == str(tmp_path / "take1") and result.frames == 11
    assert all(isinstance(e, protocol.Progress) and e.id == first_id for e in progress)
    order = list(protocol.PHASES)
    first_seen = [p.phase for i, p in enumerate(progress) if p.phase not in [q.phase for q in progress[:i]]]
    assert first_seen == order  # every phase, first occurrences in protocol order
    steps = [p.step for p in progress if p.phase == "denoising"]
    assert steps == list(range(1, 5)) and {p.total for p in progress} == {4}  # 2 windows x 2 steps
    assert any("noise" in p.extra.get("note", "") for p in progress)

    _, events = run_request(client, bundle, tmp_path / "take2", TINY)
    assert isinstance(events[-1], protocol.Result)
    record = json.loads((tmp_path / "take2" / "take.json").read_text())
    assert record["warm"] is True  # the pipeline stayed loaded: no load for the second request
    assert json.loads((tmp_path / "take1" / "take.json").read_text())["warm"] is False

    # bad input is an error event and the worker carries on
    (bundle / "shot.json").write_text("{")
    request_id, events = run_request(client, bundle, tmp_path / "take3", TINY)
    assert len(events) == 1 and isinstance(events[0], protocol.Error)
    assert events[0].kind == "bundle" and "corrupt" in events[0].message and "\n" not in events[0].message
    good = make_bundle(tmp_path / "good", frames=[1])
    _, events = run_request(client, good, tmp_path / "take4", {**TINY, "model": "no-such-model"})
    assert events[-1].kind == "model" and "unknown model" in events[-1].message
    _, events = run_request(client, good, tmp_path / "take5", {**TINY, "stepz": 2})
    assert events[-1].kind == "params"

    assert client.shutdown(timeout=60) == 0
    assert client.unparsable == []  # stdout carried protocol lines only
    assert not (tmp_path / "take3").exists()


def test_cancel_mid_run(client, tmp_path):
    bundle = make_bundle(tmp_path / "bundle", width=64, height=64, frames=list(range(1, 40)))
    request_id = client.generate(bundle, tmp_path / "take", {**TINY, "steps": 50})
    seen = []
    for event in client.events(request_id, timeout=120):
        seen.append(event)
        if isinstance(event, protocol.Progress) and event.phase == "denoising" and event.step == 1:
            client.cancel(request_id)
    assert isinstance(seen[-1], protocol.Cancelled) and seen[-1].id == request_id
    last_step = max(e.step for e in seen if isinstance(e, protocol.Progress))
    assert last_step < seen[-2].total
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle"]  # no take, no partial folder
    # the worker is still alive and answers the next request
    _, events = run_request(client, make_bundle(tmp_path / "small", frames=[1]), tmp_path / "next", TINY)
    assert isinstance(events[-1], protocol.Result)


def test_requests_queue_in_order_and_a_queued_request_can_be_cancelled(client, tmp_path):
    bundle = make_bundle(tmp_path / "bundle", frames=list(range(1, 12)))
    first = client.generate(bundle, tmp_path / "first", TINY)
    second = client.generate(bundle, tmp_path / "second", TINY)
    duplicate = client.generate(bundle, tmp_path / "third", TINY, request_id=first)
    client.cancel(second)
    finals = {first: [], second: []}
    while not (finals[second] and any(isinstance(e, protocol.Result) for e in finals[first])):
        event = client.next_event(timeout=120)
        assert event is not None
        if isinstance(event, protocol.Progress):
            assert event.id == first  # the cancelled request never started
        else:
            finals[event.id].append(event)
    assert duplicate == first
    assert [type(e) for e in finals[second]] == [protocol.Cancelled]
    # the reused id got an error of its own; the original request still got its result
    error, result = finals[first]
    assert isinstance(error, protocol.Error) and "already in use" in error.message
    assert isinstance(result, protocol.Result) and (tmp_path / "first" / "frames").is_dir()
    assert not (tmp_path / "second").exists() and not (tmp_path / "third").exists()


def test_sigterm_stops_the_worker_cleanly(client):
    os.kill(client.process.pid, signal.SIGTERM)
    assert client.process.wait(timeout=60) == 0


def test_a_worker_that_cannot_start_is_a_clear_error(tmp_path):
    client = EngineClient(python=sys.executable, package_root=str(tmp_path), env={"PATH": os.environ.get("PATH", "")})
    with pytest.raises(WorkerError, match="No module named engine"):
        client.start(timeout=60)


def test_closed_stdin_ends_the_worker_cleanly(engine_cache):
    worker = subprocess.Popen(
        [sys.executable, "-m", "engine", "serve"], env=engine_env(engine_cache), cwd=REPO_ROOT,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    hello = json.loads(worker.stdout.readline())
    assert hello["type"] == "hello"
    worker.stdin.write('{"type": "cancel", "id": "nothing"}\nthis is not json\n')
    worker.stdin.close()
    assert worker.wait(timeout=60) == 0
    rest = worker.stdout.read().splitlines()
    assert [json.loads(line)["type"] for line in rest] == ["error"]  # the bad line, answered with id null
    assert json.loads(rest[0])["id"] is None


def test_a_dead_worker_is_an_error_not_a_hang(client, tmp_path):
    bundle = make_bundle(tmp_path / "bundle", width=64, height=64, frames=list(range(1, 40)))
    request_id = client.generate(bundle, tmp_path / "take", {**TINY, "steps": 50})
    for event in client.events(request_id, timeout=120):
        if isinstance(event, protocol.Progress) and event.phase == "denoising":
            os.kill(client.process.pid, signal.SIGKILL)
            break
    events = list(client.events(request_id, timeout=60))
    error = events[-1]
    assert isinstance(error, protocol.Error) and error.kind == "worker" and error.id == request_id
    assert "exited unexpectedly" in error.message and "-9" in error.message
    with pytest.raises(WorkerError):
        list(client.events("r-after-death", timeout=10))
    # a request for the dead worker is refused at once, not left hanging
    with pytest.raises(WorkerError, match="not running"):
        client.generate(bundle, tmp_path / "late", TINY)
