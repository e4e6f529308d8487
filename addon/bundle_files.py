"""Writing a conditioning bundle folder safely. Pure Python: no bpy.

A bundle is built in a hidden temporary sibling of its destination and only moved into place when
complete, so readers never see half a bundle and a failed or cancelled render leaves nothing behind.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import tempfile
import uuid
from pathlib import Path

from .encoder_threads import FencedEncoders
from .image_files import encode_exr_float, encode_png_gray16, encode_png_rgb8
from .pose_drawing import render_pose_image

SCHEMA = "neural_previs.bundle/1.1"
SHOT_FILE = "shot.json"
CAMERA_PATH_FILE = "camera.txt"
DEPTH_FOLDER = "depth"
MASK_FOLDER = "mask"
POSE_FOLDER = "pose"


class BundleLocationError(ValueError):
    """The destination folder cannot receive a bundle."""


def frame_file_stem(frame: int) -> str:
    return f"{frame:06d}"


def _nearest_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_destination(directory: str) -> Path:
    """Resolve and check a destination folder before any rendering starts; raise with a one-line reason. Writes nothing."""
    if not directory or not directory.strip():
        raise BundleLocationError("No output folder given; choose a folder for the conditioning bundle")
    target = Path(directory).expanduser().absolute()
    if target.exists() and not target.is_dir():
        raise BundleLocationError(f"'{target}' is a file, not a folder; choose a folder for the bundle")
    if target.is_dir() and any(target.iterdir()) and not (target / SHOT_FILE).is_file():
        raise BundleLocationError(f"'{target}' is not empty and holds no bundle; choose an empty folder or an earlier bundle to replace")
    existing = _nearest_existing(target.parent)
    if not existing.is_dir():
        raise BundleLocationError(f"'{existing}' is a file, so '{target}' cannot be created; choose a writable folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise BundleLocationError(f"'{existing}' is not writable; choose a writable folder")
    return target


class BundleWriter:
    """Collects a bundle's files in a temporary sibling folder, encoding images on worker threads."""

    _MAX_PENDING_WRITES = 8

    def __init__(self, destination: Path, depth_compression: str = "zip"):
        self.destination = destination
        self._encode_depth = functools.partial(encode_exr_float, compression=depth_compression)
        self._created_parents = _make_parents(destination.parent)
        try:
            self.staging = Path(tempfile.mkdtemp(prefix=f".{destination.name}.partial-", dir=destination.parent))
        except OSError as error:
            _remove_empty(self._created_parents)
            raise BundleLocationError(f"Cannot write in '{destination.parent}' ({error.strerror}); choose a writable folder") from None
        (self.staging / DEPTH_FOLDER).mkdir()
        (self.staging / MASK_FOLDER).mkdir()
        # numpy and zlib release the GIL: two threads encode while the main thread draws the next frame.
        # (Encoding in a child process was measured too, free of the GIL: on two cores it was slower.)
        self.encoders = FencedEncoders(threads=2, max_pending=self._MAX_PENDING_WRITES)

    def add_frame(self, frame: int, depth, ids) -> dict:
        """Queue a frame's depth and mask; returns their paths relative to the bundle."""
        stem = frame_file_stem(frame)
        depth_path = f"{DEPTH_FOLDER}/{stem}.exr"
        mask_path = f"{MASK_FOLDER}/{stem}.png"
        self.encoders.submit(self.staging / depth_path, self._encode_depth, depth)
        self.encoders.submit(self.staging / mask_path, encode_png_gray16, ids)
        return {"depth": depth_path, "mask": mask_path}

    def add_pose(self, frame: int, skeletons, width: int, height: int) -> str:
        """Queue a frame's pose image, drawn from (persons, 18, 3) keypoints on an encoder thread; returns its path."""
        pose_path = f"{POSE_FOLDER}/{frame_file_stem(frame)}.png"
        (self.staging / POSE_FOLDER).mkdir(exist_ok=True)
        self.encoders.submit(self.staging / pose_path, functools.partial(_encode_pose, width=width, height=height), skeletons)
        return pose_path

    def finish(self, shot: dict, camera_path_lines: list[str]) -> Path:
        """Wait for the images, write the metadata, and move the bundle into place (replacing an earlier bundle)."""
        try:
            self.encoders.finish()
            (self.staging / CAMERA_PATH_FILE).write_text("\n".join(camera_path_lines) + "\n", encoding="utf-8")
            (self.staging / SHOT_FILE).write_text(json.dumps(shot, indent=1) + "\n", encoding="utf-8")
            self._publish()
        except OSError as error:
            self.abort()
            raise BundleLocationError(f"Writing the bundle failed ({error.strerror or error}); check the disk and try again") from None
        except BaseException:
            self.abort()
            raise
        return self.destination

    def _publish(self) -> None:
        target = self.destination
        previous = None
        if target.is_dir():
            if any(target.iterdir()):
                previous = target.with_name(f".{target.name}.replaced-{uuid.uuid4().hex[:8]}")
                target.rename(previous)
            else:
                target.rmdir()
        self.staging.rename(target)
        if previous is not None:
            shutil.rmtree(previous, ignore_errors=True)

    def abort(self) -> None:
        """Drop everything written so far."""
        self.encoders.abort()
        shutil.rmtree(self.staging, ignore_errors=True)
        _remove_empty(self._created_parents)


def _encode_pose(skeletons, width: int, height: int, checkpoint=None) -> bytes:
    return encode_png_rgb8(render_pose_image(skeletons, width, height, checkpoint), checkpoint)


def _make_parents(folder: Path) -> list[Path]:
    """Create a folder and its missing parents; return the ones created, deepest first."""
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    created = []
    for path in reversed(missing):
        try:
            path.mkdir()
        except FileExistsError:
            if path.is_dir():  # another process (a batch's other shot) made it meanwhile: it is not ours to remove
                continue
            _remove_empty(list(reversed(created)))
            raise BundleLocationError(f"Cannot create '{path}': a file of that name is in the way; choose another folder") from None
        except OSError as error:
            _remove_empty(list(reversed(created)))
            raise BundleLocationError(f"Cannot create '{path}' ({error.strerror}); choose a writable folder") from None
        created.append(path)
    return list(reversed(created))


def _remove_empty(folders: list[Path]) -> None:
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            break
