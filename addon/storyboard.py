"""Keyframes and per-object controls from Blender (issue 15): what the panel's lists send to the engine,
checked in the artist's words before anything renders, and the two ways to pin an image.

- The Keyframes list (scene setting `keyframes`: frame, image, mode) becomes the engine's `keyframes`.
- Each object's `neural_previs_control` (Object properties, and the list in the Neural Previs panel)
  becomes the engine's `controls` for the objects that are in the shot (depth, the default, is not sent).
- Pin Current Frame: the image of the take under the playhead, at the current frame (the Sequencer's tab).
- Pin Render: the current frame rendered with the scene's own engine and settings (`PlateRender`, which
  restores every setting it touches), the scene left as it was.
Images the add-on makes go to `<output folder>/<shot>/keyframes/`, never overwriting a file.
"""

from __future__ import annotations

import re
import shutil
import uuid
from pathlib import Path

import bpy

from .compat import all_strips
from .plate_render import PlateRender, PlateRenderError
from .takes import TAKE_PROPERTY


class StoryboardError(Exception):
    """A keyframe or control the artist must fix; one line naming the field."""


def keyframe_requests(settings) -> list[dict]:
    """The Keyframes list as the engine's `keyframes` (absolute image paths)."""
    return [{"frame": int(k.frame), "image": bpy.path.abspath(k.image) if k.image else "", "mode": k.mode} for k in settings.keyframes]


def shot_frames(scene) -> list[int]:
    return list(range(scene.frame_start, scene.frame_end + 1, max(1, scene.frame_step)))


def check_keyframes(entries: list[dict], frames: list[int]) -> None:
    """Raise StoryboardError for the first keyframe the engine would refuse, in the panel's words."""
    seen = set()
    for entry in entries:
        frame, image = entry["frame"], entry["image"]
        if frame not in frames:
            raise StoryboardError(f"The keyframe at frame {frame} is outside the shot (frames {frames[0]}-{frames[-1]}); "
                                  "change its Frame in the Keyframes list or remove it")
        if frame in seen:
            raise StoryboardError(f"Two keyframes are pinned at frame {frame}; remove one in the Keyframes list")
        seen.add(frame)
        if not image:
            raise StoryboardError(f"The keyframe at frame {frame} has no image; choose its Image in the Keyframes list")
        if not Path(image).is_file():
            raise StoryboardError(f"The keyframe image {image} (frame {frame}) does not exist; choose another Image in the Keyframes list")
        if not _readable_image(image):
            raise StoryboardError(f"The keyframe image {image} (frame {frame}) is not a readable image; "
                                  "choose a PNG or JPEG as its Image in the Keyframes list")


def _readable_image(path: str) -> bool:
    """Whether Blender's own image reader decodes the file (Blender's Python has no image library): loaded as a
    data-block of its own and removed at once, so the artist's file is left as it was."""
    try:
        image = bpy.data.images.load(path, check_existing=False)
    except RuntimeError:
        return False
    try:
        return image.size[0] > 0 and image.size[1] > 0
    finally:
        bpy.data.images.remove(image)


def scene_controls(scene) -> dict[str, str]:
    """Objects whose control is not the default depth, by name."""
    return {obj.name_full: obj.neural_previs_control for obj in scene.objects if obj.neural_previs_control != "depth"}


def controls_in_shot(controls: dict[str, str], owners, characters) -> dict[str, str]:
    """The controls of objects the bundle holds: rendered objects, and character armatures (by name)."""
    known = set(owners) | {character.armature.name_full for character in characters}
    return {name: control for name, control in controls.items() if name in known}


def check_poses(controls: dict[str, str], characters) -> None:
    """`pose` only for a character's armature or the geometry it drives."""
    posable = {c.armature.name_full for c in characters} | {name for c in characters for name in c.own}
    for name, control in sorted(controls.items()):
        if control == "pose" and name not in posable:
            raise StoryboardError(f"'{name}' is not driven by a rig Neural Previs recognises, so it has no pose; "
                                  "set its Neural Previs Control to Depth (Object properties)")


def keyframes_folder(output_root: Path, scene) -> Path:
    shot = re.sub(r"[^A-Za-z0-9._-]+", "_", scene.name).strip("._") or "shot"
    return output_root / shot / "keyframes"


def unique_file(folder: Path, stem: str, suffix: str = ".png") -> Path:
    """A file name in `folder` nothing has yet: `stem.png`, then `stem_2.png`, ..."""
    stem = re.sub(r"[^\w.-]+", "_", stem)
    candidate, number = folder / f"{stem}{suffix}", 1
    while candidate.exists():
        number += 1
        candidate = folder / f"{stem}_{number}{suffix}"
    return candidate


def add_keyframe(settings, frame: int, image: Path | str, mode: str = "exact"):
    """Pin `image` at `frame` (replacing the image of a keyframe already at that frame); returns the item."""
    item = next((k for k in settings.keyframes if k.frame == frame), None)
    if item is None:
        item = settings.keyframes.add()
        item.frame = frame
        item.mode = mode
    item.image = str(image)
    settings.keyframe_index = list(settings.keyframes).index(item)
    return item


def take_image_under_playhead(scene) -> Path:
    """The frame file of the topmost unmuted take covering the current frame."""
    frame = scene.frame_current
    covering = [s for s in all_strips(scene) if TAKE_PROPERTY in s and not s.mute and s.frame_final_start <= frame < s.frame_final_end]
    if not covering:
        raise StoryboardError(f"No take is under the playhead at frame {frame}; move the playhead over a take, or use Pin Render")
    strip = max(covering, key=lambda s: s.channel)
    element = strip.strip_elem_from_frame(frame)
    path = Path(bpy.path.abspath(strip.directory)) / element.filename if element is not None else None
    if path is None or not path.is_file():
        raise StoryboardError(f"The frame {frame} of take '{strip.name}' is missing on disk; generate the take again or pin another frame")
    return path


def pin_current_frame(scene, folder: Path) -> Path:
    """Copy the image of the take under the playhead into `folder` and pin it at the current frame."""
    source = take_image_under_playhead(scene)
    folder.mkdir(parents=True, exist_ok=True)
    target = unique_file(folder, f"{scene.name}_{scene.frame_current}_take")
    shutil.copyfile(source, target)
    add_keyframe(scene.neural_previs, scene.frame_current, target)
    return target


def render_current_frame(scene, folder: Path) -> Path:
    """The current frame rendered with the scene's own engine and settings, saved in `folder` (a new file)."""
    frame = scene.frame_current
    staging = folder / f".pin-render-{uuid.uuid4().hex[:8]}"
    render = PlateRender(scene, staging, [frame])
    try:
        render.begin()
        render.render_next_frame()
        published = render.finish()
    except PlateRenderError as error:
        render.abort()
        shutil.rmtree(staging, ignore_errors=True)
        raise StoryboardError(str(error).replace("the plate", "the keyframe").replace("plate", "keyframe")) from None
    try:
        target = unique_file(folder, f"{scene.name}_{frame}_render")
        next(published.iterdir()).rename(target)
    finally:
        shutil.rmtree(published, ignore_errors=True)
    return target


def pin_render(scene, folder: Path) -> Path:
    target = render_current_frame(scene, folder)
    add_keyframe(scene.neural_previs, scene.frame_current, target)
    return target
