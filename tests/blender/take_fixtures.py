"""Take folders as the engine writes them (`neural_previs.take/1`), made by tests without running the engine."""

import json
from pathlib import Path

import numpy as np
from PIL import Image


def write_take(folder: Path, frames, size=(32, 18), params=None) -> Path:
    (folder / "frames").mkdir(parents=True)
    entries = []
    for number in frames:
        name = f"frames/{number:04d}.png"
        shade = (number * 37) % 256
        Image.fromarray(np.full((size[1], size[0], 3), shade, np.uint8)).save(folder / name)
        entries.append({"frame": number, "file": name})
    record = {
        "schema": "neural_previs.take/1",
        "engine_version": "test",
        "bundle": {"fps": 24.0, "first_frame": frames[0], "last_frame": frames[-1]},
        "params": params or {"prompt": "a rainy neon street", "seed": 7, "steps": 2, "negative_prompt": None},
        "resolved": {"backend": "tiny-random", "guidance": 5.0},
        "model": {"id": "tiny-random", "hash": "abc"},
        "frames": entries,
    }
    (folder / "take.json").write_text(json.dumps(record))
    return folder
