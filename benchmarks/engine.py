"""Engine speed benchmark: Neural Previs vs the stock diffusers ``WanVACEPipeline``, same GPU, same run.

The real architectures with random weights (``benchmarks/architectures.py``: Wan2.1-VACE-1.3B and
-14B, UMT5-XXL, the Wan 2.1 VAE; ``--tiny``: the engine's tiny-random components). For each model,
on the same inputs:

- ``stock``: ``WanVACEPipeline`` run as its documentation example does (bf16 weights, float32 VAE,
  UniPC with flow_shift 3.0, ``pipe.to("cuda")``, ``pipe(video=..., mask=..., prompt=..., ...)``);
- ``steps-*``: each speed switch on its own, a few denoising steps through the engine's own
  ``Backend.denoise``: attention backend, batched guidance, regional compile;
- ``engine``: a full take through ``generate_take`` from a synthetic bundle (depth EXRs + masks) with
  what the ablations chose: encoding, each denoising step, decoding, writing, end to end; ratio
  against ``stock``; ``engine-warm``: the next take with the same model and prompt;
- ``preview``: a full take at ``quality=preview``; ``decode``: the VAE alone, plain and tiled;
- ``final-cache-first-block`` / ``final-cache-mag``: the ``final`` take with each step cache
  (``--caches``, at its threshold): transformer evaluations computed and skipped, the speed-up
  against stock and against the engine's uncached take, and the frames' difference from that take;
- ``draft``: a full take at ``quality=draft`` when the engine has that quality (else a skipped line
  that says so); ``final-fp8``: a few steps with ``--weights fp8`` storage (peak memory, step time);
- per model its own size: the 1.3B at ``--width``x``--height`` (832x480), the 14B and Wan2.2 A14B
  (``vace-a14b``: two experts, ``--models vace-a14b``) at ``--size-14b`` (1280x720);
- ``targets``: the issue's targets beside the measured values in the summary line (a GPU run).
- memory profiles (``--offload model`` / ``group``): peak GPU memory and time (a few steps,
  extrapolated to the full step count, labelled ``extrapolated``).

One JSON line per configuration on stdout (and in ``--out``), each in its own try/except so one
failure does not lose the others; progress on stderr. The transformer's FLOPs are counted from
the config, and the achieved rate is given as a fraction of the GPU's dense bf16 peak.

    python benchmarks/engine.py                      # GPU: 1.3B (and 14B if --models includes it)
    python benchmarks/engine.py --tiny               # CPU, tiny configs, same code, < 1 minute
    python benchmarks/engine.py --models vace-1.3b,vace-14b --budget 420 --out results.jsonl
    python benchmarks/engine.py --tiny --models tiny,tiny-a14b    # the CPU dry run of the A14B branch too

The 14B runs only ``--steps-14b`` timed steps (default 2) for stock and engine: its 50-step numbers
are extrapolated and say so.
"""

from __future__ import annotations

import argparse
import contextlib
import fnmatch
import gc
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import traceback
from dataclasses import replace
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
# This file is named engine.py: its folder goes after the repository, so ``engine`` is the package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path[:0] = [str(REPO)]
sys.path.append(str(HERE))

import numpy as np  # noqa: E402

from architectures import TRANSFORMERS, build_components, make_pipeline, transformer_flops  # noqa: E402
from engine_inputs import first_window, frame_levels, write_bundle, write_model_folder, write_stand_in_distill_lora  # noqa: E402

SCHEMA = "neural_previs.benchmark.engine/1"

#: Dense bf16 tensor-core peak, TFLOP/s, by a substring of ``torch.cuda.get_device_name``.
BF16_PEAK_TFLOPS = (("H200", 989.4), ("H100 PCIe", 756.0), ("H100 NVL", 835.0), ("H100", 989.4), ("H800", 989.4),
                    ("GH200", 989.4), ("B200", 2250.0), ("A100", 312.0), ("A800", 312.0), ("L40S", 362.0),
                    ("RTX 4090", 165.2), ("RTX 6000 Ada", 364.0))

#: The issue's memory targets for the profiles (decimal GB; a real card also holds the CUDA context,
#: about 0.5 GB, outside these).
PROFILE_BUDGETS = {("vace-1.3b", "group"): 8_000_000_000, ("vace-14b", "group"): 24_000_000_000}

#: The issue's speed targets on one H100/H200 (issue 14, "Speed"): (model, config, measured key, op, value).
TARGETS = (
    ("vace-1.3b", "draft", "end_to_end_seconds", "<=", 5.0),
    ("vace-14b", "draft", "end_to_end_seconds", "<=", 40.0),
    ("vace-1.3b", "engine", "speedup_vs_stock_generation", ">=", 1.45),
    ("vace-1.3b", "engine", "fraction_of_bf16_peak", ">=", 0.65),
)

#: Models with a size of their own (the 14B-class ones at 720p: ``--size-14b``).
LARGE_MODELS = ("vace-14b", "vace-a14b", "tiny-14b", "tiny-a14b")

PROMPT = "rainy neon street at night, reflections on wet asphalt, cinematic"
NEGATIVE = "blurry, low quality, static"


