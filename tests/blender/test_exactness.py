"""The bundle is what Blender shows: depth, masks and camera against Embree ray casts and Blender's own projection."""

import bpy
import numpy as np
import pytest
from bpy_extras.object_utils import world_to_camera_view
from mathutils import Vector

import oracle
import scenes
from bundle_io import frame_images, read_shot


def render(tmp_path, name="bundle"):
    directory = tmp_path / name
    assert bpy.ops.neural_previs.render_conditioning(directory=str(directory)) == {"FINISHED"}
    return directory


def compare_with_raycast(scene, bundle, shot):
    owner_ids = {o["name"]: o["id"] for o in shot["objects"]}
    for record in shot["frames"]:
        scene.frame_set(record["frame"])
        depth, ids = frame_images(bundle, record)
        K, w2c = np.array(record["K"]), np.array(record["world_to_camera"])
        ray_depth, ray_ids = oracle.raycast_depth_and_ids(oracle.evaluated_depsgraph(), owner_ids, K, w2c, shot["width"], shot["height"])
        interior = oracle.interior_pixels(ray_ids)
        assert interior.mean() > 0.8
        id_agreement = (ids[interior] == ray_ids[interior]).mean()
        assert id_agreement >= 0.999, f"frame {record['frame']}: ids agree on {id_agreement:.5f} of interior pixels"
        hit = interior & (ray_ids > 0) & (ids == ray_ids)
        assert np.isinf(depth[interior & (ray_ids == 0)]).all()
        relative = np.abs(depth[hit] - ray_depth[hit]) / ray_depth[hit]
        assert relative.max() <= 1e-4, f"frame {record['frame']}: depth off by {relative.max():.2e} relative"
        yield record, ids


def test_depth_and_masks_match_ray_casts(empty_scene, tmp_path):
    scene = scenes.exactness_scene(empty_scene)
    bundle = render(tmp_path)
    shot = read_shot(bundle)
    assert [f["frame"] for f in shot["frames"]] == list(range(1001, 1007))
    names = {o["name"] for o in shot["objects"]}
    # Instances belong to the objects that make them; the hidden source object is not in the shot.
    assert {"ShelfInstance", "Scatter", "Walker", "Wall", "Table", "Pouf", "Floor", "Blob", "Twister", "Title", "Rail"} <= names
    assert not names & {"Pebble", "PropCrate", "PropBall", "Camera", "Ghost", "HiddenCrate"}
    seen = set()
    for record, ids in compare_with_raycast(scene, bundle, shot):
        seen |= set(np.unique(ids).tolist())
    by_name = {o["name"]: o["id"] for o in shot["objects"]}
    assert {by_name[n] for n in ("ShelfInstance", "Scatter", "Walker", "Blob", "Twister", "Title", "Rail")} <= seen


@pytest.mark.parametrize(
    "sensor_fit, resolution, percentage, shift",
    [
        ("AUTO", (160, 90), 100, (0.0, 0.0)),
        ("AUTO", (90, 160), 100, (0.1, 0.05)),
        ("HORIZONTAL", (90, 160), 50, (-0.08, 0.1)),
        ("VERTICAL", (161, 91), 100, (0.05, -0.1)),
        ("VERTICAL", (100, 150), 80, (0.0, 0.2)),
    ],
)
# world_to_camera_view measures the aspect before the resolution percentage, the render after it:
# the cases keep percentages that scale both sides exactly, where the two agree.
def test_camera_matches_blender_projection(empty_scene, tmp_path, sensor_fit, resolution, percentage, shift):
    scene = empty_scene
    scene.render.resolution_x, scene.render.resolution_y = resolution
    scene.render.resolution_percentage = percentage
    scene.frame_start = scene.frame_end = 7
    scenes.floor(scene)
    crate = scenes.box(scene, "Crate", (0.3, -0.2, 0.5))
    camera = scenes.add_camera(scene, location=(4, -5, 3), target=(0.3, -0.2, 0.5), lens=30)
    camera.data.sensor_fit = sensor_fit
    camera.data.sensor_width, camera.data.sensor_height = 36.0, 20.0
    camera.data.shift_x, camera.data.shift_y = shift
    camera.scale = (2.0, 2.0, 2.0)  # Blender renders scaled cameras unscaled
    bundle = render(tmp_path)
    shot = read_shot(bundle)
    width, height = shot["width"], shot["height"]
    assert (width, height) == (resolution[0] * percentage // 100, resolution[1] * percentage // 100)
    record = shot["frames"][0]
    K, w2c = np.array(record["K"]), np.array(record["world_to_camera"])
    rng = np.random.default_rng(3)
    for point in rng.uniform(-1.5, 1.5, size=(25, 3)):
        expected = world_to_camera_view(scene, camera, Vector(point))
        cam = w2c @ np.append(point, 1.0)
        u, v = (K @ cam[:3])[:2] / cam[2]
        assert u == pytest.approx(expected.x * width, abs=1e-3)
        assert v == pytest.approx((1.0 - expected.y) * height, abs=1e-3)
        assert cam[2] == pytest.approx(expected.z, rel=1e-6)
    # The crate's centre projects inside the crate's own mask.
    _, ids = frame_images(bundle, record)
    cam = w2c @ np.append(crate.matrix_world.translation, 1.0)
    u, v = (K @ cam[:3])[:2] / cam[2]
    crate_id = {o["name"]: o["id"] for o in shot["objects"]}["Crate"]
    assert ids[int(v), int(u)] == crate_id


def test_marker_bound_cameras_switch_per_frame(empty_scene, tmp_path):
    scene = empty_scene
    scene.render.resolution_x, scene.render.resolution_y = 64, 48
    scene.frame_start, scene.frame_end, scene.frame_step = 1, 9, 2
    scenes.floor(scene)
    scenes.box(scene, "Crate", (0, 0, 0.5))
    wide = scenes.add_camera(scene, "Wide", location=(6, -6, 4), target=(0, 0, 0.5), lens=24)
    close = scenes.add_camera(scene, "Close", location=(2, -2, 1.5), target=(0, 0, 0.5), lens=50, make_active=False)
    scene.timeline_markers.new("A", frame=3).camera = close
    scene.timeline_markers.new("B", frame=6).camera = wide
    camera_before = scene.camera
    render(tmp_path)
    shot = read_shot(tmp_path / "bundle")
    # Before the first marker Blender uses the earliest bound camera.
    assert [(f["frame"], f["camera"]) for f in shot["frames"]] == [(1, "Close"), (3, "Close"), (5, "Close"), (7, "Wide"), (9, "Wide")]
    for record in shot["frames"]:
        camera = scene.objects[record["camera"]]
        position = -np.array(record["world_to_camera"])[:3, :3].T @ np.array(record["world_to_camera"])[:3, 3]
        assert position == pytest.approx(np.array(camera.matrix_world.translation), abs=1e-6)
    assert scene.camera == camera_before
