"""The panel's LoRA list and the headless command's --lora reach the engine, and the take records them.

The LoRA file is written here in the safetensors format by hand (8-byte header length, JSON header,
raw little-endian float32): Blender's Python has no torch. Its shapes are tiny-random's (inner dim 24)."""

import hashlib
import json
import struct
from pathlib import Path

import bpy
import numpy as np

from engine_shot import engine_python, shot, strips_of  # noqa: F401
from test_generate import run_headless

TINY_DIM, RANK = 24, 2


def write_tiny_lora(path: Path, seed: int) -> Path:
    """A diffusers-format LoRA on the query projection of tiny-random's three blocks."""
    generator = np.random.default_rng(seed)
    tensors = {}
    for block in range(3):
        name = f"transformer.blocks.{block}.attn1.to_q"
        tensors[f"{name}.lora_A.weight"] = generator.standard_normal((RANK, TINY_DIM)).astype("<f4")
        tensors[f"{name}.lora_B.weight"] = generator.standard_normal((TINY_DIM, RANK)).astype("<f4")
    header, offset, blobs = {}, 0, []
    for key, array in tensors.items():
        blob = array.tobytes()
        header[key] = {"dtype": "F32", "shape": list(array.shape), "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
        blobs.append(blob)
    text = json.dumps(header).encode("utf-8")
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))
    return path


def take_record(strip) -> dict:
    return json.loads((Path(bpy.path.abspath(strip.directory)).parent / "take.json").read_text())


def test_the_scenes_used_loras_go_to_the_take_with_their_weights(shot, tmp_path):
    lora = write_tiny_lora(tmp_path / "style é.safetensors", seed=1)
    settings = shot.neural_previs
    used = settings.loras.add()
    used.path, used.weight = str(lora), 0.8
    unused = settings.loras.add()
    unused.path, unused.enabled = str(tmp_path / "not used.safetensors"), False
    assert bpy.ops.neural_previs.generate() == {"FINISHED"}
    record = take_record(strips_of(shot)["Scene_take_001"])
    assert record["params"]["loras"] == [{"path": str(lora), "weight": 0.8}]
    (recorded,) = record["loras"]
    assert recorded["sha256"] == hashlib.sha256(lora.read_bytes()).hexdigest() and recorded["weight"] == 0.8
    assert len(settings.loras) == 2  # the scene's list is as the artist left it

    assert bpy.ops.neural_previs.lora_remove(index=1) == {"FINISHED"}
    assert [item.path for item in settings.loras] == [str(lora)]
    settings.loras.clear()
    assert bpy.ops.neural_previs.take_apply_settings(strip="Scene_take_001") == {"FINISHED"}
    assert [(item.path, round(item.weight, 6)) for item in settings.loras] == [(str(lora), 0.8)]


def test_the_headless_command_takes_lora_with_a_weight(shot, tmp_path):
    lora = write_tiny_lora(tmp_path / "style.safetensors", seed=2)
    blend = tmp_path / "shot.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    done = run_headless(blend, ["generate", "--model", "tiny-random", "--steps", "1", "--lora", f"{lora}:0.5", "--save"])
    assert done.returncode == 0, done.stderr[-2000:]
    bpy.ops.wm.open_mainfile(filepath=str(blend))
    record = take_record(strips_of(bpy.context.scene)["Scene_take_001"])
    assert [(entry["file"], entry["weight"]) for entry in record["loras"]] == [(str(lora), 0.5)]


def test_a_missing_lora_is_one_line_before_anything_renders(shot, tmp_path):
    missing = shot.neural_previs.loras.add()
    missing.path = str(tmp_path / "gone.safetensors")
    bundles_before = sorted(tmp_path.rglob("*.exr"))
    try:
        bpy.ops.neural_previs.generate()
    except RuntimeError:
        pass
    error = bpy.context.window_manager.neural_previs.last_error
    assert "gone.safetensors" in error and "does not exist" in error and "\n" not in error
    assert sorted(tmp_path.rglob("*.exr")) == bundles_before and "Scene_take_001" not in strips_of(shot)