class Output:
    def __init__(self, path: Path | None):
        self.file = open(path, "a", encoding="utf-8") if path else None
        self.lines: list[dict] = []

    def emit(self, record: dict) -> None:
        self.lines.append(record)
        line = json.dumps(record, sort_keys=False, default=str)
        print(line, flush=True)
        if self.file:
            self.file.write(line + "\n")
            self.file.flush()


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class Device:
    def __init__(self, name: str, dtype):
        import torch

        self.torch, self.name, self.dtype = torch, name, dtype
        self.cuda = name.startswith("cuda")
        self.description = torch.cuda.get_device_name(torch.device(name)) if self.cuda else platform.processor() or "cpu"
        self.peak_tflops = next((peak for key, peak in BF16_PEAK_TFLOPS if key in self.description), None) if self.cuda else None

    def sync(self) -> None:
        if self.cuda:
            self.torch.cuda.synchronize(self.torch.device(self.name))

    def reset_peak(self) -> None:
        gc.collect()
        if self.cuda:
            self.torch.cuda.empty_cache()
            self.torch.cuda.reset_peak_memory_stats(self.torch.device(self.name))

    def _memory(self, what: str) -> int | None:
        return int(getattr(self.torch.cuda, what)(self.torch.device(self.name))) if self.cuda else None

    def allocated_bytes(self) -> int | None:
        return self._memory("memory_allocated")

    def peak_bytes(self) -> int | None:
        return self._memory("max_memory_allocated")

    def peak_reserved_bytes(self) -> int | None:
        """What the caching allocator held at its peak: what another program on the GPU could not use."""
        return self._memory("max_memory_reserved")


def median_step(step_seconds: list[float]) -> float | None:
    """The median step without the first (it includes the control video's VAE encode, and compile)."""
    if not step_seconds:
        return None
    return statistics.median(step_seconds[1:]) if len(step_seconds) > 1 else step_seconds[0]


