"""Reprojection and the take score at production size, against reading the bundle, measured in the same run.

The demo blockout (about 20k faces) is rendered into a bundle of 81 frames at 832x480 (Wan's full window); then
`reproject` is timed on one pair of frames, and `score_take` (what every generation runs at its end) on the whole
take, against the baseline every consumer of a bundle pays anyway: reading its depth and masks once. Prints seconds,
ratios and one JSON line; CPU seconds beside wall seconds, since a shared machine inflates the latter.

    python benchmarks/reprojection.py             # the benchmark
    python benchmarks/reprojection.py --quick     # a small version (exercises the code; numbers are not the benchmark's)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from demo.blender_session import start_blender_with_extension  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    frames, width, height = (9, 208, 120) if args.quick else (81, 832, 480)

    bpy = start_blender_with_extension()
    import numpy as np

    from demo.blockout import build_blockout
    from engine.formats.bundle import read_bundle
    from engine.generation.reprojection import frame_view, reproject
    from engine.qc.score import score_take

    bpy.ops.wm.read_homefile(use_empty=True)
    build_blockout(bpy.context.scene, frames=frames, width=width, height=height)
    with tempfile.TemporaryDirectory() as folder:
        directory = Path(folder) / "bundle"
        assert bpy.ops.neural_previs.render_conditioning(directory=str(directory)) == {"FINISHED"}
        bundle = read_bundle(directory)

        start = time.perf_counter()
        for index in range(frames):
            bundle.read_depth(index), bundle.read_mask(index)
        read_seconds = time.perf_counter() - start

        # Frames of a take: any picture does for timing; inverse depth in grey, as a stand-in.
        images = np.repeat((np.clip(1.0 / np.stack([bundle.read_depth(i) for i in range(frames)]), 0, 1) * 255).astype(np.uint8)[..., None], 3, axis=3)
        source, target = frame_view(bundle, 0), frame_view(bundle, 1)
        source.edges, target.edges  # derived once per frame; part of score_take's time below
        reproject(images[0], source, target)  # warm caches: the timed call is a pair in the middle of a take
        start, cpu = time.perf_counter(), time.process_time()
        pair = reproject(images[0], source, target)
        pair_seconds, pair_cpu = time.perf_counter() - start, time.process_time() - cpu

        start, cpu = time.perf_counter(), time.process_time()
        score = score_take(bundle, images.__getitem__)
        score_seconds, score_cpu = time.perf_counter() - start, time.process_time() - cpu

    result = {
        "benchmark": "reprojection",
        "quick": args.quick,
        "frames": frames,
        "size": f"{width}x{height}",
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "read_bundle_seconds": round(read_seconds, 3),
        "reproject_pair_seconds": round(pair_seconds, 4),
        "reproject_pair_cpu_seconds": round(pair_cpu, 4),
        "score_take_seconds": round(score_seconds, 3),
        "score_take_cpu_seconds": round(score_cpu, 3),
        "score_take_over_reading": round(score_seconds / read_seconds, 2),
        "valid_fraction": round(pair.valid_fraction, 3),
        "mean_valid_fraction": round(score.valid_fraction_mean, 3),
    }
    print(f"reading the bundle ({frames} frames {width}x{height}): {read_seconds:.2f} s")
    print(f"reproject one pair: {pair_seconds * 1000:.1f} ms ({pair_cpu * 1000:.1f} ms CPU, {pair.valid_fraction:.0%} valid)")
    print(f"score_take ({frames - 1} pairs, {os.cpu_count()} CPUs): {score_seconds:.2f} s ({score_cpu:.2f} s CPU) = {score_seconds / read_seconds:.1f}x reading the bundle")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
