"""Reader and validator of conditioning bundles, schema ``neural_previs.bundle/1``.

A bundle is a folder (see docs/engine.md and the bundle issue for the full format)::

    shot.json           schema, width, height, fps, near, far, objects, frames[]
    depth/*.exr         one float32 channel (any name), planar camera-space z, background +inf
    mask/*.png          16-bit object ids, 0 = background
    pose/*.png          8-bit RGB skeleton images (1.1, optional), with per-frame "skeletons" in shot.json
    camera.txt          camera path (not read by the engine)

This module is pure: no torch and no bpy, so the Blender add-on can import it
(``from ..engine import bundle``). numpy is imported at the top (Blender ships it); OpenEXR and PIL
only inside the functions that read pixels, so parsing shot.json works anywhere.

Every problem raises ``BundleError`` with one line naming the file and what is wrong with it.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import BundleError
from .motion import ObjectMotion, read_motion

SCHEMA = "neural_previs.bundle/1.1"
#: Bundles of the same major version are read whatever their minor step (``neural_previs.bundle/1``,
#: ``neural_previs.bundle/1.1``, ...): a minor step only adds optional fields (docs/bundle.md).
SCHEMA_FAMILY = "neural_previs.bundle/1"
SHOT_FILE = "shot.json"


def is_readable_schema(schema) -> bool:
    """``neural_previs.bundle/1`` or one of its minor steps ``/1.N`` (N a whole number)."""
    if not isinstance(schema, str) or not schema.startswith(SCHEMA_FAMILY):
        return False
    minor = schema[len(SCHEMA_FAMILY):]
    return minor == "" or (minor.startswith(".") and minor[1:].isdigit())


@dataclass(frozen=True)
class BundleObject:
    id: int
    """Mask value of this object, stable across frames and re-renders (never 0)."""
    name: str
    """The Blender object's name."""


#: OpenPose body keypoints, in the order of a skeleton's ``keypoints`` (docs/bundle.md).
KEYPOINTS = (
    "nose", "neck", "r_shoulder", "r_elbow", "r_wrist", "l_shoulder", "l_elbow", "l_wrist", "r_hip", "r_knee",
    "r_ankle", "l_hip", "l_knee", "l_ankle", "r_eye", "l_eye", "r_ear", "l_ear",
)


@dataclass(frozen=True)
class Skeleton:
    object: str
    """Name of the armature object the skeleton is read from."""
    ids: tuple
    """Mask ids of the character's own geometry (what its armature deforms or carries); empty if none."""
    keypoints: tuple
    """18 ``(u, v, visible)`` in bundle pixels (OpenCV, pixel centres at +0.5), OpenPose order; ``u`` and
    ``v`` are NaN where the rig has no such point or it is behind the camera (then ``visible`` is False)."""

    def array(self) -> np.ndarray:
        """(18, 3) float64 of u, v, visible (1.0 / 0.0)."""
        return np.array(self.keypoints, dtype=np.float64)


@dataclass(frozen=True)
class BundleFrame:
    frame: int
    """Scene frame number, e.g. 1001."""
    depth: str
    """Path of the depth EXR, relative to the bundle."""
    mask: str
    """Path of the 16-bit id PNG, relative to the bundle."""
    K: tuple
    """3x3 intrinsics in pixels (OpenCV, pixel centres at +0.5), as nested tuples."""
    world_to_camera: tuple
    """4x4 world-to-camera matrix (OpenCV axes), as nested tuples."""
    skeletons: tuple | None = None
    """The characters' skeletons (``Skeleton``) seen on this frame; None in bundles older than 1.1."""
    pose: str | None = None
    """Path of the frame's pose image, relative to the bundle; None when the shot has no character."""


