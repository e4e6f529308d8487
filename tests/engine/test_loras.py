"""LoRAs on tiny-random: each file format the engine accepts gives the take stock ``WanVACEPipeline``
+ ``load_lora_weights`` gives; weight 0 and a take after LoRAs equal the model without any; a warm
session switches LoRAs and weights without reloading the model; and ``quality draft`` runs its
step-distillation LoRA at 4 steps without an unconditional pass, like the stock pipeline with the
same LoRA, scheduler, steps and guidance.

Shots of one exact window (48x32, 5 frames), 2 steps: small enough for a shared 2-core CPU.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import lora_factory as factory
from conformance import FRAME_TOLERANCE, Shot, engine_output, levels, load_stock_pipeline, stock_output
from engine.backends import tiny_random
from engine.formats.params import GenerateParams
from engine.generation.session import Session
from engine.speed import draft
from engine_testlib import make_bundle

SEED = 5
WEIGHT = 0.8


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("loras")


@pytest.fixture(scope="module")
def shot(root) -> Shot:
    bundle = make_bundle(root / "bundle", frames=list(range(1, 6)))
    return Shot(bundle, GenerateParams(prompt="rainy neon street", model="tiny-random", seed=SEED, steps=2,
                                       guidance=5.0, negative_prompt="dark"))


@pytest.fixture(scope="module")
def files(root) -> dict[str, Path]:
    """One LoRA per accepted format, and the VACE LoRA's diffusers-named twin (what stock diffusers loads)."""
    vace = factory.random_lora(4, vace=True)
    return {
        "diffusers": factory.write_diffusers(factory.random_lora(1), root / "diffusers.safetensors"),
        "peft": factory.write_diffusers(factory.random_lora(5), root / "peft.safetensors", prefix="base_model.model."),
        "original": factory.write_original(factory.random_lora(2), root / "comfy.safetensors", alpha=2.0),
        "musubi": factory.write_musubi(factory.random_lora(3), root / "musubi.safetensors", alpha=2.0),
        "vace": factory.write_original(vace, root / "vace-original.safetensors"),
        "vace-twin": factory.write_diffusers(vace, root / "vace-diffusers.safetensors"),
        "peft-twin": factory.write_diffusers(factory.random_lora(5), root / "peft-twin.safetensors"),
    }


@pytest.fixture(scope="module")
def warm(engine_cache):
    """A session of this module's own (it loads adapters into its pipeline)."""
    session = Session(warm_worker=True)
    yield session
    session.unload()


@pytest.fixture(scope="module")
def plain(warm, shot, root):
    """The take without LoRAs, made before any adapter was loaded into the session's pipeline."""
    return engine_output(warm, shot, root / "plain")


def stock_with(engine_cache, adapters: list[tuple[Path, float]]):
    """A fresh stock pipeline with ``load_lora_weights`` of each file and ``set_adapters`` of the weights."""
    stock = load_stock_pipeline(tiny_random.built_folder(engine_cache))
    names = []
    for index, (file, _) in enumerate(adapters):
        stock.load_lora_weights(str(file), adapter_name=f"a{index}")
        names.append(f"a{index}")
    if names:
        stock.set_adapters(names, adapter_weights=[weight for _, weight in adapters])
    return stock


def with_loras(shot: Shot, *loras: tuple[Path, float]) -> Shot:
    return shot.with_params(loras=[{"path": str(path), "weight": weight} for path, weight in loras])


# ------------------------------------------------------------------------------ formats


@pytest.mark.parametrize("name, stock_file", [
    ("diffusers", "diffusers"), ("peft", "peft-twin"), ("original", "original"), ("musubi", "musubi"),
    ("vace", "vace-twin"),
])
def test_a_lora_in_each_format_equals_stock_load_lora_weights(warm, plain, shot, files, engine_cache, name, stock_file, tmp_path):
    take = engine_output(warm, with_loras(shot, (files[name], WEIGHT)), tmp_path / "take")
    expected = stock_output(stock_with(engine_cache, [(files[stock_file], WEIGHT)]), shot)
    assert levels(take.frames, expected) <= FRAME_TOLERANCE
    assert levels(take.frames, plain.frames) > 20  # the LoRA changes the picture: the comparison can fail
    (recorded,) = take.record["loras"]
    assert recorded["file"] == str(files[name].resolve()) and recorded["weight"] == WEIGHT
    import hashlib

    assert recorded["sha256"] == hashlib.sha256(files[name].read_bytes()).hexdigest()


def test_vace_blocks_in_original_names_are_not_what_diffusers_loads_itself(engine_cache, files):
    """Why the engine renames them: diffusers 0.42.1 refuses the file as it is."""
    stock = load_stock_pipeline(tiny_random.built_folder(engine_cache))
    with pytest.raises(ValueError):
        stock.load_lora_weights(str(files["vace"]))


# ------------------------------------------------------------------------- warm switching


def test_a_warm_session_switches_loras_and_weights_and_a_take_without_them_is_the_plain_model(
        warm, plain, shot, files, engine_cache, tmp_path):
    first = engine_output(warm, with_loras(shot, (files["diffusers"], WEIGHT)), tmp_path / "first")
    mixed = [(files["original"], 0.5), (files["diffusers"], 0.3)]
    second = engine_output(warm, with_loras(shot, *mixed), tmp_path / "second")
    zero = engine_output(warm, with_loras(shot, (files["musubi"], 0.0)), tmp_path / "zero")
    after = engine_output(warm, shot, tmp_path / "after")

    assert first.record["warm"] and second.record["warm"] and after.record["warm"]  # the model never reloaded
    assert levels(second.frames, stock_output(stock_with(engine_cache, mixed), shot)) <= FRAME_TOLERANCE
    assert levels(second.frames, first.frames) > 20
    assert np.array_equal(zero.frames, plain.frames)  # weight 0: exactly no LoRA
    assert np.array_equal(after.frames, plain.frames)  # adapters still loaded, but off
    assert after.record["loras"] == []
    backend = warm._backend
    assert len(backend.loras.loaded) >= 3  # one adapter per file, loaded once and kept


