"""One generation, from a bundle to a take. Used by ``python -m engine generate`` and the worker.

The steps of ``generate_take`` (numbered as in the code):
 1. ``check_inputs``: everything that needs no model (parameters, bundle, take folder, model on
    disk, mode, conditioning), so bad input fails in seconds and before torch is imported;
 2. load the pipeline (free when the session already holds it: the warm worker);
 3. encode the prompt;
 4. per window: build its conditioning, denoise (progress + cancel each step), decode, blend
    (selective mode: the plate's pixels put back outside the selection, ``composite``);
 5. write the take (temporary sibling folder, renamed when complete), scored for consistency (``engine.qc``).
"""

from __future__ import annotations

import gc
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..backends import BackendSpec, get_spec
from ..formats.bundle import Bundle, read_bundle, validate_pixels
from ..errors import GenerationCancelled, ParamsError
from ..formats.params import GenerateParams, draw_seed
from .progress import ProgressTracker, Reporter
from .request import Request
from .session import Session
from .shot import ShotConditioning, build_shot_conditioning, window_inputs
from .snapping import Window, plan_size, plan_windows
from ..formats.take import TakeWriter
from ..formats.take_record import storyboard_record, take_record
from ..models.experts import check_model_options
from ..models.weights import ResolvedModel, resolve_model
from ..qc.report import write_report
from ..qc.score import score_take
from ..speed import draft, quality
from .windows import blend_window
from .composite import keep_plate
from .keyframes import paste_exact
from . import carry


@dataclass
class CheckedInputs:
    """The outcome of ``check_inputs``: everything a generation needs except the loaded model."""

    bundle: Bundle
    writer: TakeWriter
    model: ResolvedModel
    spec: BackendSpec
    shot: ShotConditioning
    loras: list = field(default_factory=list)
    """``ResolvedLora`` for each LoRA of the take (``--lora`` and ``quality draft``'s), checked against the model."""


@dataclass
class TakeSummary:
    path: Path
    frames: int
    seconds: float
    synthetic: bool
    timings: dict = field(default_factory=dict)


def check_inputs(bundle_path: str | Path, out: str | Path, params: GenerateParams) -> CheckedInputs:
    """Raise an ``EngineError`` (one line) for the first problem with the request; load nothing."""
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
    if params.plate_from and "mask" not in spec.conditioning:
        raise ParamsError(f"backend {spec.name} cannot keep pixels from another take; use a Wan VACE model, or drop --plate-from")
    if params.reference and "reference" not in spec.conditioning:
        raise ParamsError(f"backend {spec.name} does not take a reference image; drop --reference")
    check_model_options(model, spec, params)  # guidance_2, cache, weights (engine.models.experts)
    if (params.keyframes or set(params.controls.values()) - {"depth"}) and "mask" not in spec.conditioning:
        raise ParamsError(f"backend {spec.name} cannot keep pixels, so it takes no keyframes and no pose or keep controls; use a Wan VACE model")
    shot = build_shot_conditioning(bundle, params, temporal=spec.frame_rule.modulus)
    loras = draft.take_loras(params, model, spec)  # before any weights load: a misfit LoRA is one line
    return CheckedInputs(bundle=bundle, writer=writer, model=model, spec=spec, shot=shot, loras=loras)


