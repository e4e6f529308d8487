"""Render a shot's conditioning bundle: planar depth, object-id masks and the camera path.

`ConditioningRender` works one frame per call of `render_next_frame()`, so the modal operator can
spread it over timer ticks (the UI stays live, Esc cancels) and the background path can loop it.
The only scene state it touches is the current frame and the scene camera (which marker
bindings switch); both are restored on success, failure and cancel. It creates no datablocks.
"""

from __future__ import annotations

from pathlib import Path

import bpy
import numpy as np

from . import camera_math, rig_pose
from .bundle_files import SCHEMA, BundleLocationError, BundleWriter, check_destination
from .camera_math import CameraMarker, CameraParams, UnsupportedCamera
from .gpu_raster import MAX_OBJECT_ID, DepthIdRasterizer
from .pose_keypoints import PoseMapError
from .object_motion import ObjectMotionRecorder
from .scene_geometry import candidate_owners, collect_frame_geometry


# Uncompressed depth costs no CPU time to write (the bundle renders ~25% faster on two cores, see
# benchmarks/conditioning.py); "zip" writes depth files about a third of the size, for archiving.
DEFAULT_DEPTH_COMPRESSION = "none"


class ConditioningError(Exception):
    """A problem the user can fix; the message is one actionable line."""


def render_size(render: bpy.types.RenderSettings) -> tuple[int, int]:
    """Output pixels after the resolution percentage, exactly as Blender computes them."""
    return render.resolution_x * render.resolution_percentage // 100, render.resolution_y * render.resolution_percentage // 100


def _camera_markers(scene: bpy.types.Scene) -> list[CameraMarker]:
    return [CameraMarker(m.frame, m.camera.name_full, m.camera.hide_render) for m in scene.timeline_markers if m.camera is not None]


def _camera_params(camera_obj: bpy.types.Object, render: bpy.types.RenderSettings) -> CameraParams:
    cam = camera_obj.data
    width, height = render_size(render)
    return CameraParams(
        camera_type=cam.type,
        lens_mm=cam.lens,
        sensor_width_mm=cam.sensor_width,
        sensor_height_mm=cam.sensor_height,
        sensor_fit=cam.sensor_fit,
        shift_x=cam.shift_x,
        shift_y=cam.shift_y,
        width=width,
        height=height,
        pixel_aspect_x=render.pixel_aspect_x,
        pixel_aspect_y=render.pixel_aspect_y,
        name=camera_obj.name_full,
    )


def shot_name(scene: bpy.types.Scene) -> str:
    blend = Path(bpy.data.filepath).stem if bpy.data.filepath else "untitled"
    return f"{blend}/{scene.name}"