@dataclass(frozen=True)
class Bundle:
    root: Path
    """Absolute, resolved bundle folder."""
    width: int
    height: int
    fps: float
    near: float
    """Nearest depth over the whole shot (scene units); depth conditioning is normalised with it."""
    far: float
    """Farthest finite depth over the whole shot."""
    objects: tuple[BundleObject, ...]
    frames: tuple[BundleFrame, ...]
    motion: ObjectMotion | None = None
    """How the objects move (schema 1.1, see ``motion``); None for bundles written before 1.1."""
    schema: str = SCHEMA
    """The schema step the bundle was written with (``neural_previs.bundle/1``, ``/1.1``, ...)."""

    @property
    def frame_numbers(self) -> list[int]:
        return [f.frame for f in self.frames]

    def path_of(self, relative: str) -> Path:
        return _inside(self.root, relative, "path")

    def read_depth(self, index: int) -> np.ndarray:
        """Depth of frame ``index`` (0-based position in ``frames``) as float32 (height, width)."""
        frame = self.frames[index]
        depth = read_depth_exr(self.path_of(frame.depth), f"frame {frame.frame}: depth {frame.depth}")
        self._check_size(depth, frame.frame, "depth", frame.depth)
        return depth

    def read_mask(self, index: int) -> np.ndarray:
        """Object ids of frame ``index`` as uint16 (height, width)."""
        frame = self.frames[index]
        mask = read_id_png(self.path_of(frame.mask), f"frame {frame.frame}: mask {frame.mask}")
        self._check_size(mask, frame.frame, "mask", frame.mask)
        return mask

    def read_pose(self, index: int) -> np.ndarray | None:
        """The skeletons of frame ``index`` drawn as VACE draws poses: uint8 RGB (height, width, 3); None without a pose image."""
        frame = self.frames[index]
        if frame.pose is None:
            return None
        pose = read_rgb_png(self.path_of(frame.pose), f"frame {frame.frame}: pose {frame.pose}")
        self._check_size(pose[..., 0], frame.frame, "pose", frame.pose)
        return pose

    def object_ids(self, names: list[str]) -> list[int]:
        """Mask ids of the named objects; an unknown name is an error listing the known ones."""
        by_name = {o.name: o.id for o in self.objects}
        unknown = [n for n in names if n not in by_name]
        if unknown:
            known = ", ".join(sorted(by_name)) or "none"
            raise BundleError(f"object(s) {', '.join(unknown)} not in this bundle; its objects: {known}")
        return [by_name[n] for n in names]

    def _check_size(self, image: np.ndarray, frame: int, what: str, path: str) -> None:
        if image.shape != (self.height, self.width):
            raise BundleError(
                f"frame {frame}: {what} {path} is {image.shape[1]}x{image.shape[0]} but shot.json says "
                f"{self.width}x{self.height}"
            )


