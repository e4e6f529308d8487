"""A contact sheet of a bundle: inverse depth (near = white, one range for the whole shot) beside the id masks
and, when the shot has rigged characters, the pose images; given a take, the control video the model received
(its per-object controls and keyframes composed as the engine composes them) and the take's frame."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import OpenEXR
from PIL import Image, ImageDraw


def _inverse_depth_image(depth: np.ndarray, near: float, far: float) -> np.ndarray:
    inverse = np.where(np.isfinite(depth), 1.0 / np.maximum(depth, 1e-9), 0.0)
    low, high = 1.0 / far, 1.0 / near
    scaled = np.clip((inverse - low) / max(high - low, 1e-12), 0.0, 1.0)
    scaled[~np.isfinite(depth)] = 0.0
    return (scaled * 255).astype(np.uint8)


def _id_colours(ids: np.ndarray) -> np.ndarray:
    # A fixed pseudo-random colour per id (golden-ratio hues), black background.
    palette = np.zeros((int(ids.max()) + 1, 3), dtype=np.uint8)
    for index in range(1, len(palette)):
        hue = (index * 0.618033988749895) % 1.0
        palette[index] = (np.array(_hsv_to_rgb(hue, 0.65, 0.95)) * 255).astype(np.uint8)
    return palette[ids]


def _hsv_to_rgb(h, s, v):
    i = int(h * 6) % 6
    f = h * 6 - int(h * 6)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    return [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i]


def bundle_frame_tiles(bundle: Path, shot: dict, record: dict) -> list[np.ndarray]:
    """RGB tiles of one frame: inverse depth (shot-wide range), coloured ids, and the pose image if there is one."""
    with OpenEXR.File(str(Path(bundle) / record["depth"])) as exr:
        depth = next(iter(exr.channels().values())).pixels
    ids = np.array(Image.open(Path(bundle) / record["mask"])).astype(np.int64)
    inverse = np.repeat(_inverse_depth_image(depth, shot["near"], shot["far"])[..., None], 3, axis=2)
    tiles = [inverse, _id_colours(ids)]
    if record.get("pose"):
        tiles.append(np.asarray(Image.open(Path(bundle) / record["pose"]).convert("RGB")))
    return tiles


def control_video(bundle: Path, params: dict):
    """frame index -> the control image the model received for it (the engine's own composition,
    ``engine.generation.shot.model_view``), from a take's recorded parameters."""
    from engine.formats.bundle import read_bundle
    from engine.formats.params import GenerateParams
    from engine.generation.shot import build_shot_conditioning, model_view

    shot = build_shot_conditioning(read_bundle(bundle), GenerateParams.from_dict(params))
    return lambda index: model_view(shot, index)[0]


def write_contact_sheet(bundle: Path, output: Path, rows: int = 4, take: Path | None = None) -> Path:
    """A PNG of `rows` frames spread over the shot: depth | masks (| poses) (| the control video the model
    received | the take's frame, when a take is given) (| the take's kept mask, white where its pixels are a set
    reference take's exactly, when it was made with --plate-from)."""
    bundle = Path(bundle)
    shot = json.loads((bundle / "shot.json").read_text())
    take_files, kept_files, model_view = {}, {}, None
    if take is not None:
        record = json.loads((Path(take) / "take.json").read_text())
        take_files = {entry["frame"]: Path(take) / entry["file"] for entry in record["frames"]}
        model_view = control_video(bundle, record["params"])
        kept_files = {entry["frame"]: Path(take) / entry["kept"] for entry in (record.get("plate_from") or {}).get("frames", [])}
    frames = shot["frames"]
    picks = [frames[i] for i in np.linspace(0, len(frames) - 1, min(rows, len(frames))).round().astype(int)]
    tiles = []
    for record in picks:
        row = list(bundle_frame_tiles(bundle, shot, record))
        if take_files:
            row.append(model_view(shot["frames"].index(record)))
            row.append(np.asarray(Image.open(take_files[record["frame"]]).convert("RGB")))
        if record["frame"] in kept_files:
            row.append(np.asarray(Image.open(kept_files[record["frame"]]).convert("RGB")))
        tiles.append(np.concatenate(row, axis=1))
    sheet = Image.fromarray(np.concatenate(tiles, axis=0))
    draw = ImageDraw.Draw(sheet)
    for index, record in enumerate(picks):
        draw.text((6, 4 + index * shot["height"]), f"frame {record['frame']}", fill=(255, 80, 80))
    output.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(output)
    return output
