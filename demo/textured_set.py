"""A small set with view-independent colours, rendered for real: the oracle of reprojection and of the take score.

Every surface is an emission shader whose colour is a smooth function of the object's own coordinates, so a point
shows the same colour from every camera and carries its colour when its object moves. `render_true_frames` renders
it with Cycles as exactly as the bundle samples it: one sample through each pixel centre (the pixel filter as narrow
as Cycles allows), no bounces, the Standard view transform, no dither, 8-bit PNGs.

The set: a floor, a back wall and a pillar (static), a box that moves and turns (rigid), a box whose shape key grows
(deforming), and a camera that dollies and pans past the pillar, so surfaces appear and disappear behind it.
Used by the Blender tests and by `demo/qc_pictures.py` (the pictures of docs/engine.md).
"""

from __future__ import annotations

from pathlib import Path

import bpy
from mathutils import Vector

FIRST_FRAME, LAST_FRAME = 1001, 1006
RIGID_MOVER, DEFORMING = "Mover", "Blob"


def _link(scene, obj):
    scene.collection.objects.link(obj)
    return obj


def box(scene, name, location, size, material):
    sx, sy, sz = (s / 2 for s in size)
    mesh = bpy.data.meshes.new(name)
    vertices = [(x * sx, y * sy, z * sz) for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)]
    faces = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
    mesh.from_pydata(vertices, [], faces)
    mesh.materials.append(material)
    obj = _link(scene, bpy.data.objects.new(name, mesh))
    obj.location = location
    return obj


def _emission_material(coordinates_of: str = "Object") -> bpy.types.Material:
    """colour = 0.42 + 0.33 sin(k · coordinates): smooth (bilinear interpolation is exact to a level or so at a period
    of about ten pixels), view-independent, and never clipped by a +10 level brightening. "Object" coordinates stay
    with a rigid object; "Generated" ones (the undeformed mesh) also stay with the surface of a deforming one."""
    material = bpy.data.materials.new(f"ViewIndependent{coordinates_of}")
    material.use_nodes = True
    nodes, links = material.node_tree.nodes, material.node_tree.links
    nodes.clear()
    coordinates = nodes.new("ShaderNodeTexCoord")
    frequency = nodes.new("ShaderNodeVectorMath")
    frequency.operation = "MULTIPLY"
    frequency.inputs[1].default_value = (2.3, 3.1, 3.7)
    sine = nodes.new("ShaderNodeVectorMath")
    sine.operation = "SINE"
    level = nodes.new("ShaderNodeVectorMath")
    level.operation = "MULTIPLY_ADD"
    level.inputs[1].default_value = (0.33, 0.33, 0.33)
    level.inputs[2].default_value = (0.42, 0.42, 0.42)
    emission = nodes.new("ShaderNodeEmission")
    output = nodes.new("ShaderNodeOutputMaterial")
    links.new(coordinates.outputs[coordinates_of], frequency.inputs[0])
    links.new(frequency.outputs[0], sine.inputs[0])
    links.new(sine.outputs[0], level.inputs[0])
    links.new(level.outputs[0], emission.inputs["Color"])
    links.new(emission.outputs[0], output.inputs["Surface"])
    return material


