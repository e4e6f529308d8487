"""Rasterise planar depth and object ids with Blender's own GPU module, one offscreen pass per frame.

Why rasterise: the GPU (or Mesa's llvmpipe on a headless CPU machine) samples exactly at pixel
centres, so a projection built from K reproduces the pinhole camera of the bundle, and a 20k-face
frame costs milliseconds where a Cycles render of the same passes costs hundreds.

The fragment shader writes camera-space z (perspective-correct, so exact on planar triangles) and
the owner's id into a float32 target; the depth test uses a *linear* depth so that precision is
uniform over the clip range instead of collapsing far from the camera.
"""

from __future__ import annotations

import bpy
import gpu
import numpy as np
from gpu_extras.batch import batch_for_shader
from mathutils import Matrix

from .camera_math import opengl_projection
from .scene_geometry import FrameGeometry

MAX_OBJECT_ID = 65535  # masks are 16-bit PNGs


class GPUUnavailable(RuntimeError):
    """Blender has no GPU backend to draw with in this process."""


def _gpu_drawing_available() -> bool:
    try:
        gpu.types.GPUOffScreen(1, 1)
    except SystemError:
        return False
    return True


def ensure_gpu_ready() -> None:
    """Make Blender's GPU module usable, also in background mode.

    In background mode Blender initialises its GPU backend lazily, the first time a render needs
    it, and until then the gpu module refuses to draw. A one-pixel Workbench render of a throw-away
    scene starts it; every datablock that render creates is removed again.
    """
    if _gpu_drawing_available():
        return
    if not bpy.app.background:
        raise GPUUnavailable("Blender's GPU drawing is unavailable; Neural Previs needs an OpenGL or Vulkan capable GPU")
    images_before = set(bpy.data.images.keys())
    scene = bpy.data.scenes.new(".neural_previs_gpu_start")
    camera_data = bpy.data.cameras.new(".neural_previs_gpu_start")
    camera = bpy.data.objects.new(".neural_previs_gpu_start", camera_data)
    try:
        scene.collection.objects.link(camera)
        scene.camera = camera
        scene.render.engine = "BLENDER_WORKBENCH"
        scene.render.resolution_x = scene.render.resolution_y = 1
        bpy.ops.render.render(scene=scene.name)
    except RuntimeError as error:
        raise GPUUnavailable(f"Blender could not start its GPU backend in background mode ({error}); check the EGL/GPU drivers") from None
    finally:
        bpy.data.objects.remove(camera)
        bpy.data.cameras.remove(camera_data)
        bpy.data.scenes.remove(scene)
        for name in set(bpy.data.images.keys()) - images_before:
            bpy.data.images.remove(bpy.data.images[name])
    if not _gpu_drawing_available():
        raise GPUUnavailable("Blender's GPU drawing is unavailable in background mode; check the EGL/GPU drivers")


_VERTEX_SOURCE = """
void main()
{
  vec4 position_h = vec4(position, 1.0);
  view_z = dot(model_to_depth, position_h);
  gl_Position = model_to_clip * position_h;
}
"""

_FRAGMENT_SOURCE = """
void main()
{
  /* Linear depth for the depth test: uniform precision across the clip range. */
  gl_FragDepth = clamp((view_z - clip_range.x) / (clip_range.y - clip_range.x), 0.0, 1.0);
  out_depth_id = vec4(view_z, object_id, 0.0, 1.0);
}
"""


def _create_shader() -> gpu.types.GPUShader:
    info = gpu.types.GPUShaderCreateInfo()
    info.push_constant("MAT4", "model_to_clip")
    info.push_constant("VEC4", "model_to_depth")
    info.push_constant("VEC2", "clip_range")
    info.push_constant("FLOAT", "object_id")
    info.vertex_in(0, "VEC3", "position")
    interface = gpu.types.GPUStageInterfaceInfo("neural_previs_depth_id")
    interface.smooth("FLOAT", "view_z")
    info.vertex_out(interface)
    info.fragment_out(0, "VEC4", "out_depth_id")
    if hasattr(info, "depth_write"):
        info.depth_write("ANY")
    info.vertex_source(_VERTEX_SOURCE)
    info.fragment_source(_FRAGMENT_SOURCE)
    return gpu.shader.create_from_info(info)