def read_bundle(path: str | Path) -> Bundle:
    """Parse and validate ``shot.json`` and check every referenced file exists inside the bundle.

    Pixels are not read here (see ``validate_pixels``), so this is cheap enough for a UI.
    """
    root = Path(path).expanduser()
    if not root.is_dir():
        raise BundleError(f"bundle folder {root} does not exist")
    root = root.resolve()
    shot_path = root / SHOT_FILE
    if not shot_path.is_file():
        raise BundleError(f"{shot_path} is missing: render the bundle with Neural Previs' Render Conditioning first")
    try:
        shot = json.loads(shot_path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise BundleError(f"{shot_path} is corrupt: not UTF-8 text") from None
    except json.JSONDecodeError as error:
        raise BundleError(f"{shot_path} is corrupt: {error.msg} at line {error.lineno} column {error.colno}") from None
    if not isinstance(shot, dict):
        raise BundleError(f"{shot_path} is corrupt: the top level must be a JSON object")
    schema = shot.get("schema")
    if not is_readable_schema(schema):
        raise BundleError(
            f"{shot_path} has schema {schema!r}; this engine reads {SCHEMA_FAMILY!r} and its minor steps (update the engine or re-render the bundle)"
        )

    width = _integer(shot, "width", minimum=1)
    height = _integer(shot, "height", minimum=1)
    fps = _number(shot, "fps")
    near = _number(shot, "near")
    far = _number(shot, "far")
    if not fps > 0:
        raise BundleError(f"shot.json: fps must be positive, got {fps}")
    if not 0 < near < far:
        raise BundleError(f"shot.json: need 0 < near < far for the depth range, got near={near} far={far}")

    objects = _objects(shot.get("objects"))
    frames = _frames(shot.get("frames"), root)
    _check_skeletons(frames, width, height, {o.id for o in objects})
    motion = read_motion(shot, [o.id for o in objects], len(frames))
    return Bundle(root=root, width=width, height=height, fps=fps, near=near, far=far, objects=objects, frames=frames, motion=motion,
                  schema=schema)


def validate_pixels(bundle: Bundle) -> None:
    """Read every depth, mask and pose image once and check them (sizes, channels, NaN/-inf/negative
    depth, ids not listed in ``objects``). Done before a model is loaded so bad input fails in seconds."""
    known_ids = {0} | {o.id for o in bundle.objects}

    def check(index: int) -> None:
        frame = bundle.frames[index]
        depth = bundle.read_depth(index)
        check_depth_values(depth, f"frame {frame.frame}: depth {frame.depth}")
        bundle.read_pose(index)
        mask = bundle.read_mask(index)
        stray = sorted(set(ids_present(mask)) - known_ids)
        if stray:
            raise BundleError(
                f"frame {frame.frame}: mask {frame.mask} has id(s) {', '.join(map(str, stray[:5]))} not listed in shot.json objects"
            )

    # Decoding releases the GIL: frames are read on several threads (2.1 s -> ~0.3 s for 81 frames
    # at 832x480 on 16 cores). map() yields in frame order, so the first bad frame is the one reported.
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        list(pool.map(check, range(len(bundle.frames))))


def ids_present(mask: np.ndarray) -> list[int]:
    """The ids in a uint16 id mask, in O(pixels) (np.unique sorts: 10x slower at 832x480)."""
    return np.flatnonzero(np.bincount(mask.ravel())).tolist()


def check_depth_values(depth: np.ndarray, where: str) -> None:
    """Depth must be positive and finite, except +inf for background."""
    nan = int(np.isnan(depth).sum())
    if nan:
        raise BundleError(f"{where} has {nan} NaN pixel(s); re-render the bundle")
    negative_inf = int(np.isneginf(depth).sum())
    if negative_inf:
        raise BundleError(f"{where} has {negative_inf} -inf pixel(s); background must be +inf")
    finite = depth[np.isfinite(depth)]
    if finite.size and finite.min() <= 0:
        raise BundleError(f"{where} has depth {float(finite.min())} <= 0; planar depth must be positive")


def bundle_hash(bundle: Bundle) -> str:
    """sha256 of shot.json and every file it references, in frame order: identifies the exact
    conditioning a take was made from."""
    digest = hashlib.sha256()
    digest.update((bundle.root / SHOT_FILE).read_bytes())
    for frame in bundle.frames:
        for relative in (frame.depth, frame.mask) + ((frame.pose,) if frame.pose else ()):
            digest.update(relative.encode("utf-8") + b"\0")
            digest.update(bundle.path_of(relative).read_bytes())
    return "sha256:" + digest.hexdigest()


# --------------------------------------------------------------------------------- pixel readers


def read_depth_exr(path: Path, where: str) -> np.ndarray:
    """The single channel of a depth EXR as float32 (height, width), whatever the channel's name."""
    import OpenEXR  # heavy optional dependency: only needed when pixels are read

    try:
        with OpenEXR.File(str(path), separate_channels=True) as exr:
            channels = exr.channels()
            names = sorted(channels)
            if len(names) != 1:
                raise BundleError(f"{where} has channels {', '.join(names)}; a depth EXR has exactly one")
            pixels = np.asarray(channels[names[0]].pixels)
    except BundleError:
        raise
    except Exception as error:  # OpenEXR raises RuntimeError/ValueError with C++ messages
        raise BundleError(f"{where} is not a readable OpenEXR file ({_first_line(error)})") from None
    if pixels.ndim != 2:
        raise BundleError(f"{where} has pixel shape {pixels.shape}; expected one 2D channel")
    return pixels.astype(np.float32, copy=False)


def read_rgb_png(path: Path, where: str) -> np.ndarray:
    """An 8-bit RGB PNG as uint8 (height, width, 3)."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            if image.mode != "RGB":
                raise BundleError(f"{where} is a {image.mode} image; a pose image is an 8-bit RGB PNG")
            pixels = np.asarray(image)
    except BundleError:
        raise
    except Exception as error:
        raise BundleError(f"{where} is not a readable PNG ({_first_line(error)})") from None
    return pixels


def read_id_png(path: Path, where: str) -> np.ndarray:
    """A 16-bit greyscale PNG of object ids as uint16 (height, width)."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            mode = image.mode
            if mode not in ("I;16", "I;16B", "I", "L"):
                raise BundleError(f"{where} is a {mode} image; an id mask is a 16-bit greyscale PNG")
            ids = np.asarray(image)
    except BundleError:
        raise
    except Exception as error:
        raise BundleError(f"{where} is not a readable PNG ({_first_line(error)})") from None
    if ids.ndim != 2:
        raise BundleError(f"{where} has pixel shape {ids.shape}; expected one channel of ids")
    if ids.dtype != np.uint16:
        if ids.size and (ids.min() < 0 or ids.max() > 65535):
            raise BundleError(f"{where} has ids outside 0..65535")
        ids = ids.astype(np.uint16)
    return ids


# ---------------------------------------------------------------------------------- shot.json


def _objects(raw) -> tuple[BundleObject, ...]:
    if not isinstance(raw, list):
        raise BundleError("shot.json: objects must be a list of {id, name}")
    objects, seen_ids, seen_names = [], set(), set()
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            raise BundleError(f"shot.json: objects[{index}] must be an object with id and name")
        object_id = _integer(item, "id", minimum=1, maximum=65535, where=f"objects[{index}]")
        name = item.get("name")
        if not isinstance(name, str) or not name:
            raise BundleError(f"shot.json: objects[{index}].name must be a non-empty string")
        if object_id in seen_ids or name in seen_names:
            raise BundleError(f"shot.json: objects[{index}] repeats id {object_id} or name {name!r}")
        seen_ids.add(object_id)
        seen_names.add(name)
        objects.append(BundleObject(id=object_id, name=name))
    return tuple(objects)


def _frames(raw, root: Path) -> tuple[BundleFrame, ...]:
    if not isinstance(raw, list) or not raw:
        raise BundleError("shot.json: frames must be a non-empty list")
    frames = []
    for index, item in enumerate(raw):
        where = f"frames[{index}]"
        if not isinstance(item, dict):
            raise BundleError(f"shot.json: {where} must be an object")
        number = _integer(item, "frame", where=where)
        if frames and number <= frames[-1].frame:
            raise BundleError(
                f"shot.json: {where}.frame is {number} after {frames[-1].frame}; frames must be in increasing order"
            )
        paths = {}
        for key in ("depth", "mask"):
            relative = item.get(key)
            if not isinstance(relative, str) or not relative:
                raise BundleError(f"shot.json: {where}.{key} must be a path relative to the bundle")
            file = _inside(root, relative, f"{where}.{key}")
            if not file.is_file():
                raise BundleError(f"frame {number}: {key} file {relative} is missing from the bundle")
            paths[key] = relative
        K = _matrix(item.get("K"), 3, f"{where}.K")
        world_to_camera = _matrix(item.get("world_to_camera"), 4, f"{where}.world_to_camera")
        frames.append(BundleFrame(number, paths["depth"], paths["mask"], K, world_to_camera, *_pose_fields(item, root, where, number)))
    return tuple(frames)


def _pose_fields(item: dict, root: Path, where: str, number: int) -> tuple:
    """The optional 1.1 fields of a frame: ``skeletons`` and ``pose``."""
    raw = item.get("skeletons")
    skeletons = None
    if raw is not None:
        if not isinstance(raw, list):
            raise BundleError(f"shot.json: {where}.skeletons must be a list of {{object, keypoints}}")
        skeletons, names = [], set()
        for index, entry in enumerate(raw):
            label = f"{where}.skeletons[{index}]"
            if not isinstance(entry, dict) or not isinstance(entry.get("object"), str) or not entry["object"]:
                raise BundleError(f"shot.json: {label} must be an object with a non-empty 'object' name")
            if entry["object"] in names:
                raise BundleError(f"shot.json: {label} repeats the object {entry['object']!r}")
            names.add(entry["object"])
            ids = entry.get("ids", [])
            if not isinstance(ids, list) or not all(type(i) is int and 1 <= i <= 65535 for i in ids):
                raise BundleError(f"shot.json: {label}.ids must be a list of object ids")
            skeletons.append(Skeleton(entry["object"], tuple(ids), _keypoints(entry.get("keypoints"), label)))
        skeletons = tuple(skeletons)
    pose = item.get("pose")
    if pose is not None:
        if not isinstance(pose, str) or not pose:
            raise BundleError(f"shot.json: {where}.pose must be a path relative to the bundle")
        if not _inside(root, pose, f"{where}.pose").is_file():
            raise BundleError(f"frame {number}: pose file {pose} is missing from the bundle")
    return skeletons, pose


def _keypoints(raw, label: str) -> tuple:
    if not isinstance(raw, list) or len(raw) != len(KEYPOINTS):
        raise BundleError(f"shot.json: {label}.keypoints must list {len(KEYPOINTS)} [u, v, visible] points")
    points = []
    for index, point in enumerate(raw):
        where = f"{label}.keypoints[{index}] ({KEYPOINTS[index]})"
        if not isinstance(point, list) or len(point) != 3 or not isinstance(point[2], bool):
            raise BundleError(f"shot.json: {where} must be [u, v, visible] with visible true or false")
        u, v, visible = point
        if u is None and v is None:
            if visible:
                raise BundleError(f"shot.json: {where} is visible but has no position")
            points.append((math.nan, math.nan, 0.0))
            continue
        if not all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in (u, v)):
            raise BundleError(f"shot.json: {where} needs finite numbers (or null for both) for u and v")
        points.append((float(u), float(v), 1.0 if visible else 0.0))
    return tuple(points)


