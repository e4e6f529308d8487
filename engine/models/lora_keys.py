"""LoRA key names: which format a file is in, and the renames diffusers 0.42.1 does not make itself.

Formats (``lora_format``), told apart by their key names:
- ``diffusers``: ``transformer.blocks.0.attn1.to_q.lora_A.weight`` (what ``save_lora_weights``
  writes); the same names without the prefix, or with PEFT's ``base_model.model.`` prefix, are
  given the ``transformer.`` prefix here (diffusers would otherwise load nothing from them, with a
  warning only);
- ``original``: the Wan repository's module names under ``diffusion_model.`` (ComfyUI, lightx2v,
  CausVid, Wan2GP): converted by diffusers' ``_convert_non_diffusers_wan_lora_to_diffusers``;
- ``musubi``: Kohya / musubi-tuner's ``lora_unet_blocks_0_self_attn_q.lora_down.weight``:
  converted by diffusers' ``_convert_musubi_wan_lora_to_diffusers``.

VACE blocks in original names (``diffusion_model.vace_blocks.N.*``, LoRAs trained on Wan VACE):
diffusers' converter knows only ``blocks.N`` and raises on anything left over, so
``split_vace_keys`` takes them out first and ``vace_to_diffusers`` renames them the way diffusers'
own conversion script renames VACE weights (``self_attn.q`` -> ``attn1.to_q``, ``cross_attn`` ->
``attn2``, ``ffn.0`` -> ``ffn.net.0.proj``, ``ffn.2`` -> ``ffn.net.2``, ``before_proj`` ->
``proj_in``, ``after_proj`` -> ``proj_out``), with ``lora_down``/``lora_up`` -> ``lora_A``/``lora_B``
and an ``alpha`` folded into the weights exactly as diffusers folds it for the main blocks.

Pure: no torch. The values are passed through untouched except for ``value * scale`` (tensors).
"""

from __future__ import annotations

import re

FORMATS = ("diffusers", "original", "musubi")

ORIGINAL_PREFIX = "diffusion_model."
MUSUBI_PREFIX = "lora_unet_"
DIFFUSERS_PREFIX = "transformer."
PEFT_PREFIX = "base_model.model."

#: Wan's module names inside a block -> diffusers' (the same table for main and VACE blocks).
_BLOCK_MODULES = {
    **{f"self_attn.{o}": f"attn1.{c}" for o, c in zip("qkvo", ("to_q", "to_k", "to_v", "to_out.0"))},
    **{f"cross_attn.{o}": f"attn2.{c}" for o, c in zip("qkvo", ("to_q", "to_k", "to_v", "to_out.0"))},
    "ffn.0": "ffn.net.0.proj",
    "ffn.2": "ffn.net.2",
    "before_proj": "proj_in",
    "after_proj": "proj_out",
}
_VACE_KEY = re.compile(r"^vace_blocks\.(\d+)\.(.+?)\.(lora_down|lora_up|lora_A|lora_B)\.weight$")
_VACE_ALPHA = re.compile(r"^vace_blocks\.(\d+)\.(.+?)\.alpha$")
_VACE_BIAS = re.compile(r"^vace_blocks\.(\d+)\.(.+?)\.diff_b$")


class LoraKeyError(ValueError):
    """The key names are not a Wan LoRA this engine can load (the message says which keys)."""


def lora_format(keys) -> str:
    """``diffusers``, ``original`` or ``musubi`` (see the module docstring); raises ``LoraKeyError``."""
    keys = [k for k in keys if k != "__metadata__"]
    if not keys:
        raise LoraKeyError("it holds no tensors")
    if any(k.startswith(ORIGINAL_PREFIX) for k in keys):
        return "original"
    if any(k.startswith(MUSUBI_PREFIX) for k in keys):
        return "musubi"
    if all("lora_A" in k or "lora_B" in k or "lora_magnitude" in k for k in keys):
        return "diffusers"
    example = next(k for k in keys if "lora" not in k.lower()) if any("lora" not in k.lower() for k in keys) else keys[0]
    raise LoraKeyError(f"its keys are not a LoRA's (e.g. {example!r})")


def with_diffusers_prefix(state_dict: dict) -> dict:
    """Diffusers-format keys with the ``transformer.`` prefix diffusers filters on (PEFT's
    ``base_model.model.`` replaced, bare module names prefixed)."""
    renamed = {}
    for key, value in state_dict.items():
        if key.startswith(DIFFUSERS_PREFIX):
            renamed[key] = value
        elif key.startswith(PEFT_PREFIX):
            renamed[DIFFUSERS_PREFIX + key[len(PEFT_PREFIX):]] = value
        else:
            renamed[DIFFUSERS_PREFIX + key] = value
    return renamed


