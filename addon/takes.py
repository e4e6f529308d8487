"""The takes of a scene, as the Sequencer's Neural Previs tab lists them and as its buttons act on them.

A take is a strip Neural Previs made: it carries the `neural_previs` custom property (addon/timeline.py)
with the take's record (`params`, `resolved`, `model`, `seconds`, ...). Nothing here reads the disk
beyond one existence check per take folder, so the tab can be drawn on every redraw.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from pathlib import Path

import bpy

from ..engine.formats.params import MAX_SEED
from .compat import all_strips
from .timeline import STRIP_PROPERTY

TAKE_PROPERTY = STRIP_PROPERTY
_NUMBER = re.compile(r"_take_(\d+)$")


@dataclass
class TakeRow:
    """What the Sequencer tab shows of one take."""

    strip_name: str
    prompt: str
    model: str
    seed: str
    quality: str
    seconds: float | None
    folder: Path | None
    missing: bool
    muted: bool
    qc: dict | None
    """The take's quality-check summary, once the engine writes one (take.json `qc`); None until then."""


def _record(strip) -> dict:
    value = strip.get(TAKE_PROPERTY)
    return value.to_dict() if hasattr(value, "to_dict") else {}


def _number(strip) -> int:
    match = _NUMBER.search(strip.name)
    return int(match.group(1)) if match else -1


def take_strips(scene) -> list:
    """The scene's take strips, newest (highest take number) first."""
    strips = [s for s in all_strips(scene) if TAKE_PROPERTY in s]
    return sorted(strips, key=lambda s: (_number(s), s.name), reverse=True)


def find_take(scene, name: str):
    strip = next((s for s in all_strips(scene) if s.name == name), None)
    return strip if strip is not None and TAKE_PROPERTY in strip else None


def take_folder(strip) -> Path | None:
    path = _record(strip).get("take")
    return Path(bpy.path.abspath(path)) if path else None


def strip_list(value) -> list[str]:
    """A list of names as stored on a strip: JSON text, the Python text of takes placed before that, or a real list."""
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    for parse in (json.loads, ast.literal_eval):
        try:
            parsed = parse(value)
        except (ValueError, SyntaxError):
            continue
        if isinstance(parsed, list):
            return [str(v) for v in parsed]
    return [name.strip() for name in str(value).split(",") if name.strip()]