def _check_skeletons(frames, width: int, height: int, object_ids: set) -> None:
    """A skeleton's ids are objects of the bundle; a visible keypoint lies inside the image."""
    for frame in frames:
        for skeleton in frame.skeletons or ():
            stray = sorted(set(skeleton.ids) - object_ids)
            if stray:
                raise BundleError(f"shot.json: frame {frame.frame}: {skeleton.object}'s ids {stray} are not in objects")
            for index, (u, v, visible) in enumerate(skeleton.keypoints):
                if visible and not (0 <= u < width and 0 <= v < height):
                    raise BundleError(
                        f"shot.json: frame {frame.frame}: {skeleton.object}'s {KEYPOINTS[index]} is visible at "
                        f"({u:g}, {v:g}), outside the {width}x{height} image"
                    )


def _inside(root: Path, relative: str, where: str) -> Path:
    """Resolve ``relative`` against the bundle and refuse anything that lands outside it
    (absolute paths, ``..``, symbolic links pointing out): a bundle must never make the engine read
    arbitrary files."""
    candidate = Path(relative)
    if candidate.is_absolute():
        raise BundleError(f"shot.json: {where} {relative!r} is absolute; bundle paths are relative to the bundle")
    resolved = (root / candidate).resolve()
    if not resolved.is_relative_to(root):
        raise BundleError(f"shot.json: {where} {relative!r} points outside the bundle")
    return resolved


def _integer(data: dict, key: str, minimum=None, maximum=None, where: str = "") -> int:
    label = f"{where}.{key}" if where else key
    value = data.get(key)
    if type(value) is not int:
        raise BundleError(f"shot.json: {label} must be an integer, got {value!r}")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise BundleError(f"shot.json: {label} is {value}, outside {minimum}..{maximum if maximum is not None else ''}")
    return value


def _number(data: dict, key: str) -> float:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise BundleError(f"shot.json: {key} must be a finite number, got {value!r}")
    return float(value)


def _matrix(value, size: int, where: str) -> tuple:
    if (
        not isinstance(value, list)
        or len(value) != size
        or not all(isinstance(row, list) and len(row) == size for row in value)
        or not all(
            isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for row in value for x in row
        )
    ):
        raise BundleError(f"shot.json: {where} must be a {size}x{size} list of finite numbers")
    return tuple(tuple(float(x) for x in row) for row in value)


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
