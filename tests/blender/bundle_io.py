"""Reading bundles back with reference libraries (OpenEXR, Pillow), independent of the writers under test."""

import json
from pathlib import Path

import numpy as np
import OpenEXR
from PIL import Image


def read_shot(bundle: Path) -> dict:
    return json.loads((Path(bundle) / "shot.json").read_text())


def read_depth(path: Path) -> np.ndarray:
    with OpenEXR.File(str(path)) as exr:
        channels = exr.channels()
        assert len(channels) == 1, f"depth EXR must have one channel, has {list(channels)}"
        pixels = next(iter(channels.values())).pixels
    assert pixels.dtype == np.float32
    return pixels


def read_mask(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        assert image.mode in ("I;16", "I;16B", "I"), image.mode
        return np.array(image).astype(np.int64)


def frame_images(bundle: Path, record: dict):
    return read_depth(Path(bundle) / record["depth"]), read_mask(Path(bundle) / record["mask"])
