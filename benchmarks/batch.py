"""Batch runner against a plain loop over the same shots, measured in the same run.

N small shots (tiny-random, so the numbers measure the orchestration, not a model): the loop renders each
shot's bundle in a Blender subprocess and then runs `python -m engine generate` for it, one shot after
another, as a hand-written farm script would; the runner is `python -m engine batch` on a local Ray.
Prints both totals, their ratio, the Ray start-up cost, and each side's time per shot; one JSON line.

    python benchmarks/batch.py [--shots 4]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from engine.batch.blender import run_blender  # noqa: E402

_MAKE_BLEND = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {demo!r})
    import bpy
    from demo.blockout import build_blockout
    bpy.ops.wm.read_homefile(use_empty=True)
    build_blockout(bpy.context.scene, detail=0.2, frames={frames}, width={width}, height={height})
    bpy.ops.wm.save_as_mainfile(filepath={path!r})
    """
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shots", type=int, default=4)
    parser.add_argument("--frames", type=int, default=9)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="neural_previs_batch_bench_"))
    blend = work / "shot.blend"
    subprocess.run([sys.executable, "-c", _MAKE_BLEND.format(demo=str(REPO), frames=args.frames, width=64, height=48, path=str(blend))], check=True, capture_output=True)
    names = [f"sh{index:03d}" for index in range(1, args.shots + 1)]
    common = {"model": "tiny-random", "steps": 2, "seed": 1}

    # The loop: bundle, then a fresh engine process, shot after shot.
    start = time.perf_counter()
    for name in names:
        bundle, take = work / "loop" / name / "bundle", work / "loop" / name / "take"
        answer = run_blender(sys.executable, "condition", {"blend": str(blend), "bundle": str(bundle)})
        assert answer["ok"], answer
        done = subprocess.run([sys.executable, "-m", "engine", "generate", str(bundle), "--out", str(take), "--prompt", name,
                               "--model", common["model"], "--steps", str(common["steps"]), "--seed", str(common["seed"])],
                              cwd=REPO, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-500:]
    loop_s = time.perf_counter() - start

    # Ray's own start-up, measured apart so the per-shot cost of the runner is visible.
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import ray; ray.init(include_dashboard=False, log_to_driver=False); ray.shutdown()"],
                   check=True, capture_output=True)
    ray_start_s = time.perf_counter() - start

    shot_list = work / "shots.toml"
    lines = ["[defaults]"] + [f"{key} = {json.dumps(value)}" for key, value in common.items()] + ['out = "runner"', ""]
    for name in names:
        lines += ["[[shots]]", f'name = "{name}"', f'blend = "{blend}"', f'prompt = "{name}"', ""]
    shot_list.write_text("\n".join(lines))
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "engine", "batch", str(shot_list)], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "RAY_DEDUP_LOGS": "0"})
    runner_s = time.perf_counter() - start
    assert done.returncode == 0, done.stdout[-1000:] + done.stderr[-1000:]

    n = len(names)
    print(f"{n} shots of {args.frames} frames (tiny-random), {os.cpu_count()} CPUs")
    print(f"loop (bundle, then a fresh engine, shot after shot): {loop_s:7.1f} s  ({loop_s / n:5.1f} s/shot)")
    print(f"batch runner on a local Ray:                          {runner_s:7.1f} s  ({runner_s / n:5.1f} s/shot)")
    print(f"  of which Ray start-up:                              {ray_start_s:7.1f} s  (once per run)")
    print(f"  runner per shot beyond Ray start-up:                {(runner_s - ray_start_s) / n:7.1f} s")
    print(f"speed-up: {loop_s / runner_s:.2f}x")
    print(json.dumps({"benchmark": "batch", "shots": n, "frames": args.frames, "loop_s": round(loop_s, 2), "runner_s": round(runner_s, 2),
                      "ray_start_s": round(ray_start_s, 2), "speedup": round(loop_s / runner_s, 3), "cpus": os.cpu_count()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
