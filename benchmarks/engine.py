"""Engine speed benchmark: Neural Previs vs the stock diffusers ``WanVACEPipeline``, same GPU, same run.

Builds the real architectures from their published configs with random weights (speed does not
depend on the weights' values, and no download is needed): Wan2.1-VACE-1.3B and -14B transformers,
the UMT5-XXL text encoder, the Wan 2.1 VAE. Then, for each model, on the same inputs:

- ``stock``: ``WanVACEPipeline`` run as its documentation example does (bf16 weights, float32 VAE,
  UniPC with flow_shift 3.0, ``pipe.to("cuda")``, ``pipe(video=..., mask=..., prompt=..., ...)``);
- ``engine``: a full take through ``engine.generation.generate.generate_take`` from a synthetic bundle (depth
  EXRs + masks at the shot size), with the engine's default speed switches: encoding, each
  denoising step, decoding, writing (PNGs + preview.mp4), end to end; ratio against ``stock``;
- ``engine-warm``: the next take with the same model and prompt (no loading, no text encoder);
- ablations (``steps`` kind: a few denoising steps through the engine's own ``Backend.denoise``),
  each speed switch on its own: attention backend, batched guidance, regional compile;
- ``decode``: the VAE decode plain and tiled;
- memory profiles (``--offload model`` / ``group``): peak GPU memory and time (a few steps,
  extrapolated to the full step count, labelled ``extrapolated``);
- ``preview``: a full take at ``quality=preview``.

One JSON line per configuration on stdout (and in ``--out``), each in its own try/except so one
failure does not lose the others; progress on stderr. The transformer's FLOPs are counted from
the config (matrix products and attention; what the issue's 283 TFLOP per 1.3B forward counts),
and the achieved rate is given as a fraction of the GPU's dense bf16 peak.

    python benchmarks/engine.py                      # GPU: 1.3B (and 14B if --models includes it)
    python benchmarks/engine.py --tiny               # CPU, tiny configs, same code, < 1 minute
    python benchmarks/engine.py --models vace-1.3b,vace-14b --budget 420 --out results.jsonl

The 14B runs only ``--steps-14b`` timed steps (default 2) for stock and engine: its 50-step numbers
are extrapolated and say so.
"""

from __future__ import annotations

import argparse
import contextlib
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

REPO = Path(__file__).resolve().parents[1]
# This file is named engine.py: its own folder must not shadow the engine package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

SCHEMA = "neural_previs.benchmark.engine/1"

# ----------------------------------------------------------------------------------- configs
# Published diffusers configs (Wan-AI/Wan2.1-VACE-{1.3B,14B}-diffusers transformer/config.json;
# google/umt5-xxl encoder; the Wan 2.1 VAE is AutoencoderKLWan's defaults).

_VACE_COMMON = dict(
    patch_size=(1, 2, 2), attention_head_dim=128, in_channels=16, out_channels=16, text_dim=4096,
    freq_dim=256, cross_attn_norm=True, qk_norm="rms_norm_across_heads", eps=1e-6, rope_max_seq_len=1024,
    vace_in_channels=96,
)
TRANSFORMERS = {
    "vace-1.3b": dict(_VACE_COMMON, num_attention_heads=12, ffn_dim=8960, num_layers=30, vace_layers=list(range(0, 30, 2))),
    "vace-14b": dict(_VACE_COMMON, num_attention_heads=40, ffn_dim=13824, num_layers=40, vace_layers=list(range(0, 40, 5))),
    # --tiny: the same architecture, tiny (like the tiny-random model)
    "tiny": dict(patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=16, out_channels=16,
                 text_dim=32, freq_dim=32, ffn_dim=32, num_layers=3, cross_attn_norm=True, qk_norm="rms_norm_across_heads",
                 rope_max_seq_len=32, vace_layers=[0, 2], vace_in_channels=96),
}
# --tiny --models tiny-14b: the tiny model through the 14B's branch (few extrapolated steps, the main
# set freed before the memory profile), so that branch runs on the CPU too.
TRANSFORMERS["tiny-14b"] = TRANSFORMERS["tiny"]
UMT5_XXL = dict(vocab_size=256384, d_model=4096, d_kv=64, d_ff=10240, num_layers=24, num_heads=64,
                relative_attention_num_buckets=32, relative_attention_max_distance=128,
                feed_forward_proj="gated-gelu", tie_word_embeddings=False)
UMT5_TINY = dict(vocab_size=256, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4,
                 relative_attention_num_buckets=8, relative_attention_max_distance=32)
VAE_TINY = dict(base_dim=8, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1, temperal_downsample=[False, True, True])

#: Dense bf16 tensor-core peak, TFLOP/s, by a substring of ``torch.cuda.get_device_name``.
BF16_PEAK_TFLOPS = (("H200", 989.4), ("H100 PCIe", 756.0), ("H100 NVL", 835.0), ("H100", 989.4), ("H800", 989.4),
                    ("GH200", 989.4), ("B200", 2250.0), ("A100", 312.0), ("A800", 312.0), ("L40S", 362.0),
                    ("RTX 4090", 165.2), ("RTX 6000 Ada", 364.0))

#: The issue's memory targets for the profiles (decimal GB; a real card also holds the CUDA context,
#: about 0.5 GB, outside these).
PROFILE_BUDGETS = {("vace-1.3b", "group"): 8_000_000_000, ("vace-14b", "group"): 24_000_000_000}

PROMPT = "rainy neon street at night, reflections on wet asphalt, cinematic"
NEGATIVE = "blurry, low quality, static"


# ------------------------------------------------------------------------------------ output

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


# ------------------------------------------------------------------------------------ device

class Device:
    def __init__(self, name: str, dtype):
        import torch

        self.name, self.dtype = name, dtype
        self.cuda = name.startswith("cuda")
        self.description = torch.cuda.get_device_name(torch.device(name)) if self.cuda else platform.processor() or "cpu"
        self.peak_tflops = next((peak for key, peak in BF16_PEAK_TFLOPS if key in self.description), None) if self.cuda else None

    def sync(self) -> None:
        if self.cuda:
            import torch

            torch.cuda.synchronize(torch.device(self.name))

    def reset_peak(self) -> None:
        gc.collect()
        if self.cuda:
            import torch

            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(torch.device(self.name))

    def allocated_bytes(self) -> int | None:
        if self.cuda:
            import torch

            return int(torch.cuda.memory_allocated(torch.device(self.name)))
        return None

    def peak_bytes(self) -> int | None:
        if self.cuda:
            import torch

            return int(torch.cuda.max_memory_allocated(torch.device(self.name)))
        return None

    def peak_reserved_bytes(self) -> int | None:
        """What the caching allocator held at its peak: what another program on the GPU could not use."""
        if self.cuda:
            import torch

            return int(torch.cuda.max_memory_reserved(torch.device(self.name)))
        return None


# ------------------------------------------------------------------------------------- FLOPs

def transformer_flops(config: dict, latent_frames: int, latent_height: int, latent_width: int, text_tokens: int = 512) -> float:
    """FLOPs of one transformer forward (batch 1): matrix products and attention, 2 per multiply-add.
    Main blocks + VACE blocks (+ their projections); embeddings and norms are negligible."""
    p_t, p_h, p_w = config["patch_size"]
    tokens = (latent_frames // p_t) * (latent_height // p_h) * (latent_width // p_w)
    dim = config["num_attention_heads"] * config["attention_head_dim"]
    ffn = config["ffn_dim"]

    def block() -> float:
        self_projections = 2 * tokens * dim * dim * 4            # q, k, v, out
        self_attention = 2 * 2 * tokens * tokens * dim            # QK^T and AV
        cross_projections = 2 * tokens * dim * dim * 2 + 2 * text_tokens * dim * dim * 2
        cross_attention = 2 * 2 * tokens * text_tokens * dim
        feed_forward = 2 * tokens * dim * ffn * 2
        return self_projections + self_attention + cross_projections + cross_attention + feed_forward

    vace_blocks = len(config["vace_layers"])
    vace_projections = vace_blocks * 2 * tokens * dim * dim * 1 + 2 * tokens * dim * dim  # after_proj each, before_proj once
    return config["num_layers"] * block() + vace_blocks * block() + vace_projections


# ------------------------------------------------------------------------------------- build

def build_components(model: str, device: "Device"):
    """Random-weight modules from the published configs, created directly on the device, in the
    dtypes ``from_pretrained(torch_dtype=bf16)`` would give (``_keep_in_fp32_modules`` in float32;
    the VAE in float32 as the documentation example loads it)."""
    import torch
    from diffusers import AutoencoderKLWan, WanVACETransformer3DModel
    from transformers import UMT5Config, UMT5EncoderModel

    from engine.backends.tiny_random import _tokenizer

    tiny = model.startswith("tiny")
    torch.manual_seed(0)
    previous = torch.get_default_dtype()
    try:
        with torch.device(device.name):
            torch.set_default_dtype(device.dtype)
            transformer = WanVACETransformer3DModel(**TRANSFORMERS[model])
            text_encoder = UMT5EncoderModel(UMT5Config(**(UMT5_TINY if tiny else UMT5_XXL)))
            torch.set_default_dtype(torch.float32)
            vae = AutoencoderKLWan(**(VAE_TINY if tiny else {}))
    finally:
        torch.set_default_dtype(previous)
    for module in (transformer, text_encoder):
        module.eval().requires_grad_(False)
        keep = getattr(module, "_keep_in_fp32_modules", None) or []
        for name, sub in module.named_modules():
            if any(part in keep for part in name.split(".")):
                sub.float()
    vae.eval().requires_grad_(False)
    return dict(transformer=transformer, text_encoder=text_encoder, vae=vae, tokenizer=_tokenizer())


def make_pipeline(components):
    from diffusers import UniPCMultistepScheduler, WanVACEPipeline

    # As the documentation example: UniPC, flow_shift 3.0 for 480p. One scheduler per pipeline (stateful).
    scheduler = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=3.0)
    pipeline = WanVACEPipeline(scheduler=scheduler, **components)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def write_model_folder(folder: Path, model: str) -> Path:
    """A diffusers pipeline folder the engine's ``resolve_model`` accepts (configs only: the weights
    are the in-memory random modules, handed to the session with ``Session.adopt``)."""
    folder.mkdir(parents=True, exist_ok=True)
    index = {"_class_name": "WanVACEPipeline", "_diffusers_version": "0.0", "scheduler": ["diffusers", "UniPCMultistepScheduler"],
             "text_encoder": ["transformers", "UMT5EncoderModel"], "tokenizer": ["transformers", "PreTrainedTokenizerFast"],
             "transformer": ["diffusers", "WanVACETransformer3DModel"], "vae": ["diffusers", "AutoencoderKLWan"]}
    (folder / "model_index.json").write_text(json.dumps(index))
    (folder / "NOTE.txt").write_text(f"benchmark: {model} with random weights built in memory\n")
    return folder


