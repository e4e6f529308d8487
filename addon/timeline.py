"""Takes on the Video Sequence Editor: one image-sequence strip per take, placed without touching any other strip.

The strip starts at the take's first scene frame and shows one image per timeline frame, on the lowest
channel free over the take's whole range, named `<shot>_take_NNN` with NNN one past the highest take
number of that shot. The take's parameters ride along as the strip's custom properties.
"""

from __future__ import annotations

import json
import re

import bpy

from . import compat
from .take_files import Take, timeline_images

MAX_CHANNEL = 128
STRIP_PROPERTY = "neural_previs"


class TimelineError(Exception):
    """The take cannot be placed; the message is one actionable line."""


def lowest_free_channel(strips, first_frame: int, end_frame: int) -> int:
    """The lowest channel with no strip overlapping [first_frame, end_frame) (end exclusive)."""
    busy = {s.channel for s in strips if s.frame_final_start < end_frame and s.frame_final_end > first_frame}
    for channel in range(1, MAX_CHANNEL + 1):
        if channel not in busy:
            return channel
    raise TimelineError(f"Every channel is taken over frames {first_frame}..{end_frame - 1}; free a channel in the Sequencer")


def next_take_name(existing_names, shot: str) -> str:
    pattern = re.compile(rf"^{re.escape(shot)}_take_(\d+)$")
    numbers = [int(m.group(1)) for m in map(pattern.match, existing_names) if m]
    return f"{shot}_take_{max(numbers, default=0) + 1:03d}"


INT32 = range(-(2**31), 2**31)


def _id_property_value(value):
    """IDProperties hold str, 32-bit int, float, lists of numbers and dicts of those; other lists become
    JSON text, anything else a string, as does an int too large for 32 bits (a seed from before seeds
    were 32-bit)."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value if value in INT32 else str(value)
    if isinstance(value, (float, str)):
        return value
    if isinstance(value, dict):
        return {str(k): _id_property_value(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        if all(v in INT32 for v in value if isinstance(v, int)):
            return list(value)
    if isinstance(value, (list, tuple)):
        return json.dumps(list(value))  # e.g. object names; takes.strip_list() reads it back
    return str(value)


def _blend_relative(path: str) -> str:
    if not bpy.data.filepath:
        return path
    try:
        return bpy.path.relpath(path)
    except ValueError:  # another drive on Windows
        return path


def next_take_name_in_scene(scene: bpy.types.Scene) -> str:
    return next_take_name([s.name for s in compat.all_strips(scene)], scene.name)


def place_take(scene: bpy.types.Scene, take: Take, name: str, settings: dict | None = None):
    """Add the take as a new strip called `name`; returns it. Existing strips are never moved or changed.

    `settings`: the Blender-side choices that made it (plate source, random seed...), kept beside the
    take's own record so Apply Settings can restore them."""
    strips = compat.sequencer_strips(scene)
    images = timeline_images(take)
    first, end = take.first_frame, take.first_frame + len(images)
    channel = lowest_free_channel(list(strips), first, end)
    folder = images[0].parent
    if any(image.parent != folder for image in images):
        raise TimelineError(f"The take's frames are not all in one folder ({folder}); generate it again")
    strip = strips.new_image(name=name, filepath=_blend_relative(str(images[0])), channel=channel, frame_start=first, fit_method="ORIGINAL")
    for image in images[1:]:
        strip.elements.append(image.name)
    strip[STRIP_PROPERTY] = _id_property_value(
        {
            "take": _blend_relative(str(take.folder)),
            "first_frame": take.first_frame,
            "last_frame": take.last_frame,
            "params": take.record.get("params", {}),
            "resolved": take.record.get("resolved", {}),
            "model": take.record.get("model", {}),
            "engine_version": take.record.get("engine_version", ""),
            "created_utc": take.record.get("created_utc", ""),
            "seconds": take.record.get("timings_seconds", {}).get("total"),
            "qc": take.record.get("qc"),
            "settings": settings or {},
        }
    )
    return strip
