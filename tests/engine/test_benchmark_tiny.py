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
    result = subprocess.run([sys.executable, str(REPO / "benchmarks" / "engine.py"), "--tiny", "--out", str(out),
                             "--warm", "--more-ablations", "--compile", "on"],
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
    assert lines[-1]["config"] == "-/summary" and lines[-1]["failed"] == []