def generate_take(
    session: Session,
    bundle_path: str | Path,
    out: str | Path,
    params: GenerateParams,
    report: Reporter,
    cancel: threading.Event | None = None,
) -> TakeSummary:
    """Generate the take ``out`` from the bundle; ``report`` receives progress, ``cancel`` stops it
    within one denoising step (``GenerationCancelled``). Nothing is left on disk unless it succeeds."""
    started = time.perf_counter()
    cancel = cancel or threading.Event()
    timings = {phase: 0.0 for phase in ("loading", "encoding", "denoising", "decoding", "writing")}

    # 1. Everything that can be checked without loading the model.
    inputs = check_inputs(bundle_path, out, params)
    bundle, writer, model, spec = inputs.bundle, inputs.writer, inputs.model, inputs.spec
    # torch is imported only now, so bad input is reported without paying for it.
    from .runtime import is_out_of_memory, out_of_memory_error, resolve_runtime

    runtime = resolve_runtime(params)
    resolved = quality.resolve(params, spec)
    request = Request(
        params=params,
        steps=resolved.steps,
        guidance=resolved.guidance,
        seed=params.seed if params.seed is not None else draw_seed(),
        loras=tuple(inputs.loras),
    )
    # ``preview`` works on fewer pixels; the frames are scaled back to the shot's size.
    size = plan_size(bundle.width, bundle.height, spec.size_multiple, resolved.max_pixels)
    windows = plan_shot_windows(spec, len(bundle.frames), prefer_inside=[k.index for k in inputs.shot.keyframes or ()])
    progress = ProgressTracker(report, request.steps * len(windows), len(windows))
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
        embeds, cached = session.prompt_embeds(backend, pipeline, request)
        timings["encoding"] = time.perf_counter() - clock

        # 4. Generate window by window, blending each into the shot-sized output.
        output = np.zeros((len(bundle.frames), bundle.height, bundle.width, 3), dtype=np.uint8)
        for window in windows:
            _check(cancel)
            phase = "denoising"
            progress.window = window.index + 1
            window_in = window_inputs(inputs.shot, window, size, output, request.seed, carry_pixels="mask" in spec.conditioning)
            clock = time.perf_counter()

            def on_step(step_in_window: int) -> None:
                progress.step(window.index * request.steps + step_in_window)
                if cancel.is_set():
                    raise GenerationCancelled()

            if backend.compiles_first(pipeline, window_in, request):
                progress.phase("denoising", note="compiling the model for this size first (once per engine and size)")
            latents = backend.denoise(pipeline, window_in, embeds, request, on_step)
            timings["denoising"] += time.perf_counter() - clock
            _check(cancel)
            phase = "decoding"
            progress.phase("decoding")
            clock = time.perf_counter()
            decoded = backend.decode(pipeline, latents, window_in)
            timings["decoding"] += time.perf_counter() - clock
            progress.decoded(time.perf_counter() - clock)
            blend_window(output, decoded, window, size)
            if inputs.shot.keep is not None:  # selective: the plate's own pixels outside the selection
                for index in range(window.start, window.stop):
                    output[index] = keep_plate(output[index], inputs.shot.keep[index], inputs.shot.generate[index])
            if inputs.shot.set_frames is not None:  # --plate-from: the source takes' pixels, exactly (above the plate)
                for index in range(window.start, window.stop):
                    kept = inputs.shot.set_frames[index]
                    output[index] = keep_plate(output[index], kept.image, ~kept.valid)
            paste_exact(output, inputs.shot.keyframes, window.start, window.stop)  # exact keyframes: the image itself

        # 5. Write the take, all or nothing.
        _check(cancel)
        phase = "writing"
        progress.phase("writing")
        clock = time.perf_counter()
        writer.begin()
        # preview.mp4 is encoded by an ffmpeg process while the PNGs are compressed here.
        with ThreadPoolExecutor(max_workers=1) as encoder:
            preview_written = encoder.submit(writer.write_preview, output, bundle.fps)
            files = writer.write_frames(bundle.frame_numbers, output)
            kept = carry.kept_record(writer, bundle, inputs.shot)
            qc = write_report(writer.partial, score_take(bundle, output.__getitem__), writer.final.name)
            preview = preview_written.result()
        timings["writing"] = time.perf_counter() - clock
        timings["total"] = time.perf_counter() - started
        record = take_record(bundle, params, request, model, spec, runtime, size, windows, timings, warm, files, preview)
        record["speed"] = {**backend.applied, "prompt_embeddings_cached": cached}
        record.update(draft.record_fields(request, model))  # loras, and the draft's LoRA and schedule
        record["qc"] = qc
        record.update(storyboard_record(params, inputs.shot))
        if kept is not None:
            record["plate_from"] = kept
        writer.write_json(record)
        path = writer.commit()
    except BaseException as error:
        writer.abort()
        if is_out_of_memory(error):
            _free_accelerator_memory()
            raise out_of_memory_error(
                runtime, phase, f"{len(bundle.frames)} frames at {size.work_width}x{size.work_height}"
            ) from None
        raise
    return TakeSummary(
        path=path, frames=len(bundle.frames), seconds=time.perf_counter() - started, synthetic=spec.synthetic, timings=timings
    )


def plan_shot_windows(spec: BackendSpec, frame_count: int, prefer_inside=()) -> list[Window]:
    """The windows of a shot: one pipeline call for a backend with its own sliding context (``context_windows``),
    else ``plan_windows``' cheapest cover."""
    if spec.context_windows:
        return [Window(0, 0, frame_count, 0, spec.frame_rule.snap_up(frame_count))]
    return plan_windows(frame_count, spec.window, spec.overlap, spec.frame_rule, prefer_inside=prefer_inside)


def _check(cancel: threading.Event) -> None:
    if cancel.is_set():
        raise GenerationCancelled()


def _free_accelerator_memory() -> None:
    """After an out-of-memory error, give the cached blocks back so the next request can fit."""
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