def _lora_list(value) -> list[dict]:
    """The take's ``loras`` as stored on a strip (JSON text: a list of dicts is not an ID property)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return []
    return [entry for entry in value or () if isinstance(entry, dict)]


def take_row(strip) -> TakeRow:
    record = _record(strip)
    params, resolved = record.get("params", {}), record.get("resolved", {})
    folder = take_folder(strip)
    seconds = record.get("seconds")
    return TakeRow(
        strip_name=strip.name,
        prompt=str(params.get("prompt", "")),
        model=str(params.get("model", "") or record.get("model", {}).get("name", "")),
        seed=str(resolved.get("seed", params.get("seed", ""))),
        quality=str(params.get("quality", "final")),
        seconds=float(seconds) if isinstance(seconds, (int, float)) else None,
        folder=folder,
        missing=folder is None or not folder.is_dir(),
        muted=strip.mute,
        qc=record.get("qc"),
    )


def apply_settings(scene, strip) -> list[str]:
    """Copy the take's settings into the scene's, so the next Generate makes the same take again.

    Returns warnings: what could not be copied (a seed from before seeds were 32-bit)."""
    warnings = []
    settings = scene.neural_previs
    record = _record(strip)
    params, resolved, blender = record.get("params", {}), record.get("resolved", {}), record.get("settings", {})
    prompt = str(params.get("prompt", ""))
    if settings.prompt_text is not None:
        settings.prompt_text.from_string(prompt)
    else:
        settings.prompt = prompt
    settings.negative_prompt = str(params.get("negative_prompt", "") or "")
    settings.model = str(params.get("model", ""))
    seed = resolved.get("seed", params.get("seed"))
    if seed is not None and 0 <= int(seed) <= MAX_SEED:
        settings.seed = int(seed)
        settings.random_seed = False
    elif seed is not None:
        warnings.append(f"The take's seed {seed} is from before seeds were 32-bit and cannot be reused; the next take gets a new seed")
    settings.steps = int(resolved.get("steps") or params.get("steps") or 0)
    settings.guidance = float(resolved.get("guidance") or params.get("guidance") or 0.0)
    settings.mode = str(params.get("mode", "restyle"))
    settings.selective_collection = None
    settings.selective_objects = ", ".join(strip_list(params.get("objects", [])))
    settings.reference_image = str(params.get("reference") or "")
    if "quality" in params:
        settings.quality = str(params["quality"])
    if "conditioning_scale" in params:
        settings.conditioning_scale = float(params["conditioning_scale"])
    if "plate_from" in params:  # the take's set references become the scene's again
        settings.set_references.clear()
        for folder in strip_list(params.get("plate_from") or []):
            item = settings.set_references.add()
            item.name, item.folder = Path(folder).name, folder
    if "loras" in params:  # the take's LoRAs replace the scene's list
        settings.loras.clear()
        for entry in _lora_list(params["loras"]):
            lora = settings.loras.add()
            lora.path, lora.weight = str(entry.get("path", "")), float(entry.get("weight", 1.0))
    if settings.mode == "selective":
        source = blender.get("plate_source")
        if source == "TAKE" and find_take(scene, blender.get("plate_take", "")) is not None:
            settings.plate_source, settings.plate_take = "TAKE", blender["plate_take"]
        elif source == "RENDER":
            settings.plate_source = "RENDER"
        elif params.get("plate"):
            settings.plate_source, settings.plate_directory = "FOLDER", str(params["plate"])
    warnings += _apply_storyboard(scene, params)
    return warnings


def _apply_storyboard(scene, params: dict) -> list[str]:
    """The take's keyframes into the Keyframes list, its controls onto the objects (issue 15)."""
    warnings = []
    settings = scene.neural_previs
    raw = params.get("keyframes", [])
    entries = json.loads(raw) if isinstance(raw, str) else list(raw)
    settings.keyframes.clear()
    for entry in entries:
        item = settings.keyframes.add()
        item.frame, item.image, item.mode = int(entry["frame"]), str(entry["image"]), str(entry.get("mode", "exact"))
        if not Path(item.image).is_file():
            warnings.append(f"The keyframe image {item.image} (frame {item.frame}) is missing; choose it again in the Keyframes list")
    controls = params.get("controls", {})
    controls = controls.to_dict() if hasattr(controls, "to_dict") else dict(controls)
    for obj in scene.objects:
        obj.neural_previs_control = str(controls.get(obj.name_full, "depth"))
    return warnings


def use_as_plate(scene, strip) -> None:
    settings = scene.neural_previs
    settings.plate_source = "TAKE"
    settings.plate_take = strip.name


def use_as_set_reference(scene, strip) -> bool:
    """Make the take a set reference of the scene's next takes; False when it already is one (or has no folder)."""
    folder = take_folder(strip)
    if folder is None:
        return False
    folder = str(folder.absolute())
    references = scene.neural_previs.set_references
    if any(item.folder == folder for item in references):
        return False
    item = references.add()
    item.name, item.folder = strip.name, folder
    return True


def remove_set_reference(scene, index: int) -> str | None:
    """Remove the scene's set reference number ``index``; its name, or None when there is none."""
    references = scene.neural_previs.set_references
    if not 0 <= index < len(references):
        return None
    name = references[index].name
    references.remove(index)
    return name


def set_reference_rows(scene) -> list[tuple[str, str, bool]]:
    """(take name, folder, folder missing) of each set reference, in the order they win."""
    return [(item.name, item.folder, not Path(item.folder).is_dir()) for item in scene.neural_previs.set_references]


def show_only(scene, strip) -> list[str]:
    """Mute the other takes over this take's frames (only takes: the artist's own strips are left alone); returns their names."""
    start, end = strip.frame_final_start, strip.frame_final_end
    muted = []
    strip.mute = False
    for other in take_strips(scene):
        if other.name != strip.name and other.frame_final_start < end and other.frame_final_end > start:
            other.mute = True
            muted.append(other.name)
    return muted


def show_all(scene) -> None:
    for strip in take_strips(scene):
        strip.mute = False
