"""Object motion in the bundle (schema 1.1): every object's world matrix per frame is Blender's own `matrix_world`,
and only objects whose whole evaluated geometry is fixed in their own space are rigid."""

import bpy
import numpy as np
import pytest

import scenes
from bundle_io import read_shot


def render(directory):
    assert bpy.ops.neural_previs.render_conditioning(directory=str(directory)) == {"FINISHED"}
    return read_shot(directory)


@pytest.fixture
def motion_bundle(empty_scene, tmp_path):
    rigid, deforming = scenes.motion_scene(empty_scene)
    shot = render(tmp_path / "bundle")
    return empty_scene, tmp_path / "bundle", shot, rigid, deforming


def test_matrices_are_blenders_matrix_world_on_every_frame(motion_bundle):
    scene, _, shot, rigid, deforming = motion_bundle
    assert shot["schema"] == "neural_previs.bundle/1.1"
    ids = {o["name"]: o["id"] for o in shot["objects"]}
    assert rigid | deforming <= set(ids)
    moved = set()
    for record in shot["frames"]:
        scene.frame_set(record["frame"])
        matrices = record["object_to_world"]
        assert set(matrices) == {str(i) for i in ids.values()}
        for name, object_id in ids.items():
            expected = np.array(scene.objects[name].matrix_world, dtype=np.float32)
            recorded = np.array(matrices[str(object_id)], dtype=np.float64)
            # Shortest float32 digits in the JSON: read back as float32 they are Blender's values bit for bit.
            assert np.array_equal(recorded.astype(np.float32), expected), f"{name} at frame {record['frame']}"
            if not np.array_equal(recorded, np.array(shot["frames"][0]["object_to_world"][str(object_id)])):
                moved.add(name)
    # Keyframes, a parent, constraints, a bone parent and an animated instancer all move their objects.
    assert {"Spinner", "Child", "Follower", "BoneRider", "Shelf", "Scatter"} <= moved


def test_rigid_only_where_the_whole_geometry_moves_with_the_matrix(motion_bundle):
    _, _, shot, rigid, deforming = motion_bundle
    by_name = {o["name"]: o for o in shot["objects"]}
    assert {n for n in rigid | deforming if by_name[n]["rigid"]} == rigid
    for name in rigid:
        assert by_name[name]["geometry_hash"].startswith("sha256:")
    for name in deforming:
        assert "geometry_hash" not in by_name[name]
        assert by_name[name]["deforms"]
    assert by_name["Sheet"]["deforms"] == "it is simulated (cloth)"
    assert by_name["Carousel"]["deforms"] == "its parts move relative to it"
    assert by_name["Blob"]["deforms"] == "its evaluated geometry changes between frames"


def test_the_engine_reads_the_motion(motion_bundle):
    _, bundle, shot, _, _ = motion_bundle
    from engine.formats.bundle import read_bundle

    read = read_bundle(bundle)
    ids = {o.name: o.id for o in read.objects}
    assert {name for name, i in ids.items() if read.motion.rigid[i]} == {o["name"] for o in shot["objects"] if o["rigid"]}
    spinner = ids["Spinner"]
    for index, record in enumerate(shot["frames"]):
        assert read.motion.object_to_world[index, spinner] == pytest.approx(np.array(record["object_to_world"][str(spinner)]))


def test_geometry_hash_names_the_same_geometry_in_another_bundle(motion_bundle, tmp_path):
    scene, _, shot, rigid, _ = motion_bundle
    first = {o["name"]: o.get("geometry_hash") for o in shot["objects"]}
    scene.frame_start = scene.frame_end = 1003  # another shot of the same scene: other poses, same shapes
    again = {o["name"]: o.get("geometry_hash") for o in render(tmp_path / "later")["objects"]}
    assert all(again[name] == first[name] for name in rigid)
    scene.objects["Bevelled"].data.vertices[0].co.x += 0.05  # the set was edited between the shots
    edited = {o["name"]: o.get("geometry_hash") for o in render(tmp_path / "edited")["objects"]}
    assert edited["Bevelled"] != first["Bevelled"]
    assert all(edited[name] == first[name] for name in rigid - {"Bevelled"})
