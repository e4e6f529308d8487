"""The night's work as an OpenTimelineIO timeline: one clip per completed take, in shot-list order."""

from __future__ import annotations

import json
from pathlib import Path

from ..formats.shotlist import ShotList
from ..qc.report import read_qc_summary


def write_otio(shot_list: ShotList, completed: list[str], path: Path) -> Path:
    """Write `takes.otio`: each completed take as an image-sequence clip at its frame range and rate."""
    import opentimelineio as otio

    timeline = otio.schema.Timeline(name=shot_list.path.stem)
    track = otio.schema.Track(name="takes", kind=otio.schema.TrackKind.Video)
    timeline.tracks.append(track)
    for shot in shot_list.shots:
        if shot.name not in completed:
            continue
        record = json.loads((shot.take / "take.json").read_text(encoding="utf-8"))
        fps = float(record["bundle"]["fps"])
        frames = [entry["frame"] for entry in record["frames"]]
        first, last = min(frames), max(frames)
        media = otio.schema.ImageSequenceReference(
            target_url_base=(shot.take / "frames").as_uri() + "/",
            name_prefix="",
            name_suffix=".png",
            start_frame=first,
            frame_step=1,
            rate=fps,
            frame_zero_padding=4,
            available_range=otio.opentime.TimeRange(otio.opentime.RationalTime(first, fps), otio.opentime.RationalTime(last - first + 1, fps)),
        )
        clip = otio.schema.Clip(
            name=shot.name,
            media_reference=media,
            source_range=otio.opentime.TimeRange(otio.opentime.RationalTime(first, fps), otio.opentime.RationalTime(last - first + 1, fps)),
        )
        clip.metadata["neural_previs"] = {"take": str(shot.take), "prompt": record.get("params", {}).get("prompt", ""), "seed": record.get("resolved", {}).get("seed")}
        qc = read_qc_summary(shot.take)
        if qc is not None:  # the consistency score (engine.qc): consistency_mean, consistency_max, flicker_max, worst_frames
            clip.metadata["neural_previs"]["qc"] = qc
        track.append(clip)
    path.parent.mkdir(parents=True, exist_ok=True)
    otio.adapters.write_to_file(timeline, str(path))
    return path