def build_textured_set(scene: bpy.types.Scene, width: int = 64, height: int = 48, last_frame: int = LAST_FRAME) -> bpy.types.Scene:
    """Fill `scene` with the set; frames FIRST_FRAME..last_frame (the same moves, spread over the frames)."""
    scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage = width, height, 100
    scene.frame_start, scene.frame_end, scene.frame_step = FIRST_FRAME, last_frame, 1
    material = _emission_material()
    box(scene, "Floor", (0, 0, -0.05), (12, 12, 0.1), material)
    box(scene, "Wall", (0, 4, 1.5), (12, 0.2, 3), material)
    box(scene, "Pillar", (0.2, 0.6, 1.0), (0.6, 0.6, 2.0), material)

    mover = box(scene, RIGID_MOVER, (-1.6, -0.8, 0.6), (1.1, 0.9, 1.2), material)
    mover.keyframe_insert("location", frame=FIRST_FRAME)
    mover.keyframe_insert("rotation_euler", frame=FIRST_FRAME)
    mover.location, mover.rotation_euler = (-0.9, -1.2, 0.7), (0.0, 0.15, -0.7)
    mover.keyframe_insert("location", frame=last_frame)
    mover.keyframe_insert("rotation_euler", frame=last_frame)

    # Stretched sideways: its front stays in its plane, so only knowing that it deforms keeps its pixels out.
    blob = box(scene, DEFORMING, (1.6, -0.5, 0.45), (0.9, 0.9, 0.9), _emission_material("Generated"))
    blob.shape_key_add(name="Basis")
    stretched = blob.shape_key_add(name="Stretched")
    for vertex in stretched.data:
        vertex.co.x *= 1.5
    stretched.value = 0.0
    stretched.keyframe_insert("value", frame=FIRST_FRAME)
    stretched.value = 1.0
    stretched.keyframe_insert("value", frame=last_frame)

    camera = _link(scene, bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera")))
    camera.data.lens = 24
    scene.camera = camera
    for frame, location, target in [(FIRST_FRAME, (-2.2, -5.2, 2.4), (0.0, 0.5, 0.6)), (last_frame, (0.6, -4.8, 2.0), (0.3, 0.6, 0.8))]:
        camera.location = location
        camera.rotation_euler = (Vector(target) - Vector(location)).to_track_quat("-Z", "Y").to_euler()
        camera.keyframe_insert("location", frame=frame)
        camera.keyframe_insert("rotation_euler", frame=frame)

    world = bpy.data.worlds.new("Black")
    world.color = (0.0, 0.0, 0.0)
    if world.node_tree is not None:  # Blender 5.0 gives new worlds a grey Background node
        for node in world.node_tree.nodes:
            if node.type == "BACKGROUND":
                node.inputs["Strength"].default_value = 0.0
    scene.world = world
    return scene


def _exact_cycles(scene: bpy.types.Scene) -> None:
    scene.render.engine = "CYCLES"
    cycles = scene.cycles
    cycles.device = "CPU"
    cycles.samples = 1
    cycles.use_adaptive_sampling = False
    cycles.use_denoising = False
    cycles.pixel_filter_type = "BOX"
    cycles.filter_width = 0.01  # Cycles' minimum: the one sample lands within 0.005 px of the pixel centre
    cycles.max_bounces = 0
    scene.render.film_transparent = False
    scene.render.dither_intensity = 0.0
    view = scene.view_settings
    view.view_transform, view.look, view.exposure, view.gamma = "Standard", "None", 0.0, 1.0
    scene.display_settings.display_device = "sRGB"
    settings = scene.render.image_settings
    settings.file_format, settings.color_mode, settings.color_depth = "PNG", "RGB", "8"


def render_true_frames(scene: bpy.types.Scene, folder: Path) -> dict[int, Path]:
    """Render every frame of the shot with Cycles into `folder/<frame>.png`; the scene's frame is restored."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    _exact_cycles(scene)
    current = scene.frame_current
    paths = {}
    try:
        for frame in range(scene.frame_start, scene.frame_end + 1, scene.frame_step):
            scene.frame_set(frame)
            paths[frame] = folder / f"{frame:04d}.png"
            scene.render.filepath = str(paths[frame])
            bpy.ops.render.render(write_still=True)
    finally:
        scene.frame_set(current)
    return paths


def set_bundle_and_truth(folder: Path, width: int, height: int, last_frame: int) -> tuple[Path, dict]:
    """In a new empty file, the textured set's bundle (the installed extension's Render Conditioning) in
    ``folder/bundle`` and its true frames (Cycles) as RGB arrays by frame number."""
    import numpy as np
    from PIL import Image

    bpy.ops.wm.read_homefile(use_empty=True)
    scene = build_textured_set(bpy.context.scene, width, height, last_frame)
    directory = Path(folder) / "bundle"
    assert bpy.ops.neural_previs.render_conditioning(directory=str(directory)) == {"FINISHED"}
    paths = render_true_frames(scene, Path(folder) / "renders")
    return directory, {frame: np.asarray(Image.open(path).convert("RGB")) for frame, path in paths.items()}
