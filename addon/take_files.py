"""Reading a take folder written by the engine (`neural_previs.take/1`). Pure Python: no bpy.

A take is `frames/<frame>.png`, `take.json` and `preview.mp4`; `take.json` lists every frame with its
scene frame number. Reading checks that every listed frame is there, so a timeline strip never points
at missing images.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

TAKE_SCHEMA_FAMILY = "neural_previs.take/"
SUPPORTED_TAKE_VERSIONS = {"1"}


class TakeFolderError(ValueError):
    """The folder is not a complete take; the message is one actionable line."""


@dataclass
class Take:
    folder: Path
    frames: list[tuple[int, Path]]  # (scene frame, image file), ascending frames
    fps: float | None
    shot: str | None
    record: dict = field(repr=False)

    @property
    def first_frame(self) -> int:
        return self.frames[0][0]

    @property
    def last_frame(self) -> int:
        return self.frames[-1][0]


def read_take(folder: str | Path) -> Take:
    folder = Path(folder).expanduser().absolute()
    record_path = folder / "take.json"
    if not record_path.is_file():
        raise TakeFolderError(f"'{folder}' holds no take.json; choose a take folder written by the Neural Previs engine")
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise TakeFolderError(f"'{record_path}' cannot be read ({error}); the take is damaged, generate it again") from None
    schema = record.get("schema", "") if isinstance(record, dict) else ""
    if not schema.startswith(TAKE_SCHEMA_FAMILY) or schema[len(TAKE_SCHEMA_FAMILY) :] not in SUPPORTED_TAKE_VERSIONS:
        raise TakeFolderError(f"'{record_path}' has schema '{schema}', this version reads neural_previs.take/1; update Neural Previs")
    entries = record.get("frames")
    if not isinstance(entries, list) or not entries:
        raise TakeFolderError(f"'{record_path}' lists no frames; the take is damaged, generate it again")
    frames = []
    for entry in entries:
        try:
            number, relative = int(entry["frame"]), str(entry["file"])
        except (KeyError, TypeError, ValueError):
            raise TakeFolderError(f"'{record_path}' has a malformed frame entry {entry!r}; generate the take again") from None
        image = (folder / relative).resolve()
        if folder.resolve() not in image.parents:
            raise TakeFolderError(f"'{record_path}' points outside the take ({relative}); the take is damaged")
        if not image.is_file():
            raise TakeFolderError(f"Frame {number} of the take is missing ({relative}); the take is incomplete, generate it again")
        frames.append((number, image))
    frames.sort()
    if len({number for number, _ in frames}) != len(frames):
        raise TakeFolderError(f"'{record_path}' lists a frame twice; the take is damaged, generate it again")
    bundle = record.get("bundle") if isinstance(record.get("bundle"), dict) else {}
    fps = bundle.get("fps")
    return Take(folder=folder, frames=frames, fps=float(fps) if fps else None, shot=bundle.get("shot"), record=record)


def timeline_images(take: Take) -> list[Path]:
    """One image per timeline frame from the first to the last take frame; gaps (frame_step > 1) hold the last image."""
    images = []
    by_frame = dict(take.frames)
    current = take.frames[0][1]
    for frame in range(take.first_frame, take.last_frame + 1):
        current = by_frame.get(frame, current)
        images.append(current)
    return images
