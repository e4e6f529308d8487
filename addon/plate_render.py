"""Render Plate: the scene's own frames, rendered with its render engine and settings, as a selective-mode plate.

`PlateRender` renders one frame per `render_next_frame()` call (the modal operator spreads the frames
over timer ticks; Esc is honoured between frames) into a hidden staging folder beside the take, and
publishes it as `<take>_plate/<frame>.png` only when every frame is there. Each frame is the scene's
own render (`render.render` of this scene, its engine, samples, colour management), saved as an 8-bit
RGB PNG. For the length of one frame's save the output format is PNG and the Sequencer is left out of
the render (the takes on the timeline must not render into their own plate); those settings, the
current frame and the scene camera are restored after every frame and on success, failure and cancel.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import bpy

from ..engine.formats.take import frame_file_name


class PlateRenderError(Exception):
    """The plate cannot be rendered; one actionable line."""


def _writable_settings(settings) -> dict:
    """Every plain value of an RNA struct (no pointers, no read-only fields)."""
    values = {}
    for prop in settings.bl_rna.properties:
        if prop.identifier == "rna_type" or prop.is_readonly or prop.type in {"POINTER", "COLLECTION"}:
            continue
        value = getattr(settings, prop.identifier)
        values[prop.identifier] = tuple(value) if getattr(prop, "is_array", False) else value
    return values


def _restore(settings, values: dict) -> None:
    # The format decides which depths, codecs and colour modes are valid: it goes back first.
    first = [name for name in ("media_type", "file_format") if name in values]
    for name in first + [name for name in values if name not in first]:
        if getattr(settings, name) != values[name]:
            setattr(settings, name, values[name])


def _render_result():
    return next((image for image in bpy.data.images if image.type == "RENDER_RESULT"), None)


class PlateRender:
    """begin(), render_next_frame() until it returns False, finish() → the plate folder; abort() on cancel or failure."""

    def __init__(self, scene: bpy.types.Scene, folder: Path, frames: list[int]):
        self.scene = scene
        self.folder = Path(folder)
        self.frames = list(frames)
        self._index = 0
        self._staging: Path | None = None
        self._saved_frame = None

    @property
    def progress(self) -> tuple[int, int]:
        return self._index, len(self.frames)

    def begin(self) -> None:
        if self.folder.exists():
            raise PlateRenderError(f"The plate folder {self.folder} already exists; plates are never overwritten")
        if self.scene.camera is None and not any(m.camera for m in self.scene.timeline_markers):
            raise PlateRenderError(f"Scene '{self.scene.name}' has no camera to render the plate with; add one")
        self.folder.parent.mkdir(parents=True, exist_ok=True)
        self._staging = self.folder.parent / f".{self.folder.name}.partial-{uuid.uuid4().hex[:8]}"
        self._staging.mkdir()
        self._saved_frame = (self.scene.frame_current, self.scene.frame_subframe, self.scene.camera)

    def render_next_frame(self) -> bool:
        """Render and save one frame; False once every frame is done."""
        if self._index >= len(self.frames):
            return False
        scene, frame = self.scene, self.frames[self._index]
        scene.frame_set(frame, subframe=0.0)
        image_settings = scene.render.image_settings
        saved_format, saved_sequencer = _writable_settings(image_settings), scene.render.use_sequencer
        try:
            scene.render.use_sequencer = False
            bpy.ops.render.render(write_still=False, scene=scene.name)
            result = _render_result()
            if result is None:
                raise PlateRenderError(f"Rendering frame {frame} of the plate gave no image; check the scene's render settings")
            if hasattr(image_settings, "media_type"):
                image_settings.media_type = "IMAGE"
            image_settings.file_format = "PNG"
            image_settings.color_mode = "RGB"
            image_settings.color_depth = "8"
            result.save_render(filepath=str(self._staging / frame_file_name(frame)), scene=scene)
        except RuntimeError as error:
            raise PlateRenderError(f"Rendering frame {frame} of the plate failed: {str(error).strip().splitlines()[-1]}") from None
        finally:
            _restore(image_settings, saved_format)
            scene.render.use_sequencer = saved_sequencer
        self._index += 1
        return self._index < len(self.frames)

    def finish(self) -> Path:
        """Publish the plate folder; the scene's frame and camera are restored either way."""
        try:
            self._staging.rename(self.folder)
            self._staging = None
            return self.folder
        finally:
            self.abort()

    def abort(self) -> None:
        if self._staging is not None:
            shutil.rmtree(self._staging, ignore_errors=True)
            self._staging = None
        if self._saved_frame is not None:
            frame, subframe, camera = self._saved_frame
            self._saved_frame = None
            self.scene.frame_set(frame, subframe=subframe)
            if self.scene.camera != camera:
                self.scene.camera = camera
