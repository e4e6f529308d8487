"""Reading a take folder back (``neural_previs.take/1``): its record, its frames, and the bundle it was made from.

``take.json`` names the bundle by path and hash (``bundle.path``, ``bundle.hash``). Folders get moved, so a take and
its bundle moved together still resolve: the add-on writes ``take_003/`` beside ``take_003_bundle/``, a batch shot
``take/`` beside ``bundle/``. A candidate is only accepted when its hash is the recorded one, so another bundle that
happens to sit there (a re-render of a changed scene) is never taken for the take's own.

Pure: no torch, no bpy.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..errors import BundleError, TakeError
from .bundle import SHOT_FILE, Bundle, bundle_hash, read_bundle
from .take import TAKE_SCHEMA

TAKE_FILE = "take.json"
BATCH_BUNDLE_FOLDER = "bundle"


@dataclass(frozen=True)
class TakeFolder:
    root: Path
    """Absolute take folder."""
    record: dict
    """take.json as written by the engine."""
    frames: tuple[tuple[int, Path], ...]
    """(scene frame, image file) in increasing frame order."""

    @property
    def frame_numbers(self) -> list[int]:
        return [number for number, _ in self.frames]


def read_take(path: str | Path) -> TakeFolder:
    """take.json and the frames it lists, all present inside the take; ``TakeError`` otherwise."""
    root = Path(path).expanduser().absolute()
    record_path = root / TAKE_FILE
    if not record_path.is_file():
        raise TakeError(f"{root} holds no {TAKE_FILE}: give a take folder written by the engine")
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise TakeError(f"{record_path} cannot be read ({error}); the take is damaged") from None
    if not isinstance(record, dict) or record.get("schema") != TAKE_SCHEMA:
        schema = record.get("schema") if isinstance(record, dict) else None
        raise TakeError(f"{record_path} has schema {schema!r}; this engine reads {TAKE_SCHEMA!r}")
    entries = record.get("frames")
    if not isinstance(entries, list) or not entries:
        raise TakeError(f"{record_path} lists no frames; the take is damaged")
    resolved_root = root.resolve()
    frames = []
    for entry in entries:
        try:
            number, relative = entry["frame"], entry["file"]
        except (KeyError, TypeError):
            raise TakeError(f"{record_path} has a malformed frame entry {entry!r}") from None
        if type(number) is not int or not isinstance(relative, str):
            raise TakeError(f"{record_path} has a malformed frame entry {entry!r}")
        image = (root / relative).resolve()
        if not image.is_relative_to(resolved_root):
            raise TakeError(f"{record_path} points outside the take ({relative}); the take is damaged")
        if not image.is_file():
            raise TakeError(f"frame {number} of take {root.name} is missing ({relative}); the take is incomplete")
        frames.append((number, image))
    frames.sort()
    if len({number for number, _ in frames}) != len(frames):
        raise TakeError(f"{record_path} lists a frame twice; the take is damaged")
    return TakeFolder(root=root, record=record, frames=tuple(frames))


def bundle_candidates(take: TakeFolder) -> list[Path]:
    """Where the take's bundle may be, in order: the recorded path, then beside the take (``<take>_bundle/``, ``bundle/``)."""
    recorded = (take.record.get("bundle") or {}).get("path")
    candidates = [Path(recorded)] if isinstance(recorded, str) and recorded else []
    candidates += [take.root.parent / f"{take.root.name}_bundle", take.root.parent / BATCH_BUNDLE_FOLDER]
    unique = []
    for candidate in candidates:
        if candidate.absolute() not in unique:
            unique.append(candidate.absolute())
    return unique


def find_take_bundle(take: TakeFolder) -> Bundle:
    """The bundle the take was made from: the first candidate whose hash is the one take.json records."""
    recorded_hash = (take.record.get("bundle") or {}).get("hash")
    candidates = bundle_candidates(take)
    changed = []
    for candidate in candidates:
        if not (candidate / SHOT_FILE).is_file():
            continue
        try:
            bundle = read_bundle(candidate)
        except BundleError:
            changed.append(candidate)
            continue
        if recorded_hash is None or bundle_hash(bundle) == recorded_hash:
            return bundle
        changed.append(candidate)
    if changed:
        raise BundleError(
            f"the bundle at {changed[0]} is not the one take {take.root.name} was made from (its files changed since); "
            "re-render the take's own bundle"
        )
    where = ", ".join(str(c) for c in candidates)
    raise BundleError(f"cannot find the bundle take {take.root.name} was made from (looked in {where})")


def check_take_matches_bundle(take: TakeFolder, bundle: Bundle) -> None:
    """A take has one frame per bundle frame, with the same numbers."""
    if take.frame_numbers != bundle.frame_numbers:
        raise TakeError(
            f"take {take.root.name} has frames {_range(take.frame_numbers)} but its bundle {bundle.root} has "
            f"{_range(bundle.frame_numbers)}: give the bundle this take was made from"
        )


def _range(numbers: list[int]) -> str:
    return f"{numbers[0]}..{numbers[-1]} ({len(numbers)} frames)"
