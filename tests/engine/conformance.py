"""The conformance harness: the engine's take against the stock diffusers pipeline, called directly
on the same inputs.

- ``Shot``: the inputs, a bundle and the generation parameters. Only shots that fit one window at
  their exact size (sizes multiples of 16, 4k+1 frames, one window): the engine then neither pads,
  scales nor blends, and its take must be the stock call's output.
- ``stock_arguments(shot)``: what ``WanVACEPipeline.__call__`` receives, built from the bundle by
  the documented convention (docs/engine.md, "How the bundle becomes model input") with this
  file's own code (OpenEXR and PIL, nothing from ``engine.generation``): ``video`` = inverse depth
  ``(1/z - 1/far) / (1/near - 1/far)`` clipped to [0, 1], near = white, background black, 8-bit
  ``round(255 v)``, the shot's one near/far; ``mask`` white = generate (all white for ``restyle``,
  the selected objects for ``selective``, whose ``video`` holds the plate elsewhere);
  ``reference_images`` the reference image; the seed through ``torch.Generator("cpu")``.
- ``stock_output(pipeline, shot, **call)``: the stock call with ``output_type="np"``, as uint8 frames
  ``round(255 clip(x, 0, 1))``, and for ``selective`` the documented composite after decoding (the
  plate's pixels put back: weight of the model's pixel ``clip(1 - d / 3, 0, 1)`` at distance ``d`` from
  the nearest selected pixel centre, the plate exactly where the weight is 0), computed here by brute force; ``call`` adds or overrides arguments (a later backend's own, e.g.
  a schedule or ``guidance_scale_2``), and ``pipeline`` is any ``WanVACEPipeline`` (one expert or
  two, LoRAs loaded into it or not).
- Keyframes (docs/engine.md, "Keyframes"): a keyframe at pixel frame ``k`` of the window (its image is
  of the shot's size here, so no scaling) puts its image in ``video`` and black in ``mask`` on every
  frame from ``k`` to the nearest frame ``floor((j + 0.5) * F / F_lat)`` the mask sampling reads
  (``F_lat = ceil(F / 4)``, the earlier one on a tie); after decoding, ``exact`` keyframes' frames
  are the image.
- Controls ``pose`` (docs/engine.md, "A control per object"): where a pixel is within 6 pixels
  (Chebyshev) of the character's own ids or one of its visible keypoints, ``video`` shows the
  bundle's pose image instead of depth.
- ``engine_output(session, shot, out)``: the take ``generate_take`` writes, as uint8 frames and its
  ``take.json``.
- ``levels(a, b)``: the largest difference, in levels of 255.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.formats.params import GenerateParams

#: The engine's take equals the stock call's to within this many levels of 255.
FRAME_TOLERANCE = 1


@dataclass(frozen=True)
class Shot:
    bundle: Path
    params: GenerateParams

    def with_params(self, **fields) -> "Shot":
        return Shot(self.bundle, dataclasses.replace(self.params, **fields))


@dataclass
class EngineTake:
    frames: np.ndarray
    """uint8 (frames, height, width, 3), in frame order."""
    record: dict
    """take.json."""


def read_shot(bundle: Path) -> dict:
    return json.loads((bundle / "shot.json").read_text())


def read_depth(path: Path) -> np.ndarray:
    """The single float channel of a depth EXR (docs/bundle.md)."""
    import OpenEXR

    with OpenEXR.File(str(path), separate_channels=True) as exr:
        (channel,) = exr.channels().values()
        return np.asarray(channel.pixels, dtype=np.float64)


def depth_image(depth: np.ndarray, near: float, far: float) -> np.ndarray:
    """Inverse depth, near = white, the shot's one range, as 8-bit RGB (background +inf: black)."""
    with np.errstate(divide="ignore"):
        value = np.clip((1.0 / depth - 1.0 / far) / (1.0 / near - 1.0 / far), 0.0, 1.0)
    grey = np.round(255.0 * value).astype(np.uint8)
    return np.repeat(grey[:, :, None], 3, axis=2)