def write_bundle(root: Path, width: int, height: int, frames: int) -> Path:
    """A synthetic bundle: a floor receding to a horizon and a box moving across it."""
    import OpenEXR
    from PIL import Image

    near, far = 1.0, 20.0
    (root / "depth").mkdir(parents=True)
    (root / "mask").mkdir()
    ys, xs = np.mgrid[0:height, 0:width]
    entries = []
    for index in range(frames):
        frame = 1001 + index
        depth = np.full((height, width), np.inf, np.float32)
        ids = np.zeros((height, width), np.uint16)
        floor = ys >= height // 2
        depth[floor] = near + (far - near) * (height - ys[floor]) / height
        ids[floor] = 2
        x0 = int(index * (width * 2 // 3) / max(1, frames - 1))
        box = (ys >= height // 4) & (ys < 3 * height // 4) & (xs >= x0) & (xs < x0 + width // 3)
        depth[box] = near + 2.0
        ids[box] = 1
        OpenEXR.File({"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage},
                     {"Z": depth}).write(str(root / "depth" / f"{frame:04d}.exr"))
        Image.fromarray(ids).save(root / "mask" / f"{frame:04d}.png")
        entries.append({"frame": frame, "depth": f"depth/{frame:04d}.exr", "mask": f"mask/{frame:04d}.png",
                        "K": [[width, 0.0, width / 2], [0.0, width, height / 2], [0.0, 0.0, 1.0]],
                        "world_to_camera": np.eye(4).tolist()})
    shot = {"schema": "neural_previs.bundle/1", "width": width, "height": height, "fps": 16.0, "near": near, "far": far,
            "objects": [{"id": 1, "name": "Box"}, {"id": 2, "name": "Floor"}], "frames": entries}
    (root / "shot.json").write_text(json.dumps(shot))
    (root / "camera.txt").write_text("benchmark synthetic shot\n")
    return root


def control_inputs(bundle: Path, params):
    """The stock pipeline's inputs: the same inverse-depth control frames and all-white masks the
    engine gives the pipeline (built with the engine's own conditioning code)."""
    from PIL import Image

    from engine.generation.generate import check_inputs
    from engine.generation.shot import window_inputs
    from engine.backends import get_spec
    from engine.generation.snapping import plan_size, plan_windows

    with tempfile.TemporaryDirectory() as scratch:
        checked = check_inputs(bundle, Path(scratch) / "unused", params)
    spec = get_spec("wan-vace")
    size = plan_size(checked.bundle.width, checked.bundle.height, spec.size_multiple, spec.max_pixels)
    window = plan_windows(len(checked.bundle.frames), spec.window, spec.overlap, spec.frame_rule)[0]
    output = np.zeros((len(checked.bundle.frames), checked.bundle.height, checked.bundle.width, 3), np.uint8)
    inputs = window_inputs(checked.shot, window, size, output, 0, carry_pixels=True)
    video = [Image.fromarray(frame) for frame in inputs.control]
    mask = [Image.fromarray(np.where(g, 255, 0).astype(np.uint8)) for g in inputs.generate]
    return video, mask, inputs


# -------------------------------------------------------------------------------- the runner

class Bench:
    def __init__(self, args, output: Output):
        import torch

        self.args, self.output = args, output
        self.started = time.perf_counter()
        device = "cpu" if args.tiny else args.device
        dtype = {"auto": torch.float32 if args.tiny else torch.bfloat16, "bfloat16": torch.bfloat16,
                 "float32": torch.float32}[args.dtype]
        self.device = Device(device, dtype)
        self.work = Path(tempfile.mkdtemp(prefix="np-bench-"))
        self.width, self.height, self.frames = (64, 48, 9) if args.tiny else (args.width, args.height, args.frames)
        self.steps = 2 if args.tiny else args.steps
        self.ablation_steps = 2 if args.tiny else args.ablation_steps
        self.guidance = 5.0
        self.full_steps = self.steps if args.tiny else args.full_steps
        self.stock_seconds: dict[str, float] = {}
        self.engine_seconds: dict[str, float] = {}
        self.stock_step: dict[str, float] = {}

    # ---------------------------------------------------------------------------- helpers

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
        import fnmatch

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
        config = TRANSFORMERS[model]
        latent_frames = (self.frames - 1) // 4 + 1
        flops = transformer_flops(config, latent_frames, self.height // 8, self.width // 8) * forwards_per_step
        fields = {"transformer_tflop_per_step": float(f"{flops / 1e12:.4g}")}
        if step_seconds:
            achieved = flops / step_seconds / 1e12
            fields["achieved_tflops"] = float(f"{achieved:.4g}")
            if self.device.peak_tflops:
                fields["bf16_peak_tflops"] = self.device.peak_tflops
                fields["fraction_of_bf16_peak"] = round(achieved / self.device.peak_tflops, 4)
        return fields

    # ------------------------------------------------------------------------ per model

    def model(self, model: str) -> None:
        args = self.args
        log(f"building {model} with random weights on {self.device.name}")
        holder: dict = {}

        def build():
            clock = time.perf_counter()
            holder["components"] = build_components(model, self.device)
            self.device.sync()
            count = {name: sum(p.numel() for p in m.parameters()) for name, m in holder["components"].items() if hasattr(m, "parameters")}
            return {"build_seconds": round(time.perf_counter() - clock, 2), "parameters": count}

        if self.run(model, "build", "build", build) is None or "components" not in holder:
            return
        components = holder["components"]
        bundle = write_bundle(self.work / f"bundle-{model}", self.width, self.height, self.frames)
        folder = write_model_folder(self.work / f"model-{model}", model)
        big = model in ("vace-14b", "tiny-14b")
        steps = args.steps_14b if big else self.steps

        from engine.formats.params import GenerateParams

        def params(**fields):
            return GenerateParams(**{"prompt": PROMPT, "negative_prompt": NEGATIVE, "model": str(folder), "seed": 42,
                                     "steps": steps, "guidance": self.guidance, "device": self.device.name,
                                     "dtype": str(self.device.dtype).replace("torch.", ""), **fields})

        video, mask, _ = control_inputs(bundle, params())

        # 1. stock WanVACEPipeline, as the diffusers documentation example runs it
        def stock():
            import torch

            pipeline = make_pipeline(components)
            pipeline.to(self.device.name)
            times = []

            def on_step(pipe, step, timestep, tensors):
                self.device.sync()
                times.append(time.perf_counter())
                return {}

            self.device.sync()
            clock = time.perf_counter()
            frames = pipeline(video=video, mask=mask, prompt=PROMPT, negative_prompt=NEGATIVE, height=self.height,
                              width=self.width, num_frames=self.frames, num_inference_steps=steps, guidance_scale=self.guidance,
                              generator=torch.Generator().manual_seed(42), callback_on_step_end=on_step).frames[0]
            self.device.sync()
            end = time.perf_counter()
            step_seconds = np.diff([clock] + times).tolist()
            per_step = statistics.median(step_seconds[1:]) if len(step_seconds) > 1 else step_seconds[0]
            result = {"steps": steps, "guidance": self.guidance, "output_frames": int(len(frames)),
                      "phases": {"until_first_step": round(times[0] - clock - per_step, 3),
                                 "denoising": round(times[-1] - clock - (times[0] - clock - per_step), 3),
                                 "after_last_step": round(end - times[-1], 3)},
                      "step_seconds": [round(s, 4) for s in step_seconds], "step_median_seconds": round(per_step, 4),
                      "generation_seconds": round(end - clock, 3), "peak_memory_bytes": self.device.peak_bytes(),
                      "note": "phases: until_first_step = text + VAE encoding; after_last_step = VAE decode to numpy"}
            result.update(self.flop_fields(model, per_step))
            self.stock_seconds[model] = end - clock
            self.stock_step[model] = per_step
            if steps != (self.steps if args.tiny else args.full_steps):
                result.update(self.extrapolate(result, "generation_seconds", per_step, steps))
            return result

        estimate = 0 if args.tiny else (steps * 2.2 + 25 if not big else steps * 10 + 40)
        # Stock first, before anything in the engine has compiled or reconfigured the shared modules.
        self.run(model, "stock", "take", stock, estimate)

        from engine.backends import load_backend
        from engine.generation.runtime import resolve_runtime
        from engine.generation.session import Session
        from engine.models.weights import resolve_model
        from engine.speed import acceleration as speed

        session = Session()
        runtime = resolve_runtime(params())
        state: dict = {}

        def adopt(acceleration=None, offload="none", comps=None):
            backend = load_backend("wan-vace")
            pipeline = make_pipeline(comps or components)
            pipeline.to(self.device.name)
            rt = replace(runtime, offload=offload)
            if offload != "none":
                pipeline.to("cpu")  # the profiles start from weights on the host, as after loading
                rt.place(pipeline)
            applied = backend.configure(pipeline, rt, acceleration or speed.choose(rt))
            session.adopt(resolve_model(str(folder)), rt, backend, pipeline)
            state.update(backend=backend, pipeline=pipeline, runtime=rt)
            return applied

        def take(name, fields=None, offload="none", acceleration=None, fresh=True, note=None):
            def function():
                applied = adopt(acceleration, offload) if fresh else state["backend"].applied
                result = self.take(model, session, bundle, params(offload=offload, **(fields or {})), applied, steps)
                if note:
                    result["chosen"] = note
                if name == "engine":
                    self.engine_seconds[model] = result.get(
                        f"end_to_end_seconds_at_{self.full_steps}_steps_extrapolated", result["end_to_end_seconds"])
                return result
            return function

        def profile(offload):
            """A memory profile on a fresh set of modules (built on the GPU, then moved to the CPU and
            placed by the profile, the allocator's cache emptied). The main set is freed before the
            profiles, so the peak is the profile's own; the prompt cache is empty (a fresh session),
            so the text encoder runs inside the profile too."""
            def function():
                fresh = build_components(model, self.device)
                try:
                    applied = adopt(None, offload, comps=fresh)
                    result = self.take(model, session, bundle, params(offload=offload, steps=self.ablation_steps), applied, steps)
                    engine = self.engine_seconds.get(model)
                    full = result.get(f"end_to_end_seconds_at_{self.full_steps}_steps_extrapolated")
                    if engine and full:
                        result["time_vs_unconstrained_engine"] = round(full / engine, 3)
                    budget = PROFILE_BUDGETS.get((model, offload))
                    if budget and result.get("peak_reserved_bytes") is not None:
                        # reserved, not allocated: what the allocator held, so what a GPU of this size must have
                        result["budget_bytes"] = budget
                        result["fits_budget"] = result["peak_reserved_bytes"] <= budget
                    return result
                finally:
                    session.unload()
                    state.clear()
                    fresh.clear()
            return function

        def a_few_steps(acceleration):
            return lambda: self.steps_only(model, session, bundle, params(), acceleration, adopt)

        # 1. each switch on its own: a few denoising steps through Backend.denoise. These come before
        # the engine's full take, which uses what won here (and so says which switches it used).
        plain = speed.Acceleration(attention="native", batched_guidance=False, compile=False, vae_tiling=False)
        probed = replace(plain, attention="auto")
        ablation_estimate = 0 if args.tiny else 15 * (3 if big else 1)
        best, chosen = probed, {"attention": "probe"}
        if not big:
            self.run(model, "steps-plain", "steps", a_few_steps(plain), ablation_estimate)
        # (the 14B: its engine take probes the attention backends itself; a few steps cost ~10 s each)
        measured = None if big else self.run(model, "steps-attention", "steps", a_few_steps(probed), ablation_estimate)
        if measured:
            best = replace(plain, attention=measured["switches"]["attention"])
            chosen["attention"] = measured["switches"]["attention"]
        if args.more_ablations and not big:
            for name, acceleration in (("steps-batched-guidance", replace(plain, batched_guidance=True)),
                                       ("steps-attention+batched", replace(best, batched_guidance=True))):
                self.run(model, name, "steps", a_few_steps(acceleration), ablation_estimate)
        # On the CPU only when asked (--tiny --compile on: the dry run of this path; inductor needs a C compiler)
        if (self.device.cuda or args.compile == "on") and args.compile != "off" and not (big and args.compile == "auto"):
            compiled = self.run(model, "steps-attention+compile", "steps",
                                lambda: self.compiled_steps(model, session, bundle, params(), replace(best, compile=True), adopt, state,
                                                            measured),
                                # room for compiling (~90 s) and, after it, for the engine's full take
                                0 if args.tiny else 90 * (3 if big else 1) + steps * (measured or {}).get("step_median_seconds", 2.2) + 25)
            wins = bool(compiled and compiled.get("fullgraph") and measured
                        and compiled["step_median_seconds"] < 0.99 * measured["step_median_seconds"])
            if args.compile == "on" or wins:
                best = replace(best, compile=True)
            chosen["compile"] = ("on (--compile on)" if args.compile == "on" else
                                 f"{'on' if wins else 'off'}: {compiled['step_median_seconds'] if compiled else 'failed'} "
                                 f"vs {measured['step_median_seconds'] if measured else '?'} s/step eager")
            if best.compile and args.more_ablations:
                # batched guidance on compiled blocks (the blocks stay compiled: batch 2 is a new shape)
                self.run(model, "steps-attention+compile+batched", "steps",
                         a_few_steps(replace(best, batched_guidance=True)), 0 if args.tiny else 60)
                # what a later worker pays: compile again with Inductor's on-disk cache warm
                self.run(model, "steps-attention+compile-cached", "steps",
                         lambda: self.recompiled_steps(model, session, bundle, params(), best, adopt, state, measured),
                         0 if args.tiny else 60)
            if not best.compile and state.get("pipeline") is not None:
                speed.set_compiled(state["pipeline"].transformer, False)

        # 2. the engine: a full take through generate_take with what won above (compiled blocks, if
        # any, were compiled by the ablation: this is the warm worker's take, compile already paid)
        # Always run (estimate 0): it is what the run is for; the compile ablation above reserved its time.
        self.run(model, "engine", "take", take("engine", acceleration=best, note=chosen), 0)
        if args.warm:
            # the next take with the same model and prompt (no loading, no text encoder)
            self.run(model, "engine-warm", "take", take("engine-warm", {"steps": self.ablation_steps}, fresh=False),
                     0 if args.tiny else 25)

        # 3. preview quality: a full take (compiled blocks run eagerly at the preview size)
        if not big:
            preview_steps = 3 if args.tiny else None  # None: the preview default (engine.speed.acceleration.PREVIEW_STEPS)
            self.run(model, "preview", "take", take("preview", {"quality": "preview", "steps": preview_steps}, fresh=False),
                     0 if args.tiny else 30)

        # 4. VAE decode, plain and tiled (same latents), on the main set
        if state.get("pipeline") is not None:
            speed.set_compiled(state["pipeline"].transformer, False)
        if not big:
            self.run(model, "decode", "decode", lambda: self.decode(session, bundle, params(), adopt), 0 if args.tiny else 45)

        # 5. memory profiles (need a GPU): a few steps, extrapolated to the full count. The main set is
        # freed first, so each profile's peak is what it needs on its own (what a smaller GPU must hold).
        session.unload()
        state.clear()
        holder.clear()
        components = None
        if self.device.cuda:
            for offload in ("group", "model") if not big else ("group",):
                self.run(model, f"offload-{offload}", "take", profile(offload), 60 if not big else 150)
        else:
            for offload in ("group", "model"):
                record = self.base(model, f"offload-{offload}", "take")
                record.update(ok=False, skipped="memory profiles move weights between a GPU and the CPU: CUDA only")
                self.output.emit(record)

        # free everything before the next model
        session.unload()
        state.clear()
        holder.clear()
        del components
        self.device.reset_peak()

    # ------------------------------------------------------------------------- measurements

    def take(self, model, session, bundle, params, applied, steps) -> dict:
        from engine.generation.generate import generate_take

        times: list[float] = []
        marks: dict = {}

        def report(phase, step, total, **extra):
            if phase == "denoising" and step > 0:  # step 0: a note before the first step (compiling)
                self.device.sync()
                times.append(time.perf_counter())
            elif phase == "decoding" and "decoding" not in marks:
                marks["decoding"] = time.perf_counter()

        out = self.work / f"take-{model}-{len(os.listdir(self.work))}"
        resident = self.device.allocated_bytes()
        clock = time.perf_counter()
        summary = generate_take(session, bundle, out, params, report)
        total = time.perf_counter() - clock
        record = json.loads((out / "take.json").read_text())
        timings = {k: round(v, 3) for k, v in summary.timings.items()}
        # the first step is counted from the end of encoding (it includes the VAE encode of the control video)
        denoise_start = clock + summary.timings["loading"] + summary.timings["encoding"]
        step_seconds = np.diff([denoise_start] + times).tolist()
        per_step = statistics.median(step_seconds[1:]) if len(step_seconds) > 1 else (step_seconds[0] if step_seconds else None)
        generation = timings["loading"] + timings["encoding"] + timings["denoising"] + timings["decoding"]
        result = {"steps": record["resolved"]["steps"], "guidance": record["resolved"]["guidance"], "offload": params.offload,
                  "quality": params.quality, "phases": timings, "step_seconds": [round(s, 4) for s in step_seconds],
                  "step_median_seconds": round(per_step, 4) if per_step else None,
                  "generation_seconds": round(generation, 3), "end_to_end_seconds": round(total, 3),
                  "peak_memory_bytes": self.device.peak_bytes(), "peak_reserved_bytes": self.device.peak_reserved_bytes(),
                  "resident_before_bytes": resident,
                  "peak_memory_above_resident_bytes": (self.device.peak_bytes() - resident) if resident is not None else None,
                  "switches": record.get("speed", applied),
                  "work_size": [record["plan"]["work_width"], record["plan"]["work_height"]], "warm": record["warm"],
                  "note": "loading is 0: the random-weight modules are built in memory (see the build line), not read from disk"}
        if params.quality == "final":
            result.update(self.flop_fields(model, per_step))
        stock = self.stock_seconds.get(model)
        full = self.args.full_steps if not self.args.tiny else self.steps
        if result["steps"] != full and params.quality == "final" and per_step:
            result.update(self.extrapolate(result, "end_to_end_seconds", per_step, result["steps"]))
        if stock and result["steps"] == steps and params.quality == "final":
            result["stock_generation_seconds"] = round(stock, 3)
            result["speedup_vs_stock_generation"] = round(stock / generation, 3)
            result["speedup_vs_stock_end_to_end"] = round(stock / total, 3)
            stock_step = self.stock_step.get(model)
            if result["steps"] != full and stock_step and per_step:
                # the 14B: a few timed steps; the ratio at the full step count, both sides extrapolated
                missing = full - result["steps"]
                result[f"speedup_vs_stock_generation_at_{full}_steps_extrapolated"] = round(
                    (stock + missing * stock_step) / (generation + missing * per_step), 3)
        return result

    def extrapolate(self, result, key, per_step, steps) -> dict:
        full = self.args.full_steps if not self.args.tiny else self.steps
        return {"extrapolated": True, f"{key}_at_{full}_steps_extrapolated": round(result[key] + (full - steps) * per_step, 2)}

    def steps_only(self, model, session, bundle, params, acceleration, adopt) -> dict:
        """A few denoising steps of the first window through the engine's ``Backend.denoise``."""
        from engine.generation.generate import Request, check_inputs
        from engine.generation.shot import window_inputs
        from engine.generation.snapping import plan_size, plan_windows

        applied = adopt(acceleration)
        backend, pipeline = session._backend, session._pipeline
        checked = check_inputs(bundle, self.work / f"unused-{time.monotonic_ns()}", params)
        spec = checked.spec
        size = plan_size(checked.bundle.width, checked.bundle.height, spec.size_multiple, spec.max_pixels)
        window = plan_windows(len(checked.bundle.frames), spec.window, spec.overlap, spec.frame_rule)[0]
        output = np.zeros((len(checked.bundle.frames), checked.bundle.height, checked.bundle.width, 3), np.uint8)
        inputs = window_inputs(checked.shot, window, size, output, 42, carry_pixels=True)
        request = Request(params=params, steps=self.ablation_steps, guidance=self.guidance, seed=42)
        embeds, _ = session.prompt_embeds(backend, pipeline, request)
        times: list[float] = []

        def on_step(step):
            self.device.sync()
            times.append(time.perf_counter())

        self.device.sync()
        clock = time.perf_counter()
        backend.denoise(pipeline, inputs, embeds, request, on_step)
        step_seconds = np.diff([clock] + times).tolist()
        per_step = statistics.median(step_seconds[1:]) if len(step_seconds) > 1 else step_seconds[0]
        result = {"steps": self.ablation_steps, "switches": applied, "step_seconds": [round(s, 4) for s in step_seconds],
                  "first_step_seconds_incl_vae_encode_and_compile": round(step_seconds[0], 3),
                  "step_median_seconds": round(per_step, 4), "peak_memory_bytes": self.device.peak_bytes()}
        result.update(self.flop_fields(model, per_step))
        stock_step = self.stock_step.get(model)
        if stock_step:
            result["stock_step_median_seconds"] = round(stock_step, 4)
            result["step_speedup_vs_stock"] = round(stock_step / per_step, 3)
        full = self.args.full_steps if not self.args.tiny else self.steps
        result["denoising_at_full_steps_extrapolated"] = round(per_step * full, 2)
        return result

    def compiled_steps(self, model, session, bundle, params, acceleration, adopt, state, eager=None) -> dict:
        """Regional compile with fullgraph=True (the engine's setting). A compiler failure does not
        fail the engine (it finishes eagerly and records ``compile_failed``); then the blocks are
        compiled again without fullgraph, so the run still says what compile would give."""
        import torch

        from engine.speed import acceleration as speed

        result = self.steps_only(model, session, bundle, params, acceleration, adopt)
        failed = session._backend.applied.get("compile_failed")
        if failed:
            torch._dynamo.reset()
            original = speed.set_compiled
            speed.set_compiled = lambda transformer, on: original(transformer, on, fullgraph=False)
            try:
                result = self.steps_only(model, session, bundle, params, acceleration, adopt)
            finally:
                speed.set_compiled = original
            result.update(fullgraph=False, fullgraph_error=failed,
                          compile_failed_again=session._backend.applied.get("compile_failed"))
        else:
            result["fullgraph"] = True
        if eager:
            # both first steps include the control video's VAE encode; the difference is compile time
            result["compile_seconds_estimate"] = round(result["first_step_seconds_incl_vae_encode_and_compile"]
                                                       - eager["first_step_seconds_incl_vae_encode_and_compile"], 2)
            result["step_speedup_vs_eager"] = round(eager["step_median_seconds"] / result["step_median_seconds"], 3)
        return result

    def recompiled_steps(self, model, session, bundle, params, acceleration, adopt, state, eager=None) -> dict:
        """Compile again from scratch in this process (Dynamo's in-memory cache dropped), as a new
        worker would, with Inductor's on-disk cache already filled by the first compile."""
        import torch

        from engine.speed import acceleration as speed

        speed.set_compiled(state["pipeline"].transformer, False)
        torch._dynamo.reset()
        result = self.steps_only(model, session, bundle, params, acceleration, adopt)
        if eager:
            result["compile_seconds_estimate"] = round(result["first_step_seconds_incl_vae_encode_and_compile"]
                                                       - eager["first_step_seconds_incl_vae_encode_and_compile"], 2)
        return result

    def decode(self, session, bundle, params, adopt) -> dict:
        """The VAE on its own (8.3 s of a 1.3B take on an H200, in float32): decode plain and with the
        engine's tiles (the offload profiles), then encode and decode with cuDNN's autotuner on
        (``torch.backends.cudnn.benchmark``: its first call tunes the 3D convolutions, timed apart)."""
        import torch

        from engine.speed import acceleration as speed

        adopt(speed.Acceleration(attention="native", batched_guidance=False))
        backend, pipeline = session._backend, session._pipeline
        vae = pipeline.vae
        latent_frames = (self.frames - 1) // 4 + 1
        generator = torch.Generator().manual_seed(0)
        latents = torch.randn(1, 16, latent_frames, self.height // 8, self.width // 8, generator=generator).to(self.device.name)
        video = (torch.rand(1, 3, self.frames, self.height, self.width, generator=generator) * 2 - 1).to(self.device.name)

        def timed(function):
            self.device.reset_peak()
            self.device.sync()
            clock = time.perf_counter()
            output = function()
            self.device.sync()
            return output, {"seconds": round(time.perf_counter() - clock, 3), "peak_memory_bytes": self.device.peak_bytes()}

        def encode():
            with torch.no_grad():
                return vae.encode(video).latent_dist.mode()

        result = {"resident_before_bytes": self.device.allocated_bytes()}
        vae.disable_tiling()
        plain, result["decode_plain"] = timed(lambda: backend.decode(pipeline, latents, None))
        _, result["encode_plain"] = timed(encode)
        vae.enable_tiling()
        result["engine_tiles"] = speed.size_vae_tiles(vae, self.height, self.width, speed.VAE_TILE_PIXELS)
        tiled, result["decode_tiled"] = timed(lambda: backend.decode(pipeline, latents, None))
        _, result["encode_tiled"] = timed(encode)
        vae.disable_tiling()
        difference = np.abs(plain.astype(int) - tiled.astype(int))
        result["tiled_vs_plain_levels"] = {"max": int(difference.max()), "mean": round(float(difference.mean()), 3),
                                           "note": "random weights: seam differences are not representative of real weights"}
        if self.device.cuda:
            previous = torch.backends.cudnn.benchmark
            torch.backends.cudnn.benchmark = True
            try:
                _, result["decode_cudnn_benchmark_first_call"] = timed(lambda: backend.decode(pipeline, latents, None))
                tuned, result["decode_cudnn_benchmark"] = timed(lambda: backend.decode(pipeline, latents, None))
                _, result["encode_cudnn_benchmark_first_call"] = timed(encode)
                _, result["encode_cudnn_benchmark"] = timed(encode)
            finally:
                torch.backends.cudnn.benchmark = previous
            difference = np.abs(plain.astype(int) - tuned.astype(int))
            result["cudnn_benchmark_vs_plain_levels"] = {"max": int(difference.max()), "mean": round(float(difference.mean()), 4)}
        return result

    # ------------------------------------------------------------------------------- all

    def all(self) -> None:
        import torch

        header = self.base("-", "environment", "environment")
        header.update(ok=True, cuda=self.device.cuda, bf16_peak_tflops=self.device.peak_tflops,
                      cpu_threads=torch.get_num_threads(), budget_seconds=self.args.budget,
                      models=self.models(), full_steps=self.args.full_steps if not self.args.tiny else self.steps)
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
        self.output.emit(summary)

    def models(self) -> list[str]:
        models = [m.strip() for m in self.args.models.split(",") if m.strip()]
        if self.args.tiny:
            return [m for m in models if m.startswith("tiny")] or ["tiny"]
        return models


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
    parser.add_argument("--models", default="vace-1.3b", help="comma-separated: vace-1.3b, vace-14b")
    parser.add_argument("--device", default="cuda:0")
    parser.add_argument("--width", type=int, default=832)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--frames", type=int, default=81)
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