class Bench:
    def __init__(self, args, output: Output):
        import torch

        self.args, self.output = args, output
        self.started = time.perf_counter()
        dtype = {"auto": torch.float32 if args.tiny else torch.bfloat16, "bfloat16": torch.bfloat16,
                 "float32": torch.float32}[args.dtype]
        self.device = Device("cpu" if args.tiny else args.device, dtype)
        self.work = Path(tempfile.mkdtemp(prefix="np-bench-"))
        self.width, self.height, self.frames = (64, 48, 9) if args.tiny else (args.width, args.height, args.frames)
        self.steps = 2 if args.tiny else args.steps
        self.ablation_steps = 2 if args.tiny else args.ablation_steps
        self.full_steps = self.steps if args.tiny else args.full_steps
        self.guidance = 5.0
        self.stock_seconds: dict[str, float] = {}
        self.stock_step: dict[str, float] = {}
        self.engine_seconds: dict[str, float] = {}

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def base(self, model: str, config: str, kind: str) -> dict:
        import diffusers
        import torch

        return {"schema": SCHEMA, "config": f"{model}/{config}", "model": model, "kind": kind,
                "device": self.device.description, "device_name": self.device.name,
                "dtype": str(self.device.dtype).replace("torch.", ""), "tiny": self.args.tiny,
                "width": self.width, "height": self.height, "frames": self.frames,
                "torch": torch.__version__, "diffusers": diffusers.__version__, "python": platform.python_version()}

    def run(self, model: str, config: str, kind: str, function, estimate: float = 0.0) -> dict | None:
        """Run one configuration; emit its JSON line, or an error line; never raise."""
        record = self.base(model, config, kind)
        if any(fnmatch.fnmatch(record["config"], pattern) or fnmatch.fnmatch(config, pattern)
               for pattern in self.args.skip.split(",") if pattern):
            record.update(ok=False, skipped=f"--skip {self.args.skip}")
            self.output.emit(record)
            return None
        if self.args.budget and self.elapsed() + estimate > self.args.budget:
            record.update(ok=False, skipped=f"time budget: {self.elapsed():.0f}s used of {self.args.budget}s, needs ~{estimate:.0f}s")
            self.output.emit(record)
            return None
        log(f"{model}/{config} ...")
        clock = time.perf_counter()
        try:
            self.device.reset_peak()
            record.update(function())
            record["ok"] = True
        except Exception as error:  # one configuration failing must not lose the others
            record.update(ok=False, error=f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"[:500],
                          traceback_tail=traceback.format_exc()[-1500:])
            with contextlib.suppress(Exception):
                self.device.reset_peak()
        record["wall_seconds"] = round(time.perf_counter() - clock, 3)
        self.output.emit(record)
        log(f"{model}/{config} {'ok' if record['ok'] else 'FAILED ' + record.get('error', '')} in {record['wall_seconds']}s")
        return record

    def flop_fields(self, model: str, step_seconds: float | None, forwards_per_step: int = 2) -> dict:
        latent_frames = (self.frames - 1) // 4 + 1
        flops = transformer_flops(TRANSFORMERS[model], latent_frames, self.height // 8, self.width // 8) * forwards_per_step
        fields = {"transformer_tflop_per_step": float(f"{flops / 1e12:.4g}")}
        if step_seconds:
            achieved = flops / step_seconds / 1e12
            fields["achieved_tflops"] = float(f"{achieved:.4g}")
            if self.device.peak_tflops:
                fields["bf16_peak_tflops"] = self.device.peak_tflops
                fields["fraction_of_bf16_peak"] = round(achieved / self.device.peak_tflops, 4)
        return fields

    def extrapolate(self, result: dict, key: str, per_step: float, steps: int) -> dict:
        full = self.full_steps
        return {"extrapolated": True, f"{key}_at_{full}_steps_extrapolated": round(result[key] + (full - steps) * per_step, 2)}

    def size_for(self, model: str) -> None:
        """The model's own size (``--size-14b`` for the 14B-class models; tiny: 64x48x9 for all)."""
        if self.args.tiny:
            return
        if model in LARGE_MODELS:
            self.width, self.height = (int(v) for v in self.args.size_14b.lower().split("x"))
        else:
            self.width, self.height = self.args.width, self.args.height

    def model(self, model: str) -> None:
        self.size_for(model)
        log(f"building {model} with random weights on {self.device.name} ({self.width}x{self.height}x{self.frames})")
        run = ModelRun(self, model)
        if self.run(model, "build", "build", run.build) is not None and run.components:
            run.all()
        run.release()

    def all(self) -> None:
        import torch

        header = self.base("-", "environment", "environment")
        header.update(ok=True, cuda=self.device.cuda, bf16_peak_tflops=self.device.peak_tflops,
                      cpu_threads=torch.get_num_threads(), budget_seconds=self.args.budget,
                      models=self.models(), full_steps=self.full_steps)
        if self.device.cuda:
            header["cuda"] = torch.version.cuda
            header["cudnn"] = torch.backends.cudnn.version()
            header["device_memory_bytes"] = torch.cuda.get_device_properties(torch.device(self.device.name)).total_memory
        self.output.emit(header)
        for model in self.models():
            try:
                self.model(model)
            except Exception as error:
                record = self.base(model, "model", "error")
                record.update(ok=False, error=f"{type(error).__name__}: {error}"[:500], traceback_tail=traceback.format_exc()[-1500:])
                self.output.emit(record)
        summary = self.base("-", "summary", "summary")
        takes = {line["config"]: line for line in self.output.lines if line.get("ok")}
        summary.update(ok=True, elapsed_seconds=round(self.elapsed(), 1),
                       failed=[line["config"] for line in self.output.lines if not line.get("ok") and "error" in line],
                       skipped=[line["config"] for line in self.output.lines if line.get("skipped")])
        for model in self.models():
            engine = takes.get(f"{model}/engine")
            if engine and "speedup_vs_stock_generation" in engine:
                summary[f"{model}_speedup_vs_stock"] = engine["speedup_vs_stock_generation"]
        summary["targets"] = targets(takes)
        self.output.emit(summary)
        for target in summary["targets"]:
            log(f"target {target['config']} {target['key']} {target['op']} {target['target']}: measured {target['measured']}"
                f" ({'met' if target['met'] else 'not met' if target['met'] is False else 'not measured'})")

    def models(self) -> list[str]:
        models = [m.strip() for m in self.args.models.split(",") if m.strip()]
        if self.args.tiny:
            return [m for m in models if m.startswith("tiny")] or ["tiny"]
        return models


def targets(takes: dict) -> list[dict]:
    """The issue's targets beside what this run measured (``None``: not measured in this run, e.g. on the CPU)."""
    rows = []
    for model, config, key, op, value in TARGETS:
        line = takes.get(f"{model}/{config}") or {}
        measured = line.get(key)
        met = None if measured is None else (measured <= value if op == "<=" else measured >= value)
        rows.append({"config": f"{model}/{config}", "key": key, "op": op, "target": value, "measured": measured, "met": met})
    return rows


class ModelRun:
    """Every configuration of one model, in order (``all``), on one set of random-weight modules."""

    def __init__(self, bench: Bench, model: str):
        from engine.generation.session import Session

        self.bench, self.model, self.device, self.args = bench, model, bench.device, bench.args
        self.big = model in LARGE_MODELS
        self.steps = self.args.steps_14b if self.big else bench.steps
        self.components: dict | None = None
        self.final_take: Path | None = None
        self.final_seconds = 0.0
        self.session = Session()
        self.backend = self.pipeline = None

    def release(self) -> None:
        self.session.unload()
        self.backend = self.pipeline = self.components = None
        self.device.reset_peak()

    def params(self, **fields):
        from engine.formats.params import GenerateParams

        return GenerateParams(**{"prompt": PROMPT, "negative_prompt": NEGATIVE, "model": str(self.folder), "seed": 42,
                                 "steps": self.steps, "guidance": self.bench.guidance, "device": self.device.name,
                                 "dtype": str(self.device.dtype).replace("torch.", ""), **fields})

    def build(self) -> dict:
        clock = time.perf_counter()
        self.components = build_components(self.model, self.device.name, self.device.dtype)
        self.device.sync()
        count = {name: sum(p.numel() for p in m.parameters()) for name, m in self.components.items() if hasattr(m, "parameters")}
        return {"build_seconds": round(time.perf_counter() - clock, 2), "parameters": count}

    # ------------------------------------------------------------------------- the order

    def all(self) -> None:
        from engine.speed import regional_compile
        from engine.speed.switches import Switches

        bench, args, model, big = self.bench, self.args, self.model, self.big
        work = bench.work
        self.bundle = write_bundle(work / f"bundle-{model}", bench.width, bench.height, bench.frames)
        self.folder = write_model_folder(work / f"model-{model}", model)
        self.window = first_window(self.bundle, self.params(), work)

        # 1. stock first, before anything in the engine has compiled or reconfigured the shared modules
        bench.run(model, "stock", "take", self.stock, 0 if args.tiny else (self.steps * 2.2 + 25 if not big else self.steps * 10 + 40))

        # 2. each switch on its own, a few steps through Backend.denoise; the engine's full take uses what won
        plain = Switches()
        probed = replace(plain, attention="auto")
        estimate = 0 if args.tiny else 15 * (3 if big else 1)
        best, chosen = probed, {"attention": "probe"}
        if not big:
            bench.run(model, "steps-plain", "steps", lambda: self.steps_only(plain), estimate)
        # (the 14B: its engine take probes the attention backends itself; a few steps cost ~10 s each)
        measured = None if big else bench.run(model, "steps-attention", "steps", lambda: self.steps_only(probed), estimate)
        if measured:
            best = replace(plain, attention=measured["switches"]["attention"])
            chosen["attention"] = measured["switches"]["attention"]
        if args.more_ablations and not big:
            for name, switches in (("steps-batched-guidance", replace(plain, batched_guidance=True)),
                                   ("steps-attention+batched", replace(best, batched_guidance=True))):
                bench.run(model, name, "steps", lambda switches=switches: self.steps_only(switches), estimate)
        # On the CPU only when asked (--tiny --compile on: the dry run of this path; Inductor needs a C compiler)
        if (self.device.cuda or args.compile == "on") and args.compile != "off" and not (big and args.compile == "auto"):
            compiled = bench.run(model, "steps-attention+compile", "steps",
                                 lambda: self.compiled_steps(replace(best, compile=True), measured),
                                 # room for compiling (~90 s) and, after it, for the engine's full take
                                 0 if args.tiny else 90 * (3 if big else 1)
                                 + self.steps * (measured or {}).get("step_median_seconds", 2.2) + 25)
            wins = bool(compiled and compiled["switches"]["compile"] and measured
                        and compiled["step_median_seconds"] < 0.99 * measured["step_median_seconds"])
            if args.compile == "on" or wins:
                best = replace(best, compile=True)
            chosen["compile"] = ("on (--compile on)" if args.compile == "on" else
                                 f"{'on' if wins else 'off'}: {compiled['step_median_seconds'] if compiled else 'failed'} "
                                 f"vs {measured['step_median_seconds'] if measured else '?'} s/step eager")
            if best.compile and args.more_ablations:
                # batched guidance on compiled blocks (the blocks stay compiled: batch 2 is a new shape)
                bench.run(model, "steps-attention+compile+batched", "steps",
                          lambda: self.steps_only(replace(best, batched_guidance=True)), 0 if args.tiny else 60)
                # what a later worker pays: compile again with Inductor's on-disk cache warm
                bench.run(model, "steps-attention+compile-cached", "steps",
                          lambda: self.recompiled_steps(best, measured), 0 if args.tiny else 60)

        # 3. the engine: a full take with what won above (compiled blocks, if any, were compiled by the
        # ablation: the warm worker's take, compile already paid). Always run: it is what the run is for.
        bench.run(model, "engine", "take", lambda: self.engine_take(best, chosen), 0)
        if args.warm:  # the next take with the same model and prompt (no loading, no text encoder)
            bench.run(model, "engine-warm", "take", lambda: self.take({"steps": bench.ablation_steps}),
                      0 if args.tiny else 25)
        # the step caches on the same final take (blocks run eagerly: a cache decides between them)
        for cache in [c.strip() for c in args.caches.split(",") if c.strip()]:
            kind = cache.split(":")[0]
            bench.run(model, f"final-cache-{kind}", "take", lambda cache=cache: self.cached_take(cache),
                      0 if args.tiny else (self.steps * 2.2 + 25 if not big else self.steps * 12 + 30))
        self.draft()
        if not big:  # compiled blocks run eagerly at the preview size
            preview_steps = 3 if args.tiny else None  # None: the preview default
            bench.run(model, "preview", "take", lambda: self.take({"quality": "preview", "steps": preview_steps}),
                      0 if args.tiny else 30)
        if self.pipeline is not None:
            regional_compile.set_compiled(self.pipeline.transformer, False)
        if not big:
            bench.run(model, "decode", "decode", self.decode, 0 if args.tiny else 45)
        # last on these modules: layerwise casting changes their weights for good
        bench.run(model, "final-fp8", "steps", self.fp8_steps, 0 if args.tiny else 30 * (3 if big else 1))

        # 4. memory profiles (a GPU): the main set freed first, so each peak is the profile's own
        self.session.unload()
        self.backend = self.pipeline = self.components = None
        for offload in ("group", "model") if not big or not self.device.cuda else ("group",):
            if self.device.cuda:
                bench.run(model, f"offload-{offload}", "take", lambda offload=offload: self.profile(offload),
                          60 if not big else 150)
            else:
                record = bench.base(model, f"offload-{offload}", "take")
                record.update(ok=False, skipped="memory profiles move weights between a GPU and the CPU: CUDA only")
                bench.output.emit(record)

    # -------------------------------------------------------------------- configurations

    def stock(self) -> dict:
        """``WanVACEPipeline`` as the diffusers documentation example runs it."""
        import torch
        from PIL import Image

        bench = self.bench
        pipeline = make_pipeline(self.components)
        pipeline.to(self.device.name)
        video = [Image.fromarray(frame) for frame in self.window.control]
        mask = [Image.fromarray(np.where(g, 255, 0).astype(np.uint8)) for g in self.window.generate]
        times = []

        def on_step(pipe, step, timestep, tensors):
            self.device.sync()
            times.append(time.perf_counter())
            return {}

        self.device.sync()
        clock = time.perf_counter()
        frames = pipeline(video=video, mask=mask, prompt=PROMPT, negative_prompt=NEGATIVE, height=bench.height,
                          width=bench.width, num_frames=bench.frames, num_inference_steps=self.steps,
                          guidance_scale=bench.guidance, generator=torch.Generator().manual_seed(42),
                          callback_on_step_end=on_step).frames[0]
        self.device.sync()
        end = time.perf_counter()
        step_seconds = np.diff([clock] + times).tolist()
        per_step = median_step(step_seconds)
        result = {"steps": self.steps, "guidance": bench.guidance, "output_frames": int(len(frames)),
                  "phases": {"until_first_step": round(times[0] - clock - per_step, 3),
                             "denoising": round(times[-1] - clock - (times[0] - clock - per_step), 3),
                             "after_last_step": round(end - times[-1], 3)},
                  "step_seconds": [round(s, 4) for s in step_seconds], "step_median_seconds": round(per_step, 4),
                  "generation_seconds": round(end - clock, 3), "peak_memory_bytes": self.device.peak_bytes(),
                  "note": "phases: until_first_step = text + VAE encoding; after_last_step = VAE decode to numpy"}
        result.update(bench.flop_fields(self.model, per_step))
        bench.stock_seconds[self.model] = end - clock
        bench.stock_step[self.model] = per_step
        if self.steps != bench.full_steps:
            result.update(bench.extrapolate(result, "generation_seconds", per_step, self.steps))
        return result

    def adopt(self, switches=None, offload: str = "none", components: dict | None = None) -> dict:
        """The engine's backend on a fresh pipeline of the modules, placed by ``offload``, held by the
        session as if it had loaded it; ``switches``: the policy's when None."""
        from engine.backends import load_backend
        from engine.generation.runtime import resolve_runtime
        from engine.models.weights import resolve_model
        from engine.speed import offload as placement
        from engine.speed import policy

        runtime = replace(resolve_runtime(self.params()), offload=offload)
        backend = load_backend("wan-vace")
        pipeline = make_pipeline(components or self.components)
        # the profiles start from weights on the host, as after loading
        pipeline.to(self.device.name if offload == "none" else "cpu")
        if offload != "none":
            placement.place(pipeline, runtime)
        applied = backend.configure(pipeline, runtime, switches or policy.choose(runtime))
        self.session.adopt(resolve_model(str(self.folder)), runtime, backend, pipeline)
        self.backend, self.pipeline = backend, pipeline
        return applied

    def engine_take(self, switches, chosen: dict) -> dict:
        """The engine's full take with the switches the ablations chose (named in ``chosen``)."""
        self.adopt(switches)
        result = {**self.take(), "chosen": chosen}
        self.final_take, self.final_seconds = Path(result["take_dir"]), result["end_to_end_seconds"]
        full = f"end_to_end_seconds_at_{self.bench.full_steps}_steps_extrapolated"
        self.bench.engine_seconds[self.model] = result.get(full, result["end_to_end_seconds"])
        return result

    def take(self, fields: dict | None = None) -> dict:
        """A full take through ``generate_take`` on the held pipeline: phases, steps, memory, ratios."""
        from engine.generation.generate import generate_take

        bench, device = self.bench, self.device
        params = self.params(**(fields or {}))
        times: list[float] = []

        def report(phase, step, total, **extra):
            if phase == "denoising" and step > 0:  # step 0: a note before the first step (compiling)
                device.sync()
                times.append(time.perf_counter())

        out = bench.work / f"take-{self.model}-{len(os.listdir(bench.work))}"
        resident = device.allocated_bytes()
        clock = time.perf_counter()
        summary = generate_take(self.session, self.bundle, out, params, report)
        total = time.perf_counter() - clock
        record = json.loads((out / "take.json").read_text())
        timings = {k: round(v, 3) for k, v in summary.timings.items()}
        # the first step is counted from the end of encoding (it includes the VAE encode of the control video)
        denoise_start = clock + summary.timings["loading"] + summary.timings["encoding"]
        step_seconds = np.diff([denoise_start] + times).tolist()
        per_step = median_step(step_seconds)
        generation = timings["loading"] + timings["encoding"] + timings["denoising"] + timings["decoding"]
        steps = record["resolved"]["steps"]
        result = {"steps": steps, "guidance": record["resolved"]["guidance"], "offload": params.offload,
                  "quality": params.quality, "phases": timings, "step_seconds": [round(s, 4) for s in step_seconds],
                  "step_median_seconds": round(per_step, 4) if per_step else None,
                  "generation_seconds": round(generation, 3), "end_to_end_seconds": round(total, 3),
                  "peak_memory_bytes": device.peak_bytes(), "peak_reserved_bytes": device.peak_reserved_bytes(),
                  "resident_before_bytes": resident,
                  "peak_memory_above_resident_bytes": (device.peak_bytes() - resident) if resident is not None else None,
                  "switches": record["speed"],
                  "work_size": [record["plan"]["work_width"], record["plan"]["work_height"]], "warm": record["warm"],
                  "take_dir": str(out),
                  "note": "loading is 0: the random-weight modules are built in memory (see the build line), not read from disk"}
        if params.quality != "final":
            return result
        result.update(bench.flop_fields(self.model, per_step))
        if steps != bench.full_steps and per_step:
            result.update(bench.extrapolate(result, "end_to_end_seconds", per_step, steps))
        stock = bench.stock_seconds.get(self.model)
        if stock and steps == self.steps:
            result["stock_generation_seconds"] = round(stock, 3)
            result["speedup_vs_stock_generation"] = round(stock / generation, 3)
            result["speedup_vs_stock_end_to_end"] = round(stock / total, 3)
            stock_step = bench.stock_step.get(self.model)
            if steps != bench.full_steps and stock_step and per_step:
                # the 14B: a few timed steps; the ratio at the full step count, both sides extrapolated
                missing = bench.full_steps - steps
                result[f"speedup_vs_stock_generation_at_{bench.full_steps}_steps_extrapolated"] = round(
                    (stock + missing * stock_step) / (generation + missing * per_step), 3)
        return result

    def steps_only(self, switches) -> dict:
        """A few denoising steps of the first window through the engine's ``Backend.denoise``."""
        from engine.generation.request import Request

        bench = self.bench
        self.adopt(switches)
        request = Request(params=self.params(), steps=bench.ablation_steps, guidance=bench.guidance, seed=42)
        embeds, _ = self.session.prompt_embeds(self.backend, self.pipeline, request)
        times: list[float] = []

        def on_step(step):
            self.device.sync()
            times.append(time.perf_counter())

        self.device.sync()
        clock = time.perf_counter()
        self.backend.denoise(self.pipeline, self.window, embeds, request, on_step)
        step_seconds = np.diff([clock] + times).tolist()
        per_step = median_step(step_seconds)
        result = {"steps": bench.ablation_steps, "switches": self.backend.applied,
                  "step_seconds": [round(s, 4) for s in step_seconds],
                  "first_step_seconds_incl_vae_encode_and_compile": round(step_seconds[0], 3),
                  "step_median_seconds": round(per_step, 4), "peak_memory_bytes": self.device.peak_bytes(),
                  "denoising_at_full_steps_extrapolated": round(per_step * bench.full_steps, 2)}
        result.update(bench.flop_fields(self.model, per_step))
        stock_step = bench.stock_step.get(self.model)
        if stock_step:
            result["stock_step_median_seconds"] = round(stock_step, 4)
            result["step_speedup_vs_stock"] = round(stock_step / per_step, 3)
        return result

    def compiled_steps(self, switches, eager: dict | None) -> dict:
        """Regional compile with fullgraph=True (the engine's setting). A compiler failure does not
        fail the engine: it finishes eagerly and records ``compile_failed``, as this line does."""
        result = self.steps_only(switches)
        result["fullgraph"] = result["switches"]["compile"]
        if eager:
            self._versus_eager(result, eager)
            result["step_speedup_vs_eager"] = round(eager["step_median_seconds"] / result["step_median_seconds"], 3)
        return result

    def recompiled_steps(self, switches, eager: dict | None) -> dict:
        """Compile again from scratch in this process (Dynamo's in-memory cache dropped), as a new
        worker would, with Inductor's on-disk cache already filled by the first compile."""
        import torch

        from engine.speed import regional_compile

        regional_compile.set_compiled(self.pipeline.transformer, False)
        torch._dynamo.reset()
        result = self.steps_only(switches)
        if eager:
            self._versus_eager(result, eager)
        return result

    @staticmethod
    def _versus_eager(result: dict, eager: dict) -> None:
        # both first steps include the control video's VAE encode; the difference is compile time
        first = "first_step_seconds_incl_vae_encode_and_compile"
        result["compile_seconds_estimate"] = round(result[first] - eager[first], 2)

    def cached_take(self, cache: str) -> dict:
        """The final take with a step cache: what it saved (transformer evaluations) and what it cost
        (the frames' difference from the engine's uncached take of the same shot and seed)."""
        result = self.take({"cache": cache})
        counts = result["switches"].get("step_cache", {})
        evaluations = counts.get("transformer_evaluations") or 0
        result["step_cache"] = counts
        result["evaluations_saved_fraction"] = round(counts.get("skipped", 0) / evaluations, 4) if evaluations else None
        engine = self.bench.engine_seconds.get(self.model)
        if engine and result["steps"] == self.steps:
            result["speedup_vs_engine_final"] = round(self.final_seconds / result["end_to_end_seconds"], 3)
        if self.final_take is not None:
            result["levels_vs_engine_final"] = frame_levels(self.final_take, Path(result["take_dir"]))
        return result

    def draft(self) -> None:
        """``quality=draft`` (4 steps without guidance, a distilled schedule) where the engine has it."""
        from engine.formats.params import QUALITIES

        from architectures import EXPERTS
        from engine.speed import draft

        reason = None
        if "draft" not in QUALITIES:
            reason = f"the engine has no draft quality (qualities: {', '.join(QUALITIES)})"
        elif EXPERTS.get(self.model, 1) == 2:
            reason = "no step-distillation LoRA is known for Wan2.2 A14B (the engine refuses quality draft for it)"
        if reason:
            record = self.bench.base(self.model, "draft", "take")
            record.update(ok=False, skipped=reason)
            self.bench.output.emit(record)
            log(f"{self.model}/draft skipped: {reason}")
            return
        # The model folder holds random weights, so the real distill LoRA (not downloadable here, and
        # meaningless on random weights) is stood in for by a random one of its rank on the same modules:
        # the draft's cost (the LoRA's extra matmuls, 4 steps, one pass per step) is what is measured.
        rank = 64 if self.big else 32  # lightx2v's 14B file is rank 64, CausVid's 1.3B file rank 32
        lora = write_stand_in_distill_lora(self.components["transformer"], self.bench.work / f"distill-{self.model}.safetensors", rank)
        draft.register(str(self.folder), str(lora))
        try:
            self.bench.run(self.model, "draft", "take", lambda: self.take({"quality": "draft", "steps": None, "guidance": None}),
                           0 if self.args.tiny else (15 if not self.big else 60))
        finally:
            draft.unregister(str(self.folder))

    def fp8_steps(self) -> dict:
        """A few denoising steps with ``--weights fp8`` storage (diffusers' layerwise casting) on these
        modules: the transformer's resident bytes, the peak and the step time against bfloat16."""
        from engine.generation.runtime import resolve_runtime
        from engine.speed import weight_storage
        from engine.speed.switches import Switches, denoisers

        before = {"weights_bytes": sum(weight_storage.storage_bytes(m) for m in denoisers(make_pipeline(self.components)))}
        self.adopt(Switches())
        runtime = replace(resolve_runtime(self.params()), weights="fp8")
        stored = weight_storage.store_weights(self.pipeline, runtime)
        result = self.steps_only(Switches())
        result.update(weights=stored["weights"], weights_bytes_as_loaded=before["weights_bytes"],
                      fp8_weights_bytes=sum(weight_storage.storage_bytes(m) for m in denoisers(self.pipeline)))
        return result

    def decode(self) -> dict:
        """The VAE on its own (8.3 s of a 1.3B take on an H200, in float32): decode plain and with the
        engine's tiles (the offload profiles), then encode and decode with cuDNN's autotuner on
        (``torch.backends.cudnn.benchmark``: its first call tunes the 3D convolutions, timed apart)."""
        import torch

        from engine.speed import vae_tiling
        from engine.speed.switches import Switches

        bench, device = self.bench, self.device
        self.adopt(Switches())
        backend, pipeline, window = self.backend, self.pipeline, self.window
        vae = pipeline.vae
        generator = torch.Generator().manual_seed(0)
        latents = torch.randn(1, 16, (bench.frames - 1) // 4 + 1, bench.height // 8, bench.width // 8,
                              generator=generator).to(device.name)
        video = (torch.rand(1, 3, bench.frames, bench.height, bench.width, generator=generator) * 2 - 1).to(device.name)

        def timed(function):
            device.reset_peak()
            device.sync()
            clock = time.perf_counter()
            output = function()
            device.sync()
            return output, {"seconds": round(time.perf_counter() - clock, 3), "peak_memory_bytes": device.peak_bytes()}

        def encode():
            with torch.no_grad():
                return vae.encode(video).latent_dist.mode()

        def decode():
            return backend.decode(pipeline, latents, window)

        def levels(a, b) -> dict:
            difference = np.abs(a.astype(int) - b.astype(int))
            return {"max": int(difference.max()), "mean": round(float(difference.mean()), 4)}

        result = {"resident_before_bytes": device.allocated_bytes()}
        plain, result["decode_plain"] = timed(decode)
        _, result["encode_plain"] = timed(encode)
        vae_tiling.set_tiling(vae, True)
        result["engine_tiles"] = vae_tiling.size_tiles(vae, bench.height, bench.width)
        tiled, result["decode_tiled"] = timed(decode)
        _, result["encode_tiled"] = timed(encode)
        vae_tiling.set_tiling(vae, False)
        result["tiled_vs_plain_levels"] = {**levels(plain, tiled),
                                           "note": "random weights: seam differences are not representative of real weights"}
        if device.cuda:
            previous = torch.backends.cudnn.benchmark
            torch.backends.cudnn.benchmark = True
            try:
                _, result["decode_cudnn_benchmark_first_call"] = timed(decode)
                tuned, result["decode_cudnn_benchmark"] = timed(decode)
                _, result["encode_cudnn_benchmark_first_call"] = timed(encode)
                _, result["encode_cudnn_benchmark"] = timed(encode)
            finally:
                torch.backends.cudnn.benchmark = previous
            result["cudnn_benchmark_vs_plain_levels"] = levels(plain, tuned)
        return result

    def profile(self, offload: str) -> dict:
        """A memory profile on a fresh set of modules (built on the GPU, then moved to the CPU and
        placed by the profile). The prompt cache is empty (a fresh session), so the text encoder
        runs inside the profile too."""
        bench = self.bench
        components = build_components(self.model, self.device.name, self.device.dtype)
        try:
            self.adopt(None, offload, components)
            result = self.take({"offload": offload, "steps": bench.ablation_steps})
            engine = bench.engine_seconds.get(self.model)
            full = result.get(f"end_to_end_seconds_at_{bench.full_steps}_steps_extrapolated")
            if engine and full:
                result["time_vs_unconstrained_engine"] = round(full / engine, 3)
            budget = PROFILE_BUDGETS.get((self.model, offload))
            if budget and result.get("peak_reserved_bytes") is not None:
                # reserved, not allocated: what the allocator held, so what a GPU of this size must have
                result["budget_bytes"] = budget
                result["fits_budget"] = result["peak_reserved_bytes"] <= budget
            return result
        finally:
            self.session.unload()
            self.backend = self.pipeline = None
            components.clear()


def _imageio_ffmpeg_fraction_fps() -> None:
    """imageio-ffmpeg before 0.6 asserts a float fps, the engine passes an exact Fraction. The GPU
    suite carries 0.5.1 (0.8.x is 68 MB, over the device's 64 MiB carry limit): convert there."""
    try:
        import imageio_ffmpeg
    except ImportError:
        return
    if tuple(int(x) for x in imageio_ffmpeg.__version__.split(".")[:2]) >= (0, 6):
        return
    original = imageio_ffmpeg.write_frames

    def write_frames(path, size, *args, fps=16, **kwargs):
        return original(path, size, *args, fps=float(fps), **kwargs)

    imageio_ffmpeg.write_frames = write_frames


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true", help="tiny configs on the CPU (CI): same code, under a minute")
    parser.add_argument("--models", default="vace-1.3b", help="comma-separated: vace-1.3b, vace-14b, vace-a14b (tiny: tiny, tiny-14b, tiny-a14b)")
    parser.add_argument("--device", default="cuda:0")
    parser.add_argument("--width", type=int, default=832)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--frames", type=int, default=81)
    parser.add_argument("--size-14b", default="1280x720", help="WIDTHxHEIGHT of the 14B and Wan2.2 A14B runs (default: 1280x720)")
    parser.add_argument("--caches", default="first-block:0.05,mag:0.06",
                        help="step caches to measure on the final take, comma-separated KIND:THRESHOLD ('' for none)")
    parser.add_argument("--steps", type=int, default=50, help="steps of the full takes (stock and engine)")
    parser.add_argument("--full-steps", type=int, default=50, help="step count that extrapolations target")
    parser.add_argument("--ablation-steps", type=int, default=3, help="steps of each ablation / profile measurement")
    parser.add_argument("--steps-14b", type=int, default=2, help="timed steps for the 14B (extrapolated to --full-steps)")
    parser.add_argument("--dtype", choices=("auto", "bfloat16", "float32"), default="auto",
                        help="weights' precision (auto: bfloat16 on the GPU, float32 with --tiny)")
    parser.add_argument("--compile", choices=("auto", "on", "off"), default="auto",
                        help="regional compile of the engine's full take: auto = on if its ablation was faster "
                             "(1.3B; the 14B only with 'on'); off also skips the ablation")
    parser.add_argument("--no-compile", dest="compile", action="store_const", const="off", help="same as --compile off")
    parser.add_argument("--more-ablations", action="store_true", help="also batched guidance, on its own and with the attention backend")
    parser.add_argument("--warm", action="store_true", help="also the next take with the same model and prompt (engine-warm)")
    parser.add_argument("--skip", default="", help="comma-separated configuration patterns to skip (fnmatch), e.g. stock,steps-*")
    parser.add_argument("--budget", type=float, default=0, help="seconds: skip configurations that would not fit (0: no limit)")
    parser.add_argument("--out", type=Path, help="also append the JSON lines to this file")
    args = parser.parse_args(argv)
    if args.tiny:
        args.device = "cpu"
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if not args.tiny:
        import torch

        if not torch.cuda.is_available():
            print("no CUDA GPU: run with --tiny for the CPU dry run", file=sys.stderr)
            return 2
    _imageio_ffmpeg_fraction_fps()
    output = Output(args.out)
    Bench(args, output).all()
    return 0 if all(line.get("ok") or line.get("skipped") for line in output.lines) else 1


if __name__ == "__main__":
    sys.exit(main())