def rgb(path: str | Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def stock_arguments(shot: Shot) -> dict:
    """The keyword arguments of ``WanVACEPipeline.__call__`` for this shot (see the module docstring)."""
    import torch
    from PIL import Image

    params, info = shot.params, read_shot(shot.bundle)
    width, height, frames = info["width"], info["height"], info["frames"]
    assert width % 16 == 0 and height % 16 == 0 and len(frames) % 4 == 1, "the harness takes shots of one exact window"
    selected = {o["id"] for o in info["objects"] if o["name"] in params.objects}
    posed = {name for name, control in params.controls.items() if control == "pose"}
    video, mask = [], []
    for entry in frames:
        control = depth_image(read_depth(shot.bundle / entry["depth"]), info["near"], info["far"])
        if posed:
            control = posed_control(shot.bundle, entry, control, posed)
        if params.mode == "selective":
            with Image.open(shot.bundle / entry["mask"]) as ids:
                generate = np.isin(np.asarray(ids), list(selected))
            plate = rgb(Path(params.plate) / f"{entry['frame']:04d}.png")
            control = np.where(generate[:, :, None], control, plate)
        else:
            generate = np.ones((height, width), bool)
        video.append(Image.fromarray(control))
        mask.append(Image.fromarray(np.where(generate, 255, 0).astype(np.uint8)))
    for offset, image in keyframe_holds(shot, [entry["frame"] for entry in frames]).items():
        video[offset] = Image.fromarray(image)
        mask[offset] = Image.fromarray(np.zeros((height, width), np.uint8))
    return dict(
        video=video, mask=mask,
        reference_images=Image.fromarray(rgb(params.reference)) if params.reference else None,
        prompt=params.prompt, negative_prompt=params.negative_prompt or None,
        height=height, width=width, num_frames=len(frames),
        num_inference_steps=params.steps, guidance_scale=params.guidance,
        conditioning_scale=params.conditioning_scale,
        generator=torch.Generator("cpu").manual_seed(params.seed),
    )


def keyframe_holds(shot: Shot, numbers: list[int]) -> dict[int, np.ndarray]:
    """Frame offset -> the keyframe image held there (module docstring), for one window of ``numbers`` (the
    window's frame numbers; the whole shot's for a one-window shot). Keyframes outside it are not its own."""
    count = len(numbers)
    latent_frames = -(-count // 4)
    sampled = [int(math.floor((j + 0.5) * count / latent_frames)) for j in range(latent_frames)]
    holds: dict[int, tuple[int, np.ndarray]] = {}
    for keyframe in shot.params.keyframes:
        if keyframe["frame"] not in numbers:
            continue
        k = numbers.index(keyframe["frame"])
        nearest = min(sampled, key=lambda s: (abs(s - k), s))
        for offset in range(min(k, nearest), max(k, nearest) + 1):
            if offset not in holds or abs(offset - k) < holds[offset][0]:
                holds[offset] = (abs(offset - k), rgb(keyframe["image"]))
    return {offset: image for offset, (_, image) in holds.items()}


def posed_control(bundle: Path, entry: dict, depth: np.ndarray, posed: set[str]) -> np.ndarray:
    """The pose image over the posed characters' regions (module docstring), by brute force."""
    from PIL import Image

    with Image.open(bundle / entry["mask"]) as image:
        ids = np.asarray(image)
    seeds = []
    for skeleton in entry["skeletons"]:
        # the armature named: all the geometry it drives; a mesh named: that mesh's region only
        region = set(skeleton["ids"]) if skeleton["object"] in posed else set(skeleton["ids"]) & _ids_named(bundle, posed)
        if region:
            seeds += [tuple(p) for p in np.argwhere(np.isin(ids, list(region)))]
            seeds += [(int(v), int(u)) for u, v, visible in skeleton["keypoints"] if visible]
    if not seeds:
        return depth
    seeds = np.array(seeds)
    ys, xs = np.mgrid[0:ids.shape[0], 0:ids.shape[1]]
    chebyshev = np.maximum(np.abs(ys[:, :, None] - seeds[:, 0]), np.abs(xs[:, :, None] - seeds[:, 1])).min(axis=2)
    return np.where((chebyshev <= 6)[:, :, None], rgb(bundle / entry["pose"]), depth)


def _ids_named(bundle: Path, names: set[str]) -> set[int]:
    return {o["id"] for o in read_shot(bundle)["objects"] if o["name"] in names}


def to_uint8(frames: np.ndarray) -> np.ndarray:
    return np.round(np.clip(frames, 0.0, 1.0) * 255.0).astype(np.uint8)


def stock_output(pipeline, shot: Shot, **call) -> np.ndarray:
    """The stock pipeline's frames for the shot, uint8 (frames, height, width, 3)."""
    arguments = {**stock_arguments(shot), "output_type": "np", **call}
    frames = to_uint8(pipeline(**arguments).frames[0])
    if shot.params.mode == "selective":
        frames = np.stack([keep_plate_documented(frame, np.asarray(video), np.asarray(mask) > 0)
                           for frame, video, mask in zip(frames, arguments["video"], arguments["mask"])])
    numbers = [entry["frame"] for entry in read_shot(shot.bundle)["frames"]]
    for keyframe in shot.params.keyframes:
        if keyframe.get("mode", "exact") == "exact":
            frames[numbers.index(keyframe["frame"])] = rgb(keyframe["image"])
    return frames


#: docs/engine.md: the model's pixels fade out over this many pixels outside the selection.
FEATHER_PX = 3


def keep_plate_documented(frame: np.ndarray, plate: np.ndarray, generate: np.ndarray) -> np.ndarray:
    """The selective composite as documented, by brute force over every pair of pixel centres (the
    engine's own code is not used). Outside the selection ``video`` holds the plate."""
    height, width = generate.shape
    ys, xs = np.mgrid[0:height, 0:width]
    selected = np.argwhere(generate)
    if len(selected) == 0:
        return plate.copy()
    distance = np.sqrt(((ys[:, :, None] - selected[:, 0]) ** 2 + (xs[:, :, None] - selected[:, 1]) ** 2).min(axis=2))
    weight = np.clip(1.0 - distance / FEATHER_PX, 0.0, 1.0)[:, :, None]
    mixed = np.clip(np.round(weight * frame + (1.0 - weight) * plate), 0, 255).astype(np.uint8)
    return np.where(weight > 0, mixed, plate)


def engine_output(session, shot: Shot, out: Path, report=None) -> EngineTake:
    from engine.generation.generate import generate_take

    generate_take(session, shot.bundle, out, shot.params, report or (lambda *args, **kwargs: None))
    frames = np.stack([rgb(path) for path in sorted((out / "frames").iterdir())])
    return EngineTake(frames=frames, record=json.loads((out / "take.json").read_text()))


def levels(a: np.ndarray, b: np.ndarray) -> int:
    assert a.shape == b.shape, (a.shape, b.shape)
    return int(np.abs(a.astype(int) - b.astype(int)).max())


def load_stock_pipeline(folder: Path):
    """``WanVACEPipeline.from_pretrained`` of a model folder, as diffusers' documentation loads it
    (float32 on the CPU here)."""
    from diffusers import WanVACEPipeline

    pipeline = WanVACEPipeline.from_pretrained(folder)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline
