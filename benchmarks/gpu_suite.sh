#!/usr/bin/env bash
# The engine speed suite for an offline H100/H200 machine, in one prepared script.
#
#   benchmarks/gpu_suite.sh OUT_DIR [--tiny] [--all] [--wheels DIR] [--budget SECONDS] [--grace SECONDS] [--models LIST] [-- ENGINE_ARGS...]
#   benchmarks/gpu_suite.sh --stage DIR [--wheels DIR]   # copy engine/, this script, benchmarks/engine.py (+ engine_inputs.py, architectures.py) and
#                                                        # the wheels into DIR, to carry to the GPU machine
#
# 1. installs what such a machine may lack (diffusers, ftfy, OpenEXR, imageio-ffmpeg, ...) from the
#    wheels in DIR (default: benchmarks/wheels, or $NP_WHEELS) with pip --no-index --no-deps --target;
# 2. records the machine (nvidia-smi, versions, import check) in OUT_DIR/environment.txt;
# 3. runs benchmarks/engine.py with its JSON lines in OUT_DIR/engine.jsonl and its log in
#    OUT_DIR/engine.log, ordered by value: VACE-1.3B at 832x480x81 (stock WanVACEPipeline, the
#    attention and compile ablations, the engine's final take, final with each step cache, draft,
#    preview, fp8 steps, memory profiles), then VACE-14B and Wan2.2 A14B (vace-a14b) at 1280x720x81
#    (a few timed steps each, extrapolated) as far as the time budget allows; the lower-value lines
#    (VAE-only decode, the model-offload profile, the cached-compile rerun) are skipped unless --all.
#    All inside BUDGET seconds (default 440; the benchmark is stopped GRACE seconds after the budget,
#    default 50: a configuration that started inside the budget may finish), so the whole script,
#    wheels and summary included, stays under 9 minutes;
# 4. prints the JSON lines' summary at the end.
#
# --tiny: the same script on the CPU (tiny configs): the dry run. Wheels that do not fit this Python
# are reported and skipped in --tiny mode (the local environment already has the packages); on the
# GPU a failed install stops the script.
set -u -o pipefail

usage() { sed -n '2,/^[^#]/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }
[ $# -ge 1 ] || { usage; exit 2; }
case $1 in -h|--help) usage; exit 0 ;; esac
if [ "$1" = --stage ]; then
    [ $# -ge 2 ] || { usage; exit 2; }
    STAGE=$2; SOURCE=$(cd "$(dirname "$0")/.." && pwd); STAGE_WHEELS=${NP_WHEELS:-$SOURCE/benchmarks/wheels}
    [ "${3:-}" = --wheels ] && STAGE_WHEELS=$4
    rm -rf "$STAGE"; mkdir -p "$STAGE/benchmarks" "$STAGE/wheels"
    (cd "$SOURCE" && tar --exclude=__pycache__ -cf - engine) | tar -xf - -C "$STAGE"
    cp "$SOURCE/benchmarks/engine.py" "$SOURCE/benchmarks/engine_inputs.py" "$SOURCE/benchmarks/architectures.py" "$SOURCE/benchmarks/gpu_suite.sh" "$STAGE/benchmarks/"
    cp "$STAGE_WHEELS"/*.whl "$STAGE/wheels/" 2>/dev/null || echo "no wheels in $STAGE_WHEELS" >&2
    du -sh "$STAGE"; exit 0
fi
OUT=$1; shift
case $OUT in -*) echo "the first argument is the output folder, got $OUT" >&2; usage; exit 2 ;; esac
TINY=0
REPO=$(cd "$(dirname "$0")/.." && pwd)
WHEELS=${NP_WHEELS:-$REPO/benchmarks/wheels}
BUDGET=440
GRACE=50
MODELS=vace-1.3b,vace-14b,vace-a14b
# Lower-value configurations, skipped so the budget goes to the modes (--all keeps them).
SKIP="*/decode,*/offload-model,*/steps-attention+compile-cached"
EXTRA=()
while [ $# -gt 0 ]; do
    case $1 in
        --tiny) TINY=1 ;;
        --wheels) WHEELS=$2; shift ;;
        --budget) BUDGET=$2; shift ;;
        --grace) GRACE=$2; shift ;;
        --models) MODELS=$2; shift ;;
        --all) SKIP="" ;;
        --) shift; EXTRA=("$@"); break ;;
        -h|--help) usage; exit 0 ;;
        *) echo "unknown argument $1" >&2; usage; exit 2 ;;
    esac
    shift
