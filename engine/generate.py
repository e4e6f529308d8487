"""One generation, from a bundle to a take, and the session that keeps a model loaded between them.

The steps of ``generate_take`` (numbered as in the code):
 1. check everything that needs no model: parameters, bundle, take folder, model on disk, mode;
 2. load the pipeline (free when the session already holds it: the warm worker);
 3. encode the prompt;
 4. per window: build its conditioning, denoise (progress + cancel each step), decode, blend;
 5. write the take (temporary sibling folder, renamed when complete).
Used by both ``python -m engine generate`` and the ``serve`` worker.
"""

from __future__ import annotations

import datetime
import gc
import platform
import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from . import __version__
from .backends import get_spec, load_backend
from .bundle import SCHEMA, bundle_hash, read_bundle, validate_pixels
from .conditioning import from_work_size
from .errors import GenerationCancelled, ParamsError
from .params import MAX_SEED, GenerateParams
from .shot import build_shot_conditioning, window_inputs
from .snapping import blend_weights, plan_size, plan_windows
from .take import TAKE_SCHEMA, TakeWriter
from .weights import resolve_model

#: ``report(phase, step, total, **extra)``: called for every progress event.
Reporter = Callable[..., None]


@dataclass
class Request:
    """A generation with its defaults resolved (what take.json records under ``resolved``)."""

    params: GenerateParams
    steps: int
    guidance: float
    seed: int


@dataclass
class TakeSummary:
    path: Path
    frames: int
    seconds: float
    synthetic: bool
    timings: dict = field(default_factory=dict)


class Session:
    """Holds at most one loaded pipeline and reuses it while requests ask for the same model on the
    same device, precision and memory profile. Loading another model releases the previous one first
    (two video models rarely fit one GPU)."""

    def __init__(self):
        self._key = None
        self._backend = None
        self._pipeline = None

    def pipeline(self, model, runtime):
        """Return ``(backend, pipeline, warm)``."""
        key = (model.backend, str(model.path), model.fingerprint, runtime.key,
               tuple(sorted((k, str(v.path)) for k, v in model.components.items())))
        if key == self._key:
            return self._backend, self._pipeline, True
        self.unload()
        backend = load_backend(model.backend)
        self._pipeline = backend.load(model, runtime)
        self._backend, self._key = backend, key
        return backend, self._pipeline, False

    def unload(self) -> None:
        self._key = self._backend = self._pipeline = None
        gc.collect()
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def generate_take(
    session: Session,
    bundle_path: str | Path,
    out: str | Path,
    params: GenerateParams,
    report: Reporter,
    cancel: threading.Event | None = None,
) -> TakeSummary:
    started = time.perf_counter()
    cancel = cancel or threading.Event()
    timings = {phase: 0.0 for phase in ("loading", "encoding", "denoising", "decoding", "writing")}

    # 1. Everything that can be checked without loading the model.
    params.check()
    bundle = read_bundle(bundle_path)
    validate_pixels(bundle)
    if params.mode == "selective":
        bundle.object_ids(params.objects)
    writer = TakeWriter(out)
    model = resolve_model(params.model, params.download, params.motion_adapter, params.controlnet)
    spec = get_spec(model.backend)
    if params.mode not in spec.modes:
        raise ParamsError(f"backend {spec.name} supports mode(s) {', '.join(spec.modes)}, not {params.mode}")
    if params.reference and "reference" not in spec.conditioning:
        raise ParamsError(f"backend {spec.name} does not take a reference image; drop --reference")
    shot = build_shot_conditioning(bundle, params)
    # torch is imported only now, so bad input is reported without paying for it.
    from .runtime import is_out_of_memory, out_of_memory_error, resolve_runtime

    runtime = resolve_runtime(params)
    request = Request(
        params=params,
        steps=params.steps or spec.default_steps,
        guidance=float(spec.default_guidance if params.guidance is None else params.guidance),
        seed=params.seed if params.seed is not None else random.SystemRandom().randrange(MAX_SEED),
    )
    size = plan_size(bundle.width, bundle.height, spec.size_multiple, spec.max_pixels)
    windows = plan_windows(len(bundle.frames), spec.window, spec.overlap, spec.frame_rule)
    total = request.steps * len(windows)
    progress = _Progress(report, total, len(windows))
    runtime.reset_peak_memory()
    # Every place that uses tiny-random says its output is noise: the first event does too.
    loading_note = {"note": "tiny-random: random weights, the take will be noise"} if spec.synthetic else {}

    phase = "loading"
    try:
        # 2. Load (or reuse) the pipeline.
        _check(cancel)
        progress.phase("loading", **loading_note)
        clock = time.perf_counter()
        backend, pipeline, warm = session.pipeline(model, runtime)
        timings["loading"] = time.perf_counter() - clock

        # 3. Encode the prompt.
        _check(cancel)
        phase = "encoding"
        progress.phase("encoding")
        clock = time.perf_counter()
        embeds = backend.encode_prompt(pipeline, request)
        timings["encoding"] = time.perf_counter() - clock

        # 4. Generate window by window, blending each into the shot-sized output.
        output = np.zeros((len(bundle.frames), bundle.height, bundle.width, 3), dtype=np.uint8)
        for window in windows:
            _check(cancel)
            phase = "denoising"
            progress.window = window.index + 1
            inputs = window_inputs(shot, window, size, output, request.seed, carry_pixels="mask" in spec.conditioning)
            clock = time.perf_counter()

            def on_step(step_in_window: int) -> None:
                progress.step(window.index * request.steps + step_in_window)
                if cancel.is_set():
                    raise GenerationCancelled()

            latents = backend.denoise(pipeline, inputs, embeds, request, on_step)
            timings["denoising"] += time.perf_counter() - clock
            _check(cancel)
            phase = "decoding"
            progress.phase("decoding")
            clock = time.perf_counter()
            decoded = backend.decode(pipeline, latents, inputs)
            timings["decoding"] += time.perf_counter() - clock
            progress.decoded(time.perf_counter() - clock)
            _blend(output, decoded, window, size)

        # 5. Write the take, all or nothing.
        _check(cancel)
        phase = "writing"
        progress.phase("writing")
        clock = time.perf_counter()
        writer.begin()
        files = writer.write_frames(bundle.frame_numbers, output)
        preview = writer.write_preview(output, bundle.fps)
        timings["writing"] = time.perf_counter() - clock
        timings["total"] = time.perf_counter() - started
        writer.write_json(
            _record(bundle, params, request, model, spec, runtime, size, windows, timings, warm, files, preview)
        )
        path = writer.commit()
    except BaseException as error:
        writer.abort()
        if is_out_of_memory(error):
            _free_accelerator_memory()
            raise out_of_memory_error(
                runtime, phase, f"{len(bundle.frames)} frames at {size.work_width}x{size.work_height}"
            ) from None
        raise
    return TakeSummary(path=path, frames=len(bundle.frames), seconds=time.perf_counter() - started,
                       synthetic=spec.synthetic, timings=timings)


