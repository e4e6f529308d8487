"""``take.json``: the record of how a take was made (schema ``neural_previs.take/1``, see docs/engine.md)."""

from __future__ import annotations

import datetime
import platform

from .. import __version__
from .bundle import bundle_hash
from .take import TAKE_SCHEMA


def take_record(bundle, params, request, model, spec, runtime, size, windows, timings, warm, files, preview) -> dict:
    """Everything needed to know how a take was made, and to make it again."""
    import diffusers
    import torch

    frames = bundle.frame_numbers
    record = {
        "schema": TAKE_SCHEMA,
        "engine_version": __version__,
        "created_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "synthetic": spec.synthetic,
        "bundle": {
            "path": str(bundle.root),
            "hash": bundle_hash(bundle),
            "schema": bundle.schema,
            "width": bundle.width,
            "height": bundle.height,
            "fps": bundle.fps,
            "near": bundle.near,
            "far": bundle.far,
            "frame_count": len(frames),
            "first_frame": frames[0],
            "last_frame": frames[-1],
        },
        "params": params.to_dict(),
        "resolved": {
            "backend": spec.name,
            "steps": request.steps,
            "guidance": request.guidance,
            "seed": request.seed,
            "quality": params.quality,
            "window_seeds": "seed + window index",
        },
        "model": model.describe(),
        "runtime": {
            "device": runtime.describe_device(),
            "dtype": runtime.dtype,
            "offload": runtime.offload,
            "torch": torch.__version__,
            "diffusers": diffusers.__version__,
            "python": platform.python_version(),
        },
        "plan": {
            "work_width": size.work_width,
            "work_height": size.work_height,
            "scaled_width": size.scaled_width,
            "scaled_height": size.scaled_height,
            "padding_left_top_right_bottom": [size.pad_left, size.pad_top, size.pad_right, size.pad_bottom],
            "windows": [
                {"first_frame": frames[w.start], "last_frame": frames[w.stop - 1], "carried": w.carried, "generated": w.generated}
                for w in windows
            ],
            # issue 16 §3: what the window plan costs, transformer frames generated per shot frame
            "generated_frames": sum(w.generated for w in windows),
            "cost": round(sum(w.generated for w in windows) / len(frames), 4),
        },
        "timings_seconds": {k: round(v, 4) for k, v in timings.items()},
        "warm": warm,
        "peak_memory": runtime.peak_memory(),
        "frames": [{"frame": number, "file": name} for number, name in zip(frames, files)],
        "preview": preview,
    }
    if spec.context_windows and len(frames) > spec.window:  # one call, the pipeline's own sliding context
        record["plan"]["context"] = {"mechanism": "FreeNoise", "context_length": spec.window, "context_stride": spec.window - spec.overlap}
    if spec.synthetic:
        record["note"] = "tiny-random has random weights: these frames are noise, useful only to test the pipeline"
    return record


def storyboard_record(params, shot) -> dict:
    """Issue 15: the keyframes (frame, image path, the image's sha256, mode) and the per-object controls,
    so the take can be made again with the same images; absent keys mean no keyframes / all depth."""
    from ..generation import controls, keyframes

    return {
        "keyframes": keyframes.describe(params.keyframes),
        "controls": controls.describe(params.controls, shot.controls or controls.ObjectControls()),
    }
