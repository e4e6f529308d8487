"""Helpers for the engine tests: synthetic bundles written exactly in the bundle format
(EXR depth through OpenEXR, 16-bit id PNGs through PIL), and the environment of engine subprocesses.

Named uniquely (not ``conftest``) so ``from engine_testlib import ...`` never collides with other
test folders' helpers."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))


def write_depth_exr(path: Path, depth: np.ndarray, channel: str = "Z") -> None:
    import OpenEXR

    path.parent.mkdir(parents=True, exist_ok=True)
    OpenEXR.File({"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}, {channel: depth.astype(np.float32)}).write(str(path))


def write_id_png(path: Path, ids: np.ndarray) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(ids.astype(np.uint16)).save(path)


def make_bundle(
    root: Path,
    width: int = 48,
    height: int = 32,
    frames: list[int] | None = None,
    near: float = 1.0,
    far: float = 10.0,
    fps: float = 24.0,
    depth_fn=None,
) -> Path:
    """Write a bundle: a box (id 1, "Cube") moving across a floor (id 2, "Floor"), background +inf.

    ``depth_fn(index, frame) -> (height, width) float32`` overrides the depth of each frame."""
    frames = frames if frames is not None else list(range(1, 10))
    root.mkdir(parents=True, exist_ok=True)
    entries = []
    ys, xs = np.mgrid[0:height, 0:width]
    for index, frame in enumerate(frames):
        ids = np.zeros((height, width), np.uint16)
        depth = np.full((height, width), np.inf, np.float32)
        floor = ys >= height // 2
        depth[floor] = (near + (far - near) * (height - ys[floor]) / height).astype(np.float32)
        ids[floor] = 2
        x0 = (index * 3) % max(1, width - width // 3)
        box = (ys >= height // 4) & (ys < 3 * height // 4) & (xs >= x0) & (xs < x0 + width // 3)
        depth[box] = near + 1.0
        ids[box] = 1
        if depth_fn is not None:
            depth = depth_fn(index, frame).astype(np.float32)
        write_depth_exr(root / "depth" / f"{frame:04d}.exr", depth)
        write_id_png(root / "mask" / f"{frame:04d}.png", ids)
        entries.append(
            {
                "frame": frame,
                "depth": f"depth/{frame:04d}.exr",
                "mask": f"mask/{frame:04d}.png",
                "K": [[40.0, 0.0, width / 2], [0.0, 40.0, height / 2], [0.0, 0.0, 1.0]],
                "world_to_camera": np.eye(4).tolist(),
            }
        )
    shot = {
        "schema": "neural_previs.bundle/1",
        "width": width,
        "height": height,
        "fps": fps,
        "near": near,
        "far": far,
        "objects": [{"id": 1, "name": "Cube"}, {"id": 2, "name": "Floor"}],
        "frames": entries,
    }
    (root / "shot.json").write_text(json.dumps(shot, indent=1))
    (root / "camera.txt").write_text("test shot\n")
    return root


def edit_shot(root: Path, change) -> None:
    shot = json.loads((root / "shot.json").read_text())
    change(shot)
    (root / "shot.json").write_text(json.dumps(shot))


def engine_env(cache: Path) -> dict:
    env = dict(os.environ)
    env["NEURAL_PREVIS_CACHE"] = str(cache)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH")) if p)
    env["HF_HUB_OFFLINE"] = "1"
    # Hermetic: weights a developer has downloaded must not change what the tests see.
    env["HF_HOME"] = str(cache / "hf-home")
    env.pop("HF_HUB_CACHE", None)
    return env


def load_benchmark(name: str):
    """``benchmarks/<name>.py`` as a module (benchmarks/ is not a package, and engine.py's name would
    clash with the engine package)."""
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"benchmark_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