done
mkdir -p -- "$OUT" && OUT=$(cd -- "$OUT" && pwd) || exit 2
PYTHON=${PYTHON:-}
if [ -z "$PYTHON" ]; then
    for candidate in /opt/torch/.venv/bin/python3 python3; do
        if command -v "$candidate" >/dev/null 2>&1; then PYTHON=$candidate; break; fi
    done
fi
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
say() { echo "[suite $(date -u +%H:%M:%S)] $*" | tee -a "$OUT/suite.log" >&2; }
START=$(date +%s)
say "repo $REPO, python $PYTHON, out $OUT, tiny=$TINY, budget ${BUDGET}s, models $MODELS"

# 1. wheels
SITE=${NP_SITE:-/tmp/np-site}
if ls "$WHEELS"/*.whl >/dev/null 2>&1; then
    say "installing $(ls "$WHEELS"/*.whl | wc -l) wheel(s) from $WHEELS into $SITE"
    rm -rf "$SITE"; mkdir -p "$SITE"
    if "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" "$WHEELS"/*.whl >>"$OUT/suite.log" 2>&1; then
        export PYTHONPATH=$SITE${PYTHONPATH:+:$PYTHONPATH}
    elif [ $TINY = 1 ]; then
        say "wheels do not install on this Python ($("$PYTHON" -V 2>&1)): dry run goes on with its own packages"
    else
        say "wheel install failed (see suite.log)"; exit 3
    fi
else
    say "no wheels in $WHEELS: using the installed packages"
fi
export PYTHONPATH=$REPO${PYTHONPATH:+:$PYTHONPATH}

# 2. the machine
{
    echo "date: $(date -u +%FT%TZ)"; uname -a
    command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm,power.limit --format=csv
    "$PYTHON" - <<'EOF'
import importlib, sys
print("python", sys.version.split()[0])
for name in ("torch", "diffusers", "transformers", "accelerate", "safetensors", "tokenizers", "numpy", "PIL", "OpenEXR", "imageio_ffmpeg", "ftfy"):
    try:
        module = importlib.import_module(name)
        print(name, getattr(module, "__version__", "?"))
    except Exception as error:
        print(name, "MISSING", type(error).__name__, error)
import torch
print("cuda", torch.version.cuda, "available", torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")
EOF
} >"$OUT/environment.txt" 2>&1
cat "$OUT/environment.txt" >&2

# 3. the benchmark
ARGS=(--out "$OUT/engine.jsonl" --budget "$BUDGET")
[ -n "$SKIP" ] && ARGS+=(--skip "$SKIP")
if [ $TINY = 1 ]; then ARGS+=(--tiny); else ARGS+=(--models "$MODELS"); fi
say "benchmarks/engine.py ${ARGS[*]} ${EXTRA[*]:-}"
# A hard stop GRACE seconds after the budget: whatever was measured is already in engine.jsonl.
timeout --signal=TERM --kill-after=10 $((BUDGET + GRACE)) "$PYTHON" "$REPO/benchmarks/engine.py" "${ARGS[@]}" "${EXTRA[@]}" \
    >"$OUT/engine.stdout" 2> >(tee -a "$OUT/engine.log" >&2)
STATUS=$?
say "benchmark exit $STATUS after $(( $(date +%s) - START ))s"

# 4. summary
"$PYTHON" - "$OUT/engine.jsonl" <<'EOF' | tee "$OUT/summary.txt"
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])] if open(sys.argv[1]).read().strip() else []
for row in rows:
    keys = ("generation_seconds", "end_to_end_seconds", "step_median_seconds", "fraction_of_bf16_peak",
            "speedup_vs_stock_generation", "step_speedup_vs_stock", "peak_memory_bytes", "peak_memory_above_resident_bytes",
            "peak_reserved_bytes", "fits_budget", "time_vs_unconstrained_engine", "compile_seconds_estimate",
            "evaluations_saved_fraction", "speedup_vs_engine_final", "levels_vs_engine_final", "fp8_weights_bytes")
    status = "ok" if row.get("ok") else ("skipped: " + row["skipped"] if row.get("skipped") else "ERROR: " + str(row.get("error")))
    print(f"{row['config']:<40} {status[:90]}", *(f"{k}={row[k]}" for k in keys if row.get(k) is not None))
    for target in row.get("targets", []):
        verdict = {True: "met", False: "NOT met", None: "not measured"}[target["met"]]
        print(f"  target {target['config']} {target['key']} {target['op']} {target['target']}: {target['measured']} ({verdict})")
EOF
exit $STATUS
