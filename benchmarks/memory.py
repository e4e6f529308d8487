"""GPU memory a take needs, counted without a GPU.

The real diffusers modules run on PyTorch's ``meta`` device (shapes and dtypes, no data, no
arithmetic), under a dispatch mode that adds up the bytes of every tensor storage while it is alive
and keeps the peak: what a caching allocator must at least hold, before fragmentation, kernel
workspaces and the CUDA context (~0.5 GB). Counted this way on the CPU with real arithmetic, the Wan
VAE's decode of an 832x480 frame gave the same 7.3 GB as on ``meta``.

- ``transformer``: one forward of the WanVACE transformer at the shot size (attention counted as a
  fused kernel allocates it: the output, no tokens x tokens matrix), batch 1 and 2 (batched guidance);
- ``vae``: encode and decode, in one pass and with the engine's tiles (``engine.speed.vae_tiling.vae_tiles``);
- ``group-profile``: the ``--offload group`` profile's peak, phase by phase, from the above and the
  placement in ``engine.speed.offload.stream_to_device`` (blocks and text-encoder layers streamed two at a
  time, the VAE resident), against the issue's budgets (1.3B: 8 GB, 14B: 24 GB);
- ``none-profile``: everything resident, with the text encoder on the device or kept in host memory.
- ``weights``: ``--weights fp8`` against the loaded bfloat16 (issue 14 section 6) for the 1.3B, the
  14B and Wan2.2 A14B (two experts; resident, or one at a time) at 832x480x81 and 1280x720x81: which
  parameters diffusers' layerwise casting stores in float8 is read from the real model built on
  ``meta`` with ``enable_layerwise_casting``; a forward then holds one layer's bfloat16 copy at a
  time on top of the bfloat16 activations. Printed as a table at the end (``--no-table``: JSON only).
- ``animatediff-profile``: ``animatediff-controlnet`` (SD 1.5 UNet + motion adapter as diffusers'
  ``UNetMotionModel``, depth ControlNet, CLIP text encoder, VAE; ``architectures.ANIMATEDIFF``) at the
  backend's working size, 512x512 and one 16-frame context, every component in bfloat16 as the engine
  loads it: one denoising step as ``AnimateDiffControlNetPipeline`` runs it (guidance batched: the
  ControlNet, then the UNet with its residuals, over 2 x 16 frames) and the engine's decode
  (``decode_latents``, 16 frames a batch), for the ``group`` and ``none`` profiles.
- ``catalog``: the ``gpu_memory_gb`` of every downloadable model in ``engine/models/catalog.py``
  (``CATALOG_COUNTS``), which tests/engine/test_memory_estimate.py holds the catalog to.

    python benchmarks/memory.py                   # 1.3B and 14B at 832x480x81, AnimateDiff, then the weights table
    python benchmarks/memory.py --catalog         # only the catalog's figures
    python benchmarks/memory.py --tiny            # tiny configs (CI)
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import functools
import inspect
import json
import sys
import types
import weakref
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # the engine package
sys.path.append(str(HERE))  # architectures.py, after everything else (this folder also holds engine.py)

from architectures import TRANSFORMERS, text_encoder_config, vae_config  # noqa: E402  (after the path is set)
from engine.speed.policy import HOSTED_TEXT_ENCODER_MIN_BYTES, module_bytes  # noqa: E402
from engine.speed.vae_tiling import VAE_TILE_PIXELS, vae_tiles  # noqa: E402


class LivePeak:
    """Peak bytes of live tensor storages created inside the block (storages that existed before,
    such as weights and inputs passed in ``existing``, are not counted, nor are views of them)."""

    def __init__(self, existing=()):
        import torch
        from torch.utils._python_dispatch import TorchDispatchMode
        from torch.utils._pytree import tree_flatten

        tracker = self
        self.live: dict = {id_: 0 for id_ in (t.untyped_storage()._cdata for t in existing)}
        self.current = self.peak = 0

        class Mode(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                out = func(*args, **(kwargs or {}))
                for tensor in tree_flatten(out)[0]:
                    if isinstance(tensor, torch.Tensor):
                        tracker._track(tensor.untyped_storage())
                return out

        self.mode = Mode()

    def _track(self, storage) -> None:
        key = storage._cdata
        if key in self.live:
            return
        size = storage.nbytes()
        self.live[key] = size
        self.current += size
        self.peak = max(self.peak, self.current)
        weakref.finalize(storage, self._free, key)  # storages keep their Python object while alive

    def _free(self, key) -> None:
        self.current -= self.live.pop(key, 0)

    def next_phase(self) -> int:
        """The peak so far; the peak then starts again from what is live now (still counted)."""
        peak, self.peak = self.peak, self.current
        return peak

    def __enter__(self):
        self.mode.__enter__()
        return self

    def __exit__(self, *exc):
        return self.mode.__exit__(*exc)


def counted_once(function):
    """A count depends only on its arguments: the same call again returns a copy of the first count (the
    catalog's models share their VAE passes and text encoder)."""
    counts: dict = {}
    signature = inspect.signature(function)

    @functools.wraps(function)
    def once(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        key = json.dumps(bound.arguments, sort_keys=True, default=str)
        if key not in counts:
            counts[key] = function(*args, **kwargs)
        return copy.deepcopy(counts[key])

    return once


@contextlib.contextmanager
def fused_attention():
    """SDPA as a fused kernel allocates (flash / cuDNN): the output only. On ``meta`` PyTorch would
    otherwise pick the math path and materialise tokens x tokens scores (26 GB per call at full size)."""
    import torch

    original = torch.nn.functional.scaled_dot_product_attention

    def fused(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, enable_gqa=False):
        return torch.empty(query.shape[:-1] + (value.shape[-1],), dtype=query.dtype, device=query.device)

    torch.nn.functional.scaled_dot_product_attention = fused
    try:
        yield
    finally:
        torch.nn.functional.scaled_dot_product_attention = original


def latent_shape(frames: int, height: int, width: int) -> tuple:
    return ((frames - 1) // 4 + 1, height // 8, width // 8)


@counted_once
def transformer(model: str, width: int, height: int, frames: int, batch: int = 1) -> dict:
    import torch
    from diffusers import WanVACETransformer3DModel

    config = TRANSFORMERS[model]
    previous = torch.get_default_dtype()
    try:
        with torch.device("meta"):
            torch.set_default_dtype(torch.bfloat16)
            net = WanVACETransformer3DModel(**config).eval().requires_grad_(False)
            t, h, w = latent_shape(frames, height, width)
            hidden = torch.empty(batch, config["in_channels"], t, h, w)
            control = torch.empty(batch, config["vace_in_channels"], t, h, w)
            text = torch.empty(batch, 512, config["text_dim"])
            timestep = torch.full((batch,), 500.0)
    finally:
        torch.set_default_dtype(previous)
    inputs = [hidden, control, text, timestep]
    with torch.no_grad(), fused_attention(), LivePeak(list(net.parameters()) + list(net.buffers()) + inputs) as peak:
        net(hidden_states=hidden, timestep=timestep, encoder_hidden_states=text, control_hidden_states=control, return_dict=False)
    blocks = [block for name in ("blocks", "vace_blocks") for block in getattr(net, name)]
    streamed = {id(p) for block in blocks for p in block.parameters()}
    return {"activations_bytes": peak.peak, "weights_bytes": module_bytes(net),
            "largest_block_bytes": max(module_bytes(block) for block in blocks),
            # what block-level offloading keeps on the device for the whole forward
            "unstreamed_bytes": sum(p.numel() * p.element_size() for p in net.parameters() if id(p) not in streamed)}


@counted_once
def vae(operation: str, width: int, height: int, frames: int, tiles: dict | None, tiny: bool = False) -> dict:
    import torch
    from diffusers import AutoencoderKLWan

    with torch.device("meta"):
        net = AutoencoderKLWan(**vae_config("tiny" if tiny else "vace-1.3b")).eval().requires_grad_(False)
        if tiles:
            net.enable_tiling(**tiles)
        if operation == "decode":
            t, h, w = latent_shape(frames, height, width)
            data = torch.empty(1, net.config.z_dim, t, h, w)
        else:
            data = torch.empty(1, 3, frames, height, width)
    with torch.no_grad(), LivePeak(list(net.parameters()) + list(net.buffers()) + [data]) as peak:
        if operation == "decode":
            net.decode(data)
        else:
            net.encode(data).latent_dist.mode()
    return {"peak_bytes": peak.peak, "weights_bytes": module_bytes(net), "input_bytes": data.numel() * data.element_size()}


@counted_once
def text_encoder(tiny: bool = False) -> dict:
    """UMT5: its largest layer (leaf-level streaming holds about two at a time) and its total."""
    import torch
    from transformers import UMT5Config, UMT5EncoderModel

    with torch.device("meta"):
        net = UMT5EncoderModel(UMT5Config(**text_encoder_config("tiny" if tiny else "vace-1.3b"))).to(torch.bfloat16)
        keep = getattr(net, "_keep_in_fp32_modules", None) or []  # as from_pretrained(torch_dtype=bf16) loads it
        for name, sub in net.named_modules():
            if any(part in keep for part in name.split(".")):
                sub.float()
    leaves = [m for m in net.modules() if not list(m.children())]
    return {"weights_bytes": module_bytes(net), "largest_layer_bytes": max(module_bytes(m) for m in leaves)}


def group_profile(model: str, width: int, height: int, frames: int, tiny: bool = False) -> dict:
    """The ``--offload group`` profile's peak, phase by phase (see the module docstring)."""
    net = transformer(model, width, height, frames)
    tiles = vae_tiles(height, width, VAE_TILE_PIXELS)
    encode = vae("encode", width, height, frames, tiles, tiny)
    decode = vae("decode", width, height, frames, tiles, tiny)
    text = text_encoder(tiny)
    vae_weights = encode["weights_bytes"]  # float32, resident
    control_video = encode["input_bytes"]  # the pipeline holds video, mask, kept and generated parts
    phases = {
        "text_encoding": 2 * text["largest_layer_bytes"] + vae_weights,
        "vae_encode": encode["peak_bytes"] + 4 * control_video + vae_weights,
        "denoising": net["activations_bytes"] + 2 * net["largest_block_bytes"] + net["unstreamed_bytes"] + vae_weights,
        "vae_decode": decode["peak_bytes"] + vae_weights,
    }
    budget = {"vace-1.3b": 8_000_000_000, "vace-14b": 24_000_000_000}.get(model)
    peak = max(phases.values())
    return {"phases_bytes": phases, "peak_bytes": peak, "budget_bytes": budget,
            "fits_budget": peak <= budget if budget else None, "vae_tiles": tiles,
            "transformer": net, "text_encoder": text,
            "note": "live tensors on the meta device: add fragmentation, workspaces and the CUDA context"}


def unconstrained_profile(model: str, width: int, height: int, frames: int, hosted_text_encoder: bool,
                          tiny: bool = False) -> dict:
    """The ``--offload none`` profile's peak, phase by phase: every weight resident, except a text
    encoder kept in host memory (``engine.speed.policy.text_encoder_stays_on_host``), which is on the
    device only while it encodes."""
    net = transformer(model, width, height, frames)
    encode = vae("encode", width, height, frames, None, tiny)
    decode = vae("decode", width, height, frames, None, tiny)
    text = text_encoder(tiny)
    resident = net["weights_bytes"] + encode["weights_bytes"] + (0 if hosted_text_encoder else text["weights_bytes"])
    phases = {
        "text_encoding": resident + (text["weights_bytes"] if hosted_text_encoder else 0),
        "vae_encode": resident + encode["peak_bytes"] + 4 * encode["input_bytes"],
        "denoising": resident + net["activations_bytes"],
        "vae_decode": resident + decode["peak_bytes"],
    }
    return {"phases_bytes": phases, "peak_bytes": max(phases.values()), "resident_bytes": resident,
            "hosted_text_encoder": hosted_text_encoder,
            "note": "live tensors on the meta device: add fragmentation, workspaces and the CUDA context"}


def fp8_transformer(model: str) -> dict:
    """The transformer's weights as ``--weights fp8`` stores them (``enable_layerwise_casting`` on the
    real module, on ``meta``): float8 bytes, what stays as loaded, and the largest layer's bfloat16
    copy a forward holds while that layer runs."""
    import torch
    from diffusers import WanVACETransformer3DModel

    previous = torch.get_default_dtype()
    try:
        with torch.device("meta"):
            torch.set_default_dtype(torch.bfloat16)
            net = WanVACETransformer3DModel(**TRANSFORMERS[model]).eval().requires_grad_(False)
    finally:
        torch.set_default_dtype(previous)
    bf16 = module_bytes(net)
    net.enable_layerwise_casting(storage_dtype=torch.float8_e4m3fn, compute_dtype=torch.bfloat16)
    cast = [m for m in net.modules() if any(p.dtype == torch.float8_e4m3fn for p in m.parameters(recurse=False))]
    return {"bf16_weights_bytes": bf16, "fp8_weights_bytes": module_bytes(net),
            "fp8_share": round(sum(p.numel() for m in cast for p in m.parameters(recurse=False)) / sum(p.numel() for p in net.parameters()), 4),
            "largest_cast_layer_bf16_bytes": max(2 * sum(p.numel() for p in m.parameters(recurse=False)) for m in cast)}


#: The models of the weights table and their sizes (issue 14 section 6).
WEIGHTS_MODELS = ("vace-1.3b", "vace-14b", "vace-a14b")
WEIGHTS_SIZES = ((832, 480, 81), (1280, 720, 81))


def weights_rows(models=WEIGHTS_MODELS, sizes=WEIGHTS_SIZES, tiny: bool = False) -> list[dict]:
    """Peak GPU memory of the ``none`` profile (text encoder kept in host memory, as the engine runs
    it on cards too small for every weight) with bfloat16 and with fp8 transformer weights; for two
    experts both resident and one at a time (``engine.speed.offload.one_expert_at_a_time``)."""
    from architectures import EXPERTS

    rows = []
    text = text_encoder(tiny)["weights_bytes"]  # lent to the GPU while a new prompt is encoded
    for model in models:
        weights = fp8_transformer(model)
        experts = EXPERTS.get(model, 1)
        for width, height, frames in sizes:
            net = transformer(model, width, height, frames)
            encode = vae("encode", width, height, frames, None, tiny)
            decode = vae("decode", width, height, frames, None, tiny)
            vae_phase = max(encode["peak_bytes"] + 4 * encode["input_bytes"], decode["peak_bytes"])
            for storage in ("bf16", "fp8"):
                per_expert = weights[f"{storage}_weights_bytes"]
                transient = weights["largest_cast_layer_bf16_bytes"] if storage == "fp8" else 0
                for resident_experts in sorted({experts, 1}, reverse=True):
                    resident = resident_experts * per_expert + encode["weights_bytes"]
                    peak = max(resident + text, resident + net["activations_bytes"] + transient, resident + vae_phase)
                    rows.append({"model": model, "experts": experts, "resident_experts": resident_experts,
                                 "width": width, "height": height, "frames": frames, "weights": storage,
                                 "transformer_weights_bytes": per_expert * experts, "peak_bytes": peak,
                                 "fp8_share": weights["fp8_share"]})
    return rows


def weights_table(rows: list[dict]) -> str:
    gb = 1e9
    lines = ["| model | size | weights | experts on GPU | transformer weights | peak (none profile, text encoder on host) |",
             "| --- | --- | --- | --- | --- | --- |"]
    for row in rows:
        lines.append(f"| {row['model']} | {row['width']}x{row['height']}x{row['frames']} | {row['weights']} | "
                     f"{row['resident_experts']} of {row['experts']} | {row['transformer_weights_bytes'] / gb:.1f} GB | "
                     f"{row['peak_bytes'] / gb:.1f} GB |")
    return "\n".join(lines)


#: ``animatediff-controlnet``'s working size and frames: its largest frame (the backend's ``max_pixels``,
#: 512x512, a multiple of its 8) and one motion-adapter context (``window``: a longer shot is one call
#: with FreeNoise's sliding contexts).
ANIMATEDIFF_SIZE = (512, 512, 16)


def streaming(module) -> dict:
    """What block-level group offloading (``engine.speed.offload.stream_to_device``) keeps of ``module`` on
    the device while it runs: its largest top-level block (each block of its top-level ``ModuleList``s is
    a group; the next one is prefetched, so two are in flight) and everything else (one group, loaded for
    the whole forward)."""
    import torch

    blocks = [block for child in module.children() if isinstance(child, (torch.nn.ModuleList, torch.nn.Sequential))
              for block in child]
    streamed = {id(t) for block in blocks for t in (*block.parameters(), *block.buffers())}
    return {"largest_block_bytes": max(module_bytes(block) for block in blocks),
            "unstreamed_bytes": sum(t.numel() * t.element_size() for t in (*module.parameters(), *module.buffers())
                                    if id(t) not in streamed)}


@counted_once
def animatediff(width: int, height: int, frames: int) -> dict:
    """``animatediff-controlnet`` on ``meta`` in bfloat16 (``architectures.build_animatediff``): one
    denoising step as ``AnimateDiffControlNetPipeline.__call__`` runs it (step 8: the latents doubled for
    guidance when the backend's default guidance is above 1, the ControlNet over every frame of both
    halves, then the motion UNet with the ControlNet's residuals alive), and the decode the engine calls
    (``decode_latents`` with ``DECODE_CHUNK_FRAMES``). Held for the whole step, and not in the peaks: the
    latents, the prompt embeddings repeated per frame and the prepared conditioning frames (``inputs_bytes``)."""
    import torch
    from architectures import SD15_PROMPT_TOKENS, build_animatediff
    from diffusers import AnimateDiffControlNetPipeline

    from engine.backends import get_spec
    from engine.backends.animatediff import DECODE_CHUNK_FRAMES

    net = build_animatediff("meta", torch.bfloat16)
    unet, controlnet, text_encoder, vae = (net[name] for name in ("unet", "controlnet", "text_encoder", "vae"))
    guidance = get_spec("animatediff-controlnet").default_guidance
    guided = guidance > 1.0
    halves = 2 if guided else 1
    scale = 2 ** (len(vae.config.block_out_channels) - 1)  # the pipeline's vae_scale_factor
    h, w = height // scale, width // scale
    with torch.device("meta"):
        latents = torch.empty(1, unet.config.in_channels, frames, h, w, dtype=torch.bfloat16)
        embeds = torch.empty(halves * frames, SD15_PROMPT_TOKENS, text_encoder.config.hidden_size, dtype=torch.bfloat16)
        conditioning = torch.empty(halves * frames, 3, height, width, dtype=torch.bfloat16)
        timestep = torch.tensor(500)
    inputs = [latents, embeds, conditioning]
    weights = [t for module in (unet, controlnet) for t in (*module.parameters(), *module.buffers())]
    with torch.no_grad(), fused_attention(), LivePeak(weights + inputs + [timestep]) as peak:
        model_input = torch.cat([latents] * halves)
        control_input = model_input.transpose(1, 2).reshape(-1, model_input.shape[1], h, w)
        down, mid = controlnet(control_input, timestep, encoder_hidden_states=embeds, controlnet_cond=conditioning,
                               conditioning_scale=1.0, guess_mode=False, return_dict=False)
        controlnet_peak = peak.next_phase()
        noise = unet(model_input, timestep, encoder_hidden_states=embeds, down_block_additional_residuals=down,
                     mid_block_additional_residual=mid).sample
        if guided:
            unconditional, conditional = noise.chunk(2)
            noise = unconditional + guidance * (conditional - unconditional)
        unet_peak = peak.next_phase()
    with torch.no_grad(), fused_attention(), LivePeak([*vae.parameters(), *vae.buffers(), latents]) as decoded:
        AnimateDiffControlNetPipeline.decode_latents(types.SimpleNamespace(vae=vae), latents, DECODE_CHUNK_FRAMES)
    leaves = [m for m in text_encoder.modules() if not list(m.children())]
    return {"weights_bytes": {name: module_bytes(module) for name, module in net.items()},
            "streaming": {"unet": streaming(unet), "controlnet": streaming(controlnet)},
            "text_encoder_largest_layer_bytes": max(module_bytes(m) for m in leaves),
            "controlnet_bytes": controlnet_peak, "unet_bytes": unet_peak, "decode_bytes": decoded.peak,
            "inputs_bytes": sum(t.numel() * t.element_size() for t in inputs), "guidance_batched": guided}


def animatediff_profile(profile: str, width: int, height: int, frames: int) -> dict:
    """``animatediff-controlnet``'s peak for ``--offload group`` or ``none``, phase by phase, as for Wan:
    ``group`` streams the UNet and the ControlNet by block and the text encoder by layer, the VAE resident;
    ``none`` holds every weight, the text encoder too (under ``HOSTED_TEXT_ENCODER_MIN_BYTES``, the policy
    never keeps it in host memory)."""
    counted = animatediff(width, height, frames)
    weights = counted["weights_bytes"]
    vae_weights = weights["vae"]
    if profile == "group":
        stream = {name: 2 * part["largest_block_bytes"] + part["unstreamed_bytes"] for name, part in counted["streaming"].items()}
        phases = {
            "text_encoding": 2 * counted["text_encoder_largest_layer_bytes"] + vae_weights,
            "denoising": vae_weights + counted["inputs_bytes"] + max(counted["controlnet_bytes"] + stream["controlnet"],
                                                                      counted["unet_bytes"] + stream["unet"]),
            "vae_decode": counted["decode_bytes"] + vae_weights,
        }
    elif profile == "none":
        hosted = weights["text_encoder"] >= HOSTED_TEXT_ENCODER_MIN_BYTES
        resident = sum(weights.values()) - (weights["text_encoder"] if hosted else 0)
        phases = {
            "text_encoding": resident + (weights["text_encoder"] if hosted else 0),
            "denoising": resident + counted["inputs_bytes"] + max(counted["controlnet_bytes"], counted["unet_bytes"]),
            "vae_decode": resident + counted["decode_bytes"],
        }
    else:
        raise ValueError(f"unknown profile {profile!r}")
    return {"profile": profile, "phases_bytes": phases, "peak_bytes": max(phases.values()), "counted": counted,
            "note": "live tensors on the meta device: add fragmentation, workspaces and the CUDA context"}


#: How the ``gpu_memory_gb`` of each downloadable model in ``engine/models/catalog.py`` is counted: the
#: architecture, the working size and frames (its backend's largest frame and one window) and the
#: ``--offload`` profiles. ``none`` is the profile as the engine runs it on a card too small for every
#: weight: a text encoder of at least ``HOSTED_TEXT_ENCODER_MIN_BYTES`` in host memory, two experts one
#: at a time (Wan2.2 A14B: one 14B-sized expert resident, the weights table's "1 of 2" row).
CATALOG_COUNTS = {
    "wan-vace-1.3b": ("vace-1.3b", (832, 480, 81), ("group", "none")),
    "wan-vace-14b": ("vace-14b", (832, 480, 81), ("group", "none")),
    "wan2.2-vace-fun-a14b": ("vace-a14b", (832, 480, 81), ("none",)),
    "animatediff-controlnet": ("animatediff-sd15", ANIMATEDIFF_SIZE, ("group", "none")),
}


def catalog_peak_bytes(name: str) -> dict:
    """Counted peak bytes per profile of the catalog model ``name`` (``CATALOG_COUNTS``)."""
    model, (width, height, frames), profiles = CATALOG_COUNTS[name]
    peaks = {}
    for profile in profiles:
        if model == "animatediff-sd15":
            peaks[profile] = animatediff_profile(profile, width, height, frames)["peak_bytes"]
        elif profile == "group":
            peaks[profile] = group_profile(model, width, height, frames)["peak_bytes"]
        else:
            hosted = text_encoder()["weights_bytes"] >= HOSTED_TEXT_ENCODER_MIN_BYTES
            peaks[profile] = unconstrained_profile(model, width, height, frames, hosted_text_encoder=hosted)["peak_bytes"]
    return peaks


def catalog_gb(name: str) -> dict:
    """``gpu_memory_gb`` as the catalog writes it: GB (10^9 bytes) to one decimal."""
    return {profile: round(peak / 1e9, 1) for profile, peak in catalog_peak_bytes(name).items()}


def catalog_table(names=tuple(CATALOG_COUNTS)) -> str:
    lines = ["| catalog model | counted at | `group` | `none` |", "| --- | --- | --- | --- |"]
    for name in names:
        _, (width, height, frames), _ = CATALOG_COUNTS[name]
        counted = catalog_gb(name)
        cells = [f"{counted[p]:.1f} GB" if p in counted else "not counted" for p in ("group", "none")]
        lines.append(f"| {name} | {width}x{height}x{frames} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true", help="tiny configs at a tiny size (CI)")
    parser.add_argument("--models", default="vace-1.3b,vace-14b")
    parser.add_argument("--width", type=int, default=832)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--frames", type=int, default=81)
    parser.add_argument("--no-table", action="store_true", help="skip the --weights fp8 table (1.3B, 14B, A14B at two sizes)")
    parser.add_argument("--table-only", action="store_true", help="only the --weights fp8 table")
    parser.add_argument("--catalog", action="store_true", help="only the gpu_memory_gb of engine/models/catalog.py's models")
    args = parser.parse_args(argv)
    if args.catalog:
        for name in CATALOG_COUNTS:
            print(json.dumps({"benchmark": "memory", "part": "catalog", "model": name, "gpu_memory_gb": catalog_gb(name)}), flush=True)
        print(catalog_table(), flush=True)
        return 0
    models = ["tiny"] if args.tiny else [m.strip() for m in args.models.split(",") if m.strip()]
    width, height, frames = (64, 48, 9) if args.tiny else (args.width, args.height, args.frames)

    def emit(record):
        print(json.dumps({"benchmark": "memory", "width": width, "height": height, "frames": frames, **record}), flush=True)

    engine_tiles = vae_tiles(height, width, VAE_TILE_PIXELS)
    if args.table_only:
        models, engine_tiles = [], None
    for operation in ("encode", "decode") if not args.table_only else ():
        for tiles in (None, engine_tiles) if engine_tiles else (None,):
            emit({"part": f"vae-{operation}", "tiles": tiles, **vae(operation, width, height, frames, tiles, args.tiny)})
    for model in models:
        for batch in (1, 2):
            emit({"part": "transformer", "model": model, "batch": batch, **transformer(model, width, height, frames, batch)})
        emit({"part": "group-profile", "model": model, **group_profile(model, width, height, frames, args.tiny)})
        for hosted in (False, True):
            emit({"part": "none-profile", "model": model,
                  **unconstrained_profile(model, width, height, frames, hosted, args.tiny)})
    if not (args.tiny or args.table_only):  # at its own working size (no tiny AnimateDiff architecture)
        ad_width, ad_height, ad_frames = ANIMATEDIFF_SIZE
        for profile in ("group", "none"):
            print(json.dumps({"benchmark": "memory", "part": "animatediff-profile", "model": "animatediff-sd15",
                              "width": ad_width, "height": ad_height, "frames": ad_frames,
                              **animatediff_profile(profile, ad_width, ad_height, ad_frames)}), flush=True)
    if not args.no_table:
        rows = weights_rows(("tiny",), ((width, height, frames),), tiny=True) if args.tiny else weights_rows()
        for row in rows:
            print(json.dumps({"benchmark": "memory", "part": "weights", **row}), flush=True)
        print(weights_table(rows), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