class DepthIdRasterizer:
    """Owns the offscreen target and shader for one conditioning render; call free() when done."""

    def __init__(self, width: int, height: int):
        ensure_gpu_ready()
        self.width, self.height = width, height
        self._shader = _create_shader()
        self._static_batches = {}  # GPU copies of static meshes, uploaded once per render
        try:
            self._offscreen = gpu.types.GPUOffScreen(width, height, format="RGBA32F")
        except Exception as error:  # the GPU module raises plain Exceptions for size limits
            raise GPUUnavailable(f"Cannot allocate a {width}x{height} float offscreen target ({error}); lower the resolution") from None

    def free(self) -> None:
        self._static_batches.clear()
        if self._offscreen is not None:
            self._offscreen.free()
            self._offscreen = None

    def render(self, geometry: FrameGeometry, owner_ids: dict[str, int], K: np.ndarray, world_to_cam: np.ndarray, near: float, far: float, region=None) -> tuple[np.ndarray, np.ndarray]:
        """Planar depth (H, W) float32 with +inf background, and ids (H, W) uint16 with 0 background; row 0 on top.

        `region` (col0, row0, col1, row1, inclusive) draws and reads back only those pixels (a scissor: the
        rest reads as background), for callers that need a few pixels of a frame.
        """
        col0, row0, col1, row1 = region if region is not None else (0, 0, self.width - 1, self.height - 1)
        width, height = col1 - col0 + 1, row1 - row0 + 1
        gl_y = self.height - 1 - row1  # GL counts rows from the bottom
        projection = opengl_projection(K, self.width, self.height, near, far)
        world_to_clip = projection @ world_to_cam
        batches = {}
        for key, triangles in geometry.meshes.items():
            batch = self._static_batches.get(key)
            if batch is None:
                batch = batch_for_shader(self._shader, "TRIS", {"position": triangles.positions}, indices=triangles.indices)
                if geometry.is_static(key):
                    self._static_batches[key] = batch
            batches[key] = batch
        shader = self._shader
        with self._offscreen.bind():
            framebuffer = gpu.state.active_framebuffer_get()
            if region is not None:
                gpu.state.scissor_test_set(True)
                gpu.state.scissor_set(col0, gl_y, width, height)
            framebuffer.clear(color=(0.0, 0.0, 0.0, 0.0), depth=1.0)
            gpu.state.depth_test_set("LESS_EQUAL")
            gpu.state.depth_mask_set(True)
            gpu.state.face_culling_set("NONE")
            gpu.state.blend_set("NONE")
            shader.bind()
            shader.uniform_float("clip_range", (near, far))
            for key, owner_name, object_to_world in geometry.instances:
                shader.uniform_float("model_to_clip", Matrix((world_to_clip @ object_to_world).tolist()))
                shader.uniform_float("model_to_depth", (world_to_cam @ object_to_world)[2].tolist())
                shader.uniform_float("object_id", float(owner_ids[owner_name]))
                batches[key].draw(shader)
            pixels = framebuffer.read_color(col0, gl_y, width, height, 2, 0, "FLOAT")
            gpu.state.depth_test_set("NONE")
            gpu.state.depth_mask_set(False)
            if region is not None:
                gpu.state.scissor_test_set(False)
        # The Buffer's numpy view has reversed strides; 'K' order walks it in memory order (rows bottom-up).
        depth_id = np.asarray(pixels).ravel(order="K").reshape(height, width, 2)[::-1]
        if region is not None:
            block, depth_id = depth_id, np.zeros((self.height, self.width, 2), dtype=np.float32)
            depth_id[row0 : row1 + 1, col0 : col1 + 1] = block
        ids = depth_id[..., 1].astype(np.uint16)
        depth = depth_id[..., 0].copy()
        depth[ids == 0] = np.inf
        return depth, ids