class ConditioningRender:
    """One bundle render. Call begin(), then render_next_frame() until it returns False, then finish(); abort() on cancel."""

    def __init__(self, context: bpy.types.Context, directory: str, depth_compression: str = DEFAULT_DEPTH_COMPRESSION):
        self.scene = context.scene
        self.view_layer = context.view_layer
        self.directory = bpy.path.abspath(directory) if directory.startswith("//") else directory
        self._context = context
        self.depth_compression = depth_compression
        self._writer: BundleWriter | None = None
        self._rasterizer: DepthIdRasterizer | None = None
        self._saved_state = None
        self.frames: list[int] = []
        self.cameras: list[str] = []
        self._index = 0
        self._frame_records: list[dict] = []
        self._Ks: list[np.ndarray] = []
        self._world_to_cams: list[np.ndarray] = []
        self._near = np.inf
        self._far = 0.0
        self._static_triangles = {}

    @property
    def progress(self) -> tuple[int, int]:
        return self._index, len(self.frames)

    # -- set-up ---------------------------------------------------------------------------------

    def begin(self) -> None:
        """Check everything that can be checked before writing anything; raise ConditioningError if unfit."""
        scene = self.scene
        try:
            self.frames = camera_math.shot_frames(scene.frame_start, scene.frame_end, scene.frame_step)
        except ValueError as error:
            raise ConditioningError(str(error)) from None
        markers = _camera_markers(scene)
        scene_camera = scene.camera.name_full if scene.camera else None
        self.cameras = [camera_math.camera_at_frame(markers, frame, scene_camera) for frame in self.frames]
        self._objects = {obj.name_full: obj for obj in scene.objects}
        for frame, name in zip(self.frames, self.cameras):
            if name is None:
                raise ConditioningError(f"Scene '{scene.name}' has no camera; add one and make it the scene camera (Scene > Camera)")
            obj = self._objects.get(name)
            if obj is None or obj.type != "CAMERA":
                raise ConditioningError(f"'{name}', the camera at frame {frame}, is not a camera object in scene '{scene.name}'; bind a camera instead")
        for name in sorted(set(self.cameras)):
            try:
                camera_math.check_supported(_camera_params(self._objects[name], scene.render))
            except UnsupportedCamera as error:
                raise ConditioningError(str(error)) from None

        self.owners = candidate_owners(scene)
        if not self.owners:
            raise ConditioningError(f"Scene '{scene.name}' has no renderable objects; add geometry in front of the camera")
        if len(self.owners) > MAX_OBJECT_ID:
            raise ConditioningError(f"The scene has {len(self.owners)} renderable objects; object masks hold at most {MAX_OBJECT_ID}")
        self.owner_ids = {name: index + 1 for index, name in enumerate(self.owners)}
        try:
            self.characters = rig_pose.shot_characters(scene, self.owners)
        except PoseMapError as error:
            raise ConditioningError(str(error)) from None
        self._motion = ObjectMotionRecorder({name: self._objects[name] for name in self.owners}, self.owner_ids)

        try:
            destination = check_destination(self.directory)
        except ValueError as error:
            raise ConditioningError(str(error)) from None
        width, height = render_size(scene.render)
        self._saved_state = (scene.frame_current, scene.frame_subframe, scene.camera)
        try:
            self._rasterizer = DepthIdRasterizer(width, height)
            self._writer = BundleWriter(destination, depth_compression=self.depth_compression)
        except Exception as error:
            self._release()
            raise ConditioningError(str(error)) from None

    # -- per frame ------------------------------------------------------------------------------

    def render_next_frame(self) -> bool:
        """Render one frame; False once every frame is done."""
        if self._index >= len(self.frames):
            return False
        frame, camera_name = self.frames[self._index], self.cameras[self._index]
        scene = self.scene
        with self._writer.encoders.blender_evaluates():  # no encoder thread runs Python while Blender evaluates
            scene.frame_set(frame, subframe=0.0)
            depsgraph = self._context.evaluated_depsgraph_get()
        camera_eval = self._objects[camera_name].evaluated_get(depsgraph)
        params = _camera_params(camera_eval, scene.render)
        try:
            K = camera_math.intrinsics(params)
            world_to_cam = camera_math.world_to_camera(np.array(camera_eval.matrix_world))
        except UnsupportedCamera as error:
            raise ConditioningError(f"Frame {frame}: {error}") from None
        near, far = camera_eval.data.clip_start, camera_eval.data.clip_end
        geometry = collect_frame_geometry(depsgraph, self.owner_ids.keys(), self._static_triangles)
        depth, ids = self._rasterizer.render(geometry, self.owner_ids, K, world_to_cam, near, far)
        visible = np.isfinite(depth)
        if visible.any():
            self._near = min(self._near, float(depth[visible].min()))
            self._far = max(self._far, float(depth[visible].max()))
        record = {"frame": frame, "camera": camera_name}
        try:
            record.update(self._writer.add_frame(frame, depth, ids))
        except BundleLocationError as error:
            raise ConditioningError(str(error)) from None
        record["K"] = K.tolist()
        record["world_to_camera"] = world_to_cam.tolist()
        skeletons = rig_pose.frame_skeletons(
            self.characters, depsgraph, K, world_to_cam, depth, ids, self.owner_ids, geometry,
            lambda subset, region: self._rasterizer.render(subset, self.owner_ids, K, world_to_cam, near, far, region)[0],
        )
        record["skeletons"] = rig_pose.skeleton_records(self.characters, skeletons, self.owner_ids)
        if self.characters:
            record["pose"] = self._writer.add_pose(frame, skeletons, *render_size(scene.render))
        record["object_to_world"] = self._motion.frame_matrices(depsgraph, geometry)
        self._frame_records.append(record)
        self._Ks.append(K)
        self._world_to_cams.append(world_to_cam)
        self._index += 1
        return self._index < len(self.frames)

    # -- the end --------------------------------------------------------------------------------

    def finish(self) -> Path:
        """Write shot.json and camera.txt and publish the bundle; restores the scene either way."""
        scene = self.scene
        try:
            if not np.isfinite(self._near):
                first, last = self.frames[0], self.frames[-1]
                raise ConditioningError(
                    f"Nothing is in view of the camera over frames {first}..{last}; aim the camera at the geometry or check its clip range"
                )
            width, height = render_size(scene.render)
            fps = scene.render.fps / scene.render.fps_base
            name = shot_name(scene)
            shot = {
                "schema": SCHEMA,
                "shot": name,
                "width": width,
                "height": height,
                "fps": fps,
                "near": self._near,
                "far": self._far,
                "depth": {"kind": "planar", "units": "scene", "background": "inf"},
                "objects": [{"id": self.owner_ids[n], "name": n, **self._motion.object_fields(n)} for n in self.owners],
                "frames": self._frame_records,
                "source": {"blend": bpy.data.filepath, "scene": scene.name, "blender": bpy.app.version_string},
            }
            lines = [name] + camera_math.realestate10k_rows(self.frames, fps, self._Ks, self._world_to_cams, width, height)
            writer, self._writer = self._writer, None
            try:
                return writer.finish(shot, lines)
            except BundleLocationError as error:
                raise ConditioningError(str(error)) from None
        except BaseException:
            self.abort()
            raise
        finally:
            self._release()

    def abort(self) -> None:
        """Cancel: remove partial output and restore the scene."""
        if self._writer is not None:
            self._writer.abort()
            self._writer = None
        self._release()

    def _release(self) -> None:
        if self._rasterizer is not None:
            self._rasterizer.free()
            self._rasterizer = None
        if self._saved_state is not None:
            frame, subframe, camera = self._saved_state
            self._saved_state = None
            self.scene.frame_set(frame, subframe=subframe)
            if self.scene.camera != camera:
                self.scene.camera = camera


def render_bundle(context: bpy.types.Context, directory: str, on_frame=None, depth_compression: str = DEFAULT_DEPTH_COMPRESSION) -> Path:
    """Blocking render of the whole bundle (background mode, scripts)."""
    job = ConditioningRender(context, directory, depth_compression)
    job.begin()
    try:
        while job.render_next_frame():
            if on_frame:
                on_frame(*job.progress)
    except BaseException:
        job.abort()
        raise
    return job.finish()