def _free_accelerator_memory() -> None:
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


class _Progress:
    """Turns phase changes and steps into ``report`` calls, with an ETA from measured step times."""

    def __init__(self, report: Reporter, total: int, windows: int):
        self.report, self.total, self.windows = report, total, windows
        self.window = 1
        self.done = 0
        self.decoded_windows = 0
        self.decode_seconds: float | None = None
        self._step_times: list[float] = []  # perf_counter at each completed step

    def phase(self, name: str, **extra) -> None:
        self.report(name, self.done, self.total, eta=self._eta(), window=self.window, windows=self.windows, **extra)

    def step(self, step: int) -> None:
        self.done = step
        self._step_times.append(time.perf_counter())
        self.report("denoising", step, self.total, eta=self._eta(), window=self.window, windows=self.windows)

    def decoded(self, seconds: float) -> None:
        self.decoded_windows += 1
        self.decode_seconds = seconds

    def _eta(self) -> float | None:
        """Seconds left for denoising and decoding; None until two steps give a step time."""
        if len(self._step_times) < 2:
            return None
        per_step = (self._step_times[-1] - self._step_times[0]) / (len(self._step_times) - 1)
        per_decode = self.decode_seconds if self.decode_seconds is not None else per_step
        return round(per_step * (self.total - self.done) + per_decode * (self.windows - self.decoded_windows), 2)


def _check(cancel: threading.Event) -> None:
    if cancel.is_set():
        raise GenerationCancelled()


def _blend(output: np.ndarray, decoded: np.ndarray, window, size) -> None:
    """Put a decoded window into the shot: its carried frames cross-fade with what earlier windows
    wrote, the rest is copied; padding frames beyond the window's length are dropped."""
    weights = blend_weights(window.carried)
    for offset in range(window.length):
        frame = from_work_size(decoded[offset], size)
        index = window.start + offset
        if offset < window.carried:
            weight = weights[offset]
            mixed = (1.0 - weight) * output[index].astype(np.float32) + weight * frame.astype(np.float32)
            output[index] = np.clip(np.round(mixed), 0, 255).astype(np.uint8)
        else:
            output[index] = frame


def _record(bundle, params, request, model, spec, runtime, size, windows, timings, warm, files, preview) -> dict:
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
            "schema": SCHEMA,
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
        },
        "timings_seconds": {k: round(v, 4) for k, v in timings.items()},
        "warm": warm,
        "peak_memory": runtime.peak_memory(),
        "frames": [{"frame": number, "file": name} for number, name in zip(frames, files)],
        "preview": preview,
    }
    if spec.synthetic:
        record["note"] = "tiny-random has random weights: these frames are noise, useful only to test the pipeline"
    return record
