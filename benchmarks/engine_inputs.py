"""What the engine benchmark runs on, made in the run: a model folder for random in-memory weights,
a synthetic bundle (a floor and a moving box), a stand-in for a distill LoRA; the engine's own
inputs for a shot's first window; and the difference between two takes' frames."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np


def write_model_folder(folder: Path, model: str) -> Path:
    """A diffusers pipeline folder the engine's ``resolve_model`` accepts (configs only: the weights
    are the in-memory random modules, handed to the session with ``Session.adopt``)."""
    from architectures import BOUNDARY_RATIO, EXPERTS

    folder.mkdir(parents=True, exist_ok=True)
    index = {"_class_name": "WanVACEPipeline", "_diffusers_version": "0.0", "scheduler": ["diffusers", "UniPCMultistepScheduler"],
             "text_encoder": ["transformers", "UMT5EncoderModel"], "tokenizer": ["transformers", "PreTrainedTokenizerFast"],
             "transformer": ["diffusers", "WanVACETransformer3DModel"], "vae": ["diffusers", "AutoencoderKLWan"]}
    if EXPERTS.get(model, 1) == 2:
        index.update(transformer_2=["diffusers", "WanVACETransformer3DModel"], boundary_ratio=BOUNDARY_RATIO)
    (folder / "model_index.json").write_text(json.dumps(index))
    (folder / "NOTE.txt").write_text(f"benchmark: {model} with random weights built in memory\n")
    return folder


def write_stand_in_distill_lora(transformer, path: Path, rank: int) -> Path:
    """A random LoRA (diffusers key names) on every linear layer of the transformer's main blocks,
    the modules a step-distillation LoRA such as lightx2v's or CausVid's adapts, at that file's rank."""
    import torch
    from safetensors.torch import save_file

    generator = torch.Generator().manual_seed(7)
    tensors = {}
    for name, module in transformer.named_modules():
        if name.startswith("blocks.") and isinstance(module, torch.nn.Linear):
            r = min(rank, module.in_features, module.out_features)
            down = torch.randn(r, module.in_features, generator=generator) / module.in_features ** 0.5
            up = torch.randn(module.out_features, r, generator=generator) * 0.01
            tensors[f"transformer.{name}.lora_A.weight"] = down.to(torch.bfloat16).contiguous()
            tensors[f"transformer.{name}.lora_B.weight"] = up.to(torch.bfloat16).contiguous()
    save_file(tensors, str(path))
    return path


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


def first_window(bundle: Path, params, scratch: Path):
    """The engine's inputs for the shot's first window (its own conditioning code) and the plans."""
    from engine.generation.generate import check_inputs
    from engine.generation.shot import window_inputs
    from engine.generation.snapping import plan_size, plan_windows

    checked = check_inputs(bundle, scratch / f"unused-{time.monotonic_ns()}", params)
    spec = checked.spec
    size = plan_size(checked.bundle.width, checked.bundle.height, spec.size_multiple, spec.max_pixels)
    window = plan_windows(len(checked.bundle.frames), spec.window, spec.overlap, spec.frame_rule)[0]
    output = np.zeros((len(checked.bundle.frames), checked.bundle.height, checked.bundle.width, 3), np.uint8)
    return window_inputs(checked.shot, window, size, output, params.seed, carry_pixels=True)


def frame_levels(a: Path, b: Path) -> dict:
    """Largest and mean difference, in levels of 255, between two takes' frames."""
    from PIL import Image

    def frames(take):
        return np.stack([np.asarray(Image.open(p).convert("RGB")) for p in sorted((take / "frames").iterdir())]).astype(int)

    difference = np.abs(frames(a) - frames(b))
    return {"max": int(difference.max()), "mean": round(float(difference.mean()), 3)}
