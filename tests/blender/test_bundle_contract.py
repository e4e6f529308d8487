"""The bundle's public format: shot.json fields, depth EXRs, id masks and camera.txt agree with each other."""

import bpy
import numpy as np
import pytest

import scenes
from bundle_io import frame_images, read_shot


@pytest.fixture
def shot_bundle(empty_scene, tmp_path):
    scene = empty_scene
    scene.render.resolution_x, scene.render.resolution_y = 120, 68
    scene.render.fps, scene.render.fps_base = 24000, 1001
    scene.frame_start, scene.frame_end, scene.frame_step = 1001, 1005, 2
    scenes.floor(scene)
    scenes.box(scene, "Crate", (0, 0, 0.5))
    scenes.uv_sphere(scene, "Ball", (1.2, 0.3, 0.4), radius=0.4)
    scenes.add_camera(scene, location=(4, -4, 2.5), target=(0, 0, 0.4))
    bundle = tmp_path / "bundle"
    assert bpy.ops.neural_previs.render_conditioning(directory=str(bundle)) == {"FINISHED"}
    return scene, bundle, read_shot(bundle)


def test_shot_json_describes_the_shot(shot_bundle):
    scene, bundle, shot = shot_bundle
    assert shot["schema"] == "neural_previs.bundle/1.1"
    assert (shot["width"], shot["height"]) == (120, 68)
    assert shot["fps"] == pytest.approx(23.976, abs=1e-3)
    assert [f["frame"] for f in shot["frames"]] == [1001, 1003, 1005]
    assert [o["name"] for o in shot["objects"]] == ["Ball", "Crate", "Floor"]
    assert [o["id"] for o in shot["objects"]] == [1, 2, 3]
    finite = np.concatenate([d[np.isfinite(d)] for d, _ in (frame_images(bundle, f) for f in shot["frames"])])
    assert shot["near"] == pytest.approx(float(finite.min()))
    assert shot["far"] == pytest.approx(float(finite.max()))


def test_depth_is_inf_exactly_where_the_mask_is_background(shot_bundle):
    _, bundle, shot = shot_bundle
    for record in shot["frames"]:
        depth, ids = frame_images(bundle, record)
        assert depth.shape == ids.shape == (68, 120)
        assert np.array_equal(np.isinf(depth), ids == 0)
        assert (ids == 0).any() and (ids > 0).any()
        assert np.isfinite(depth[ids > 0]).all() and (depth[ids > 0] > 0).all()


def test_camera_txt_matches_shot_json(shot_bundle):
    _, bundle, shot = shot_bundle
    lines = (bundle / "camera.txt").read_text().splitlines()
    assert lines[0] == shot["shot"]
    assert len(lines) == 1 + len(shot["frames"])
    for line, record in zip(lines[1:], shot["frames"]):
        values = np.array([float(x) for x in line.split()])
        K, w2c = np.array(record["K"]), np.array(record["world_to_camera"])
        assert values[0] == round((record["frame"] - 1001) / shot["fps"] * 1e6)
        assert values[1:5] == pytest.approx([K[0, 0] / 120, K[1, 1] / 68, K[0, 2] / 120, K[1, 2] / 68])
        assert values[7:] == pytest.approx(w2c[:3].ravel())


def test_rerender_of_an_unchanged_scene_gives_identical_masks(shot_bundle, tmp_path):
    _, bundle, shot = shot_bundle
    again = tmp_path / "again"
    assert bpy.ops.neural_previs.render_conditioning(directory=str(again)) == {"FINISHED"}
    shot_again = read_shot(again)
    assert shot_again["objects"] == shot["objects"]
    for a, b in zip(shot["frames"], shot_again["frames"]):
        assert (bundle / a["mask"]).read_bytes() == (again / b["mask"]).read_bytes()
        assert (bundle / a["depth"]).read_bytes() == (again / b["depth"]).read_bytes()


def test_rendering_into_an_earlier_bundle_replaces_it(shot_bundle):
    scene, bundle, _ = shot_bundle
    scene.frame_end = 1001
    assert bpy.ops.neural_previs.render_conditioning(directory=str(bundle)) == {"FINISHED"}
    assert [f["frame"] for f in read_shot(bundle)["frames"]] == [1001]
    assert sorted(p.name for p in (bundle / "depth").iterdir()) == ["001001.exr"]
    assert [p.name for p in bundle.parent.iterdir()] == ["bundle"]


def test_zip_depth_holds_the_same_values(shot_bundle, tmp_path):
    import OpenEXR

    _, bundle, shot = shot_bundle
    zipped = tmp_path / "zipped"
    assert bpy.ops.neural_previs.render_conditioning(directory=str(zipped), depth_compression="zip") == {"FINISHED"}
    for a, b in zip(shot["frames"], read_shot(zipped)["frames"]):
        with OpenEXR.File(str(zipped / b["depth"])) as exr:
            assert exr.header()["compression"] == OpenEXR.ZIP_COMPRESSION
        assert np.array_equal(frame_images(bundle, a)[0], frame_images(zipped, b)[0])
