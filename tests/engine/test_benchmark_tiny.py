"""``benchmarks/engine.py --tiny`` runs the whole benchmark's code on the CPU (tiny configs), so CI
exercises the same code the GPU suite runs: one JSON line per configuration, all ok (the memory
profiles are skipped on the CPU, and say why), a stock-vs-engine ratio, and the FLOP counter
agreeing with the issue's anchor (one 1.3B forward at 832x480x81 is about 283 TFLOP)."""

import json
import subprocess
import sys
from pathlib import Path

from engine_testlib import load_benchmark

REPO = Path(__file__).resolve().parents[2]


def test_flop_counter_matches_the_anchor():
    architectures = load_benchmark("architectures")

    main_only = dict(architectures.TRANSFORMERS["vace-1.3b"], vace_layers=[])
    assert abs(architectures.transformer_flops(main_only, 21, 60, 104) / 1e12 - 283) < 1
    # VACE's 15 extra blocks add about half again
    assert 1.45 < architectures.transformer_flops(architectures.TRANSFORMERS["vace-1.3b"], 21, 60, 104) / 1e12 / 283 < 1.55


def test_tiny_benchmark_runs_on_cpu(tmp_path, engine_cache):
    out = tmp_path / "bench.jsonl"
    # --compile on: the regional-compile ablation and a compiled engine take run on the CPU too
    # (inductor), the same path the GPU run takes when compile wins its ablation.
    # tiny-a14b: the two-expert branch (Wan2.2 A14B), stock and engine only (the rest is tiny's code again).
    result = subprocess.run([sys.executable, str(REPO / "benchmarks" / "engine.py"), "--tiny", "--out", str(out),
                             "--warm", "--more-ablations", "--compile", "on", "--models", "tiny,tiny-a14b",
                             "--skip", "tiny-a14b/final-*,tiny-a14b/steps-*"],
                            capture_output=True, text=True, timeout=600, cwd=REPO)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines == [json.loads(line) for line in out.read_text().splitlines()]
    by_config = {line["config"]: line for line in lines}
    for config in ("tiny/build", "tiny/stock", "tiny/engine", "tiny/engine-warm", "tiny/steps-plain",
                   "tiny/steps-attention", "tiny/steps-batched-guidance", "tiny/steps-attention+compile",
                   "tiny/steps-attention+compile+batched", "tiny/steps-attention+compile-cached",
                   "tiny/decode", "tiny/preview"):
        assert by_config[config]["ok"], by_config[config]
    # the ablations run before the full take, which uses (and names) what they chose
    order = [line["config"] for line in lines]
    assert order.index("tiny/stock") < order.index("tiny/steps-plain") < order.index("tiny/engine")
    compiled = by_config["tiny/steps-attention+compile"]
    assert compiled["fullgraph"] is True and compiled["switches"]["compile"] is True
    assert "compile_seconds_estimate" in compiled
    assert by_config["tiny/engine"]["chosen"]["compile"].startswith("on")
    assert by_config["tiny/engine"]["switches"]["compile"] is True
    assert by_config["tiny/preview"]["switches"]["compile"] is True  # compiled blocks, run eagerly
    engine = by_config["tiny/engine"]
    assert set(engine["phases"]) == {"loading", "encoding", "denoising", "decoding", "writing", "total"}
    assert len(engine["step_seconds"]) == 2 and engine["speedup_vs_stock_generation"] > 0
    assert by_config["tiny/engine-warm"]["switches"]["prompt_embeddings_cached"] is True
    assert by_config["tiny/engine-warm"]["phases"]["encoding"] < 0.05
    assert by_config["tiny/preview"]["quality"] == "preview" and by_config["tiny/preview"]["steps"] == 3
    assert "CUDA only" in by_config["tiny/offload-group"]["skipped"]
    # issue 14: the step caches on the final take, draft where the engine has it, fp8 weights, two experts
    for config in ("tiny/final-cache-first-block", "tiny/final-cache-mag", "tiny/final-fp8",
                   "tiny-a14b/stock", "tiny-a14b/engine"):
        assert by_config[config]["ok"], by_config[config]
    for config in ("tiny/final-cache-first-block", "tiny/final-cache-mag"):
        cached = by_config[config]
        assert cached["step_cache"]["transformer_evaluations"] == 4 and cached["evaluations_saved_fraction"] is not None
        assert cached["levels_vs_engine_final"]["max"] >= 0 and cached["switches"]["compile"] is True
    draft = by_config["tiny/draft"]  # with a random stand-in for the distill LoRA, at its rank
    assert draft["ok"], draft
    assert draft["quality"] == "draft" and draft["steps"] == 4 and draft["guidance"] == 1.0
    assert len(draft["step_seconds"]) == 4
    assert "A14B" in by_config["tiny-a14b/draft"]["skipped"]  # the engine knows no draft LoRA for it
    fp8 = by_config["tiny/final-fp8"]
    assert fp8["weights"].startswith("float8_e4m3fn") and fp8["fp8_weights_bytes"] < fp8["weights_bytes_as_loaded"]
    assert by_config["tiny-a14b/engine"]["speedup_vs_stock_generation"] > 0
    assert order.index("tiny/engine") < order.index("tiny/final-cache-first-block") < order.index("tiny-a14b/build")
    assert lines[-1]["config"] == "-/summary" and lines[-1]["failed"] == []
    assert {t["config"] for t in lines[-1]["targets"]} == {"vace-1.3b/draft", "vace-14b/draft", "vace-1.3b/engine"}
    assert all(t["measured"] is None for t in lines[-1]["targets"])  # no GPU model in a tiny run
