"""The user's scene is left exactly as it was, and bad input gets one clear line and writes nothing."""

import importlib

import bpy
import pytest

import scenes



@pytest.fixture
def conditioning(installed_extension):
    return importlib.import_module(f"{installed_extension}.addon.conditioning")


def fingerprint(scene):
    """Everything a render could plausibly change behind the user's back."""
    render = scene.render
    view_layer = bpy.context.view_layer
    view_layer.update()
    return {
        "render": (render.engine, render.filepath, render.resolution_x, render.resolution_y, render.resolution_percentage,
                   render.image_settings.file_format, render.use_compositing, render.use_sequencer, render.film_transparent),
        "frame": (scene.frame_current, scene.frame_subframe, scene.frame_start, scene.frame_end, scene.frame_step),
        "camera": scene.camera.name if scene.camera else None,
        "passes": {p: getattr(view_layer, p) for p in dir(view_layer) if p.startswith("use_pass_")},
        "compositor": scene.use_nodes,
        "selection": sorted(o.name for o in scene.objects if o.select_get()),
        "active": view_layer.objects.active.name if view_layer.objects.active else None,
        "matrices": {o.name: [tuple(r) for r in o.matrix_world] for o in scene.objects},
        "datablocks": {name: len(getattr(bpy.data, name)) for name in dir(bpy.data)
                       if isinstance(getattr(bpy.data, name, None), bpy.types.bpy_prop_collection)},
    }


@pytest.fixture
def layout(empty_scene):
    scene = empty_scene
    scene.render.resolution_x, scene.render.resolution_y = 64, 40
    scene.render.engine = "CYCLES"
    scene.render.filepath = "/tmp/user_render_####"
    scene.frame_start, scene.frame_end = 1, 6
    scenes.floor(scene)
    crate = scenes.box(scene, "Crate", (0, 0, 0.5))
    crate.keyframe_insert("location", frame=1)
    crate.location.x = 1.0
    crate.keyframe_insert("location", frame=6)
    scenes.add_camera(scene, location=(4, -4, 2.5), target=(0, 0, 0.4))
    scene.frame_set(3)
    crate.select_set(True)
    bpy.context.view_layer.objects.active = crate
    bpy.context.view_layer.use_pass_z = False
    return scene


def test_success_leaves_the_scene_as_it_was(layout, tmp_path):
    before = fingerprint(layout)
    assert bpy.ops.neural_previs.render_conditioning(directory=str(tmp_path / "b")) == {"FINISHED"}
    assert fingerprint(layout) == before


def test_cancel_mid_render_leaves_scene_and_disk_as_they_were(layout, tmp_path, conditioning):
    before = fingerprint(layout)
    job = conditioning.ConditioningRender(bpy.context, str(tmp_path / "b"))
    job.begin()
    assert job.render_next_frame() and job.render_next_frame()
    job.abort()
    assert fingerprint(layout) == before
    assert list(tmp_path.iterdir()) == []


def test_failure_after_rendering_leaves_scene_and_disk_as_they_were(layout, tmp_path):
    layout.camera.rotation_euler = (0, 0, 0)  # looking straight down from above at... nothing: z is below
    layout.camera.location = (0, 0, -5)
    before = fingerprint(layout)
    with pytest.raises(RuntimeError, match="Nothing is in view"):
        bpy.ops.neural_previs.render_conditioning(directory=str(tmp_path / "b"))
    assert fingerprint(layout) == before
    assert list(tmp_path.iterdir()) == []


def expect_refusal(tmp_path, fragment, directory=None):
    """Scripts get the operator's one-line error as a RuntimeError (Blender's rule for reported errors)."""
    target = directory or str(tmp_path / "deeper" / "bundle")
    listing = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(RuntimeError) as error:
        bpy.ops.neural_previs.render_conditioning(directory=target)
    message = str(error.value).strip()
    assert fragment in message and "\n" not in message and "Traceback" not in message
    assert sorted(p.name for p in tmp_path.iterdir()) == listing


def test_no_camera(empty_scene, tmp_path, conditioning):
    scenes.box(empty_scene, "Crate", (0, 0, 0))
    # poll refuses first, with its reason; a script that bypasses poll gets the operator's own line
    assert not bpy.ops.neural_previs.render_conditioning.poll()
    job = conditioning.ConditioningRender(bpy.context, str(tmp_path / "bundle"))
    with pytest.raises(conditioning.ConditioningError, match="no camera"):
        job.begin()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("camera_type, fragment", [("ORTHO", "orthographic"), ("PANO", "panoramic")])
def test_cameras_that_cannot_be_expressed(layout, tmp_path, camera_type, fragment):
    layout.camera.data.type = camera_type
    expect_refusal(tmp_path, fragment)


def test_non_square_pixels(layout, tmp_path):
    layout.render.pixel_aspect_x = 2.0
    expect_refusal(tmp_path, "square pixels")


def test_unwritable_folder(layout, tmp_path):
    (tmp_path / "a_file").write_text("x")
    expect_refusal(tmp_path, "writable", directory=str(tmp_path / "a_file" / "bundle"))


def test_folder_holding_other_files(layout, tmp_path):
    (tmp_path / "bundle").mkdir()
    (tmp_path / "bundle" / "notes.txt").write_text("mine")
    expect_refusal(tmp_path, "not empty", directory=str(tmp_path / "bundle"))
    assert (tmp_path / "bundle" / "notes.txt").read_text() == "mine"


def test_unsaved_blend_with_relative_folder(layout, tmp_path):
    assert bpy.data.filepath == ""
    expect_refusal(tmp_path, "not saved", directory="//bundle")


def test_scene_without_geometry(empty_scene, tmp_path):
    scenes.add_camera(empty_scene)
    expect_refusal(tmp_path, "no renderable objects")


def test_extension_disables_and_enables_cleanly(installed_extension):
    assert hasattr(bpy.types, "NEURAL_PREVIS_OT_render_conditioning")
    bpy.ops.preferences.addon_disable(module=installed_extension)
    assert not hasattr(bpy.types, "NEURAL_PREVIS_OT_render_conditioning")
    assert not hasattr(bpy.types.Scene, "neural_previs")
    bpy.ops.preferences.addon_enable(module=installed_extension)
    assert hasattr(bpy.types, "NEURAL_PREVIS_OT_render_conditioning")
