"""Tiny random LoRAs for the tiny-random model, written by the tests in each format people use.

The shapes follow ``engine.backends.tiny_random.TRANSFORMER``: inner dim = heads x head size, the
feed-forward's ``ffn_dim``, ``num_layers`` main blocks and one VACE block per ``vace_layers`` entry.
Every format is written from one set of tensors (``LoraTensors``) with this file's own key tables
(nothing from ``engine.models.lora_keys``), so a file in one format and its diffusers twin hold the
same LoRA.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import save_file

from engine.backends import tiny_random

DIM = tiny_random.TRANSFORMER["num_attention_heads"] * tiny_random.TRANSFORMER["attention_head_dim"]
FFN = tiny_random.TRANSFORMER["ffn_dim"]
BLOCKS = tiny_random.TRANSFORMER["num_layers"]
VACE_BLOCKS = len(tiny_random.TRANSFORMER["vace_layers"])

#: (original name, diffusers name, musubi name, in features, out features) of each block module.
MODULES = (
    *((f"self_attn.{o}", f"attn1.{c}", f"self_attn_{o}", "dim", "dim") for o, c in zip("qkvo", ("to_q", "to_k", "to_v", "to_out.0"))),
    *((f"cross_attn.{o}", f"attn2.{c}", f"cross_attn_{o}", "dim", "dim") for o, c in zip("qkvo", ("to_q", "to_k", "to_v", "to_out.0"))),
    ("ffn.0", "ffn.net.0.proj", "ffn_0", "dim", "ffn"),
    ("ffn.2", "ffn.net.2", "ffn_2", "ffn", "dim"),
)
#: VACE blocks' own projections: block 0 has ``before_proj`` (proj_in), every block ``after_proj`` (proj_out).
VACE_PROJECTIONS = (("before_proj", "proj_in", 0), ("after_proj", "proj_out", None))
SIZES = {"dim": DIM, "ffn": FFN}


@dataclass
class LoraTensors:
    """``{(kind, block, original module): (down (rank, in), up (out, rank))}``, kind ``blocks`` or ``vace_blocks``."""

    matrices: dict
    rank: int


def random_lora(seed: int, rank: int = 4, scale: float = 0.6, vace: bool = False, dim: int = DIM) -> LoraTensors:
    """A LoRA on every main block module (and with ``vace`` every VACE block module and projection)."""
    generator = torch.Generator().manual_seed(seed)
    sizes = {"dim": dim, "ffn": FFN}

    def pair(fan_in, fan_out):
        return (torch.randn(rank, sizes[fan_in], generator=generator) * scale,
                torch.randn(sizes[fan_out], rank, generator=generator) * scale)

    matrices = {}
    for block in range(BLOCKS):
        for original, _, _, fan_in, fan_out in MODULES:
            matrices[("blocks", block, original)] = pair(fan_in, fan_out)
    if vace:
        for block in range(VACE_BLOCKS):
            for original, _, _, fan_in, fan_out in MODULES:
                matrices[("vace_blocks", block, original)] = pair(fan_in, fan_out)
            for original, _, only in VACE_PROJECTIONS:
                if only is None or only == block:
                    matrices[("vace_blocks", block, original)] = pair("dim", "dim")
    return LoraTensors(matrices, rank)


def _diffusers_name(original: str) -> str:
    table = {o: d for o, d, *_ in MODULES} | {o: d for o, d, _ in VACE_PROJECTIONS}
    return table[original]


def write_diffusers(lora: LoraTensors, path: Path, prefix: str = "transformer.") -> Path:
    """diffusers / PEFT names: ``transformer.blocks.0.attn1.to_q.lora_A.weight``."""
    tensors = {}
    for (kind, block, original), (down, up) in lora.matrices.items():
        name = f"{prefix}{kind}.{block}.{_diffusers_name(original)}"
        tensors[f"{name}.lora_A.weight"], tensors[f"{name}.lora_B.weight"] = down, up
    return _save(tensors, path)


def write_original(lora: LoraTensors, path: Path, alpha: float | None = None) -> Path:
    """Wan's own names (ComfyUI, lightx2v, CausVid): ``diffusion_model.blocks.0.self_attn.q.lora_down.weight``."""
    tensors = {}
    for (kind, block, original), (down, up) in lora.matrices.items():
        name = f"diffusion_model.{kind}.{block}.{original}"
        tensors[f"{name}.lora_down.weight"], tensors[f"{name}.lora_up.weight"] = down, up
        if alpha is not None:
            tensors[f"{name}.alpha"] = torch.tensor(float(alpha))
    return _save(tensors, path)


def write_musubi(lora: LoraTensors, path: Path, alpha: float | None = None) -> Path:
    """Kohya / musubi-tuner names: ``lora_unet_blocks_0_self_attn_q.lora_down.weight`` with an alpha each."""
    tensors = {}
    musubi = {o: m for o, _, m, *_ in MODULES}
    for (kind, block, original), (down, up) in lora.matrices.items():
        assert kind == "blocks", "musubi names here cover the main blocks"
        name = f"lora_unet_blocks_{block}_{musubi[original]}"
        tensors[f"{name}.lora_down.weight"], tensors[f"{name}.lora_up.weight"] = down, up
        tensors[f"{name}.alpha"] = torch.tensor(float(lora.rank if alpha is None else alpha))
    return _save(tensors, path)


def _save(tensors: dict, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.clone().contiguous() for k, v in tensors.items()}, str(path))
    return path