# ------------------------------------------------------------------------------- draft


@pytest.fixture
def distill(files, root):
    """A tiny stand-in for lightx2v's step-distillation LoRA (original key names, with alphas)."""
    path = factory.write_original(factory.random_lora(9, rank=8), root / "tiny-distill.safetensors", alpha=4.0)
    draft.register("tiny-random", str(path))
    yield path
    draft.unregister("tiny-random")


def test_draft_runs_its_lora_at_4_steps_without_an_unconditional_pass_like_stock(warm, shot, distill, engine_cache, tmp_path):
    """In a compiling worker (regional compile with Inductor, as a warm CUDA worker runs it): the
    draft runs its blocks compiled, with the LoRA inside them, within Inductor's 1 level of stock."""
    import torch

    from engine.generation.runtime import resolve_runtime
    from engine.models.weights import resolve_model
    from engine.speed import regional_compile
    from engine.speed.switches import Switches

    draft_shot = shot.with_params(quality="draft", steps=None, guidance=None)
    runtime = resolve_runtime(draft_shot.params)
    backend, pipeline, _ = warm.pipeline(resolve_model("tiny-random"), runtime)
    torch._dynamo.reset()
    backend.configure(pipeline, runtime, Switches(compile=True))
    calls = []
    hook = pipeline.transformer.register_forward_hook(lambda module, args, kwargs_or_out: calls.append(1))
    try:
        take = engine_output(warm, draft_shot, tmp_path / "draft")
        blocks = [m for m in pipeline.transformer.modules() if m.__class__.__name__ in pipeline.transformer._repeated_blocks]
        assert blocks and all(m._compiled_call_impl is not None for m in blocks)
    finally:
        hook.remove()
        regional_compile.set_compiled(pipeline.transformer, False)
        backend.configure(pipeline, runtime, Switches())
        torch._dynamo.reset()
    assert take.record["speed"]["compile"] is True and "compile_failed" not in take.record["speed"]
    assert len(calls) == 4  # 4 steps, one window, one transformer call each: no unconditional pass
    resolved = take.record["resolved"]
    assert (resolved["steps"], resolved["guidance"], resolved["quality"]) == (4, 1.0, "draft")
    schedule = take.record["draft"]["schedule"]
    assert schedule["timesteps"] == [999, 937, 833, 625] and schedule["flow_shift"] == 5.0
    assert schedule["scheduler"] == "UniPCMultistepScheduler"
    assert take.record["draft"]["lora"]["file"] == str(distill.resolve())
    assert [lora["role"] for lora in take.record["loras"]] == ["draft"]

    from diffusers import UniPCMultistepScheduler

    stock = stock_with(engine_cache, [(distill, 1.0)])
    stock.scheduler = UniPCMultistepScheduler.from_config(stock.scheduler.config, flow_shift=5.0)
    expected = stock_output(stock, draft_shot, num_inference_steps=4, guidance_scale=1.0)
    assert levels(take.frames, expected) <= FRAME_TOLERANCE
    assert pipeline.scheduler.config.flow_shift == tiny_random.scheduler().config.flow_shift  # its own schedule back


def test_draft_without_a_known_distill_lora_is_one_line(shot, engine_cache):
    from engine.errors import ParamsError
    from engine.generation.generate import check_inputs

    with pytest.raises(ParamsError, match="none is known for tiny-random") as error:
        check_inputs(shot.bundle, shot.bundle.parent / "never", shot.params.__class__(
            prompt="a street", model="tiny-random", quality="draft"))
    assert "\n" not in str(error.value)


def test_the_worker_protocol_switches_loras_between_requests(engine_cache, files, tmp_path):
    """``"loras"`` in the protocol's params, through the real worker: the second request is warm and
    runs the other LoRA and weight."""
    import json
    import sys

    from engine.worker import protocol
    from engine.worker.client import EngineClient
    from engine_testlib import REPO_ROOT, engine_env

    bundle = make_bundle(tmp_path / "bundle", frames=list(range(1, 6)))
    client = EngineClient(python=sys.executable, package_root=str(REPO_ROOT), env=engine_env(engine_cache))
    client.start(timeout=120)
    try:
        records = []
        for index, loras in enumerate(([{"path": str(files["original"]), "weight": 0.8}], [f"{files['musubi']}:0.3"])):
            params = {"model": "tiny-random", "prompt": "rainy neon street", "seed": 1, "steps": 1, "loras": loras}
            request_id = client.generate(bundle, tmp_path / f"take{index}", params)
            events = list(client.events(request_id, timeout=120))
            assert isinstance(events[-1], protocol.Result), events[-1]
            records.append(json.loads((tmp_path / f"take{index}" / "take.json").read_text()))
    finally:
        client.close()
    assert [r["warm"] for r in records] == [False, True]
    assert [(r["loras"][0]["file"], r["loras"][0]["weight"]) for r in records] == [
        (str(files["original"]), 0.8), (str(files["musubi"]), 0.3)]