def split_vace_keys(state_dict: dict) -> tuple[dict, dict]:
    """``(main, vace)``: an original-format state dict with the ``vace_blocks`` entries taken out
    (both keep their keys, ``diffusion_model.`` included)."""
    vace_prefix = ORIGINAL_PREFIX + "vace_blocks."
    main = {k: v for k, v in state_dict.items() if not k.startswith(vace_prefix)}
    vace = {k: v for k, v in state_dict.items() if k.startswith(vace_prefix)}
    return main, vace


def _alpha_scales(rank: int, alpha: float) -> tuple[float, float]:
    """``(scale_down, scale_up)`` as diffusers' converter computes them: the product is alpha/rank."""
    scale_down, scale_up = alpha / rank, 1.0
    while scale_down * 2 < scale_up:
        scale_down *= 2
        scale_up /= 2
    return scale_down, scale_up


def vace_to_diffusers(vace: dict, alpha_of=float) -> dict:
    """Original-named VACE block entries (``diffusion_model.vace_blocks.N.*``) in diffusers' names
    (``transformer.vace_blocks.N.*``). ``alpha_of`` turns a stored alpha (a 0-d tensor) into a float.
    Raises ``LoraKeyError`` for an entry it has no name for."""
    stripped = {k[len(ORIGINAL_PREFIX):]: v for k, v in vace.items()}
    alphas = {}
    pairs: dict[tuple[str, str], dict] = {}
    converted = {}
    for key, value in stripped.items():
        if match := _VACE_ALPHA.match(key):
            alphas[(match[1], match[2])] = alpha_of(value)
        elif match := _VACE_KEY.match(key):
            side = "A" if match[3] in ("lora_down", "lora_A") else "B"
            pairs.setdefault((match[1], match[2]), {})[side] = value
        elif match := _VACE_BIAS.match(key):
            module = _module_name(match[2], key)
            converted[f"{DIFFUSERS_PREFIX}vace_blocks.{match[1]}.{module}.lora_B.bias"] = value
        elif key.endswith(".diff") and "norm" in key:
            continue  # norm diffs: dropped, as diffusers drops them for the main blocks
        else:
            raise LoraKeyError(f"no diffusers name for its VACE key {ORIGINAL_PREFIX + key!r}")
    for (block, module_key), sides in sorted(pairs.items()):
        if set(sides) != {"A", "B"}:
            missing = "up (B)" if "B" not in sides else "down (A)"
            raise LoraKeyError(f"vace_blocks.{block}.{module_key} has no {missing} matrix")
        module = _module_name(module_key, f"vace_blocks.{block}.{module_key}")
        down, up = sides["A"], sides["B"]
        alpha = alphas.pop((block, module_key), None)
        if alpha is not None:
            scale_down, scale_up = _alpha_scales(int(down.shape[0]), alpha)
            down, up = down * scale_down, up * scale_up
        converted[f"{DIFFUSERS_PREFIX}vace_blocks.{block}.{module}.lora_A.weight"] = down
        converted[f"{DIFFUSERS_PREFIX}vace_blocks.{block}.{module}.lora_B.weight"] = up
    if alphas:
        block, module_key = next(iter(alphas))
        raise LoraKeyError(f"vace_blocks.{block}.{module_key} has an alpha but no matrices")
    return converted


def _module_name(original: str, key: str) -> str:
    try:
        return _BLOCK_MODULES[original]
    except KeyError:
        raise LoraKeyError(f"no diffusers name for its VACE key {ORIGINAL_PREFIX + key!r}") from None


def diffusers_module_shapes(keys_and_shapes: dict) -> dict:
    """``{module: (rank, in_features, out_features)}`` for diffusers-named LoRA entries (after
    conversion), from ``lora_A`` (rank, in) and ``lora_B`` (out, rank) shapes; mismatched ranks raise."""
    a, b = {}, {}
    for key, shape in keys_and_shapes.items():
        if key.endswith(".lora_A.weight"):
            a[key[: -len(".lora_A.weight")]] = shape
        elif key.endswith(".lora_B.weight"):
            b[key[: -len(".lora_B.weight")]] = shape
    modules = {}
    for module in sorted(set(a) | set(b)):
        if module not in a or module not in b:
            raise LoraKeyError(f"{module} has only one of its two matrices")
        (rank, fan_in), (fan_out, rank_b) = a[module][:2], b[module][:2]
        if rank != rank_b:
            raise LoraKeyError(f"{module}: its down matrix has rank {rank} but its up matrix {rank_b}")
        modules[module] = (rank, fan_in, fan_out)
    return modules
