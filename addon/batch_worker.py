"""The Blender side of a batch (engine/batch runs it), by a Python with the `bpy` module or by Blender itself:

    python batch_worker.py PACKAGE_ROOT COMMAND REQUEST_JSON
    blender -b --factory-startup --python batch_worker.py -- PACKAGE_ROOT COMMAND REQUEST_JSON

Commands: `inspect` (scenes and markers of .blend files), `condition` (render one shot's bundle),
`import` (put a take on a .blend's timeline and save it). The last stdout line starting with
RESULT_PREFIX carries the JSON answer; the exit code is 0 only on success. The add-on's own code
renders and imports, loaded from PACKAGE_ROOT without registering the add-on.
"""

import importlib.util
import json
import sys
import traceback

RESULT_PREFIX = "NEURAL_PREVIS_RESULT "


def _arguments() -> list[str]:
    argv = sys.argv
    return argv[argv.index("--") + 1 :] if "--" in argv else argv[1:]


def _load_package(root: str):
    spec = importlib.util.spec_from_file_location("neural_previs", f"{root}/__init__.py", submodule_search_locations=[root])
    package = importlib.util.module_from_spec(spec)
    sys.modules["neural_previs"] = package
    spec.loader.exec_module(package)
    return package


def _answer(result: dict) -> None:
    sys.stdout.write(RESULT_PREFIX + json.dumps(result) + "\n")
    sys.stdout.flush()


def _open(bpy, blend: str) -> None:
    bpy.ops.wm.open_mainfile(filepath=blend, load_ui=False)


def inspect(bpy, request: dict) -> dict:
    found = {}
    for blend in request["blends"]:
        try:
            _open(bpy, blend)
        except RuntimeError as error:
            found[blend] = {"error": str(error).strip().splitlines()[-1]}
            continue
        found[blend] = {
            "active_scene": bpy.context.scene.name,
            "scenes": {
                scene.name: {
                    "markers": {m.name: m.frame for m in scene.timeline_markers},
                    "frame_start": scene.frame_start,
                    "frame_end": scene.frame_end,
                    "fps": scene.render.fps / scene.render.fps_base,
                }
                for scene in bpy.data.scenes
            },
        }
    return {"ok": True, "blends": found}


def condition(bpy, request: dict) -> dict:
    from neural_previs.addon.conditioning import ConditioningError, render_bundle

    _open(bpy, request["blend"])
    scene = bpy.data.scenes[request["scene"]] if request.get("scene") else bpy.context.scene
    if request.get("frames"):
        start, end = request["frames"]
    elif request.get("markers"):
        frames = {m.name: m.frame for m in scene.timeline_markers}
        start, end = frames[request["markers"][0]], frames[request["markers"][1]]
    else:
        start, end = scene.frame_start, scene.frame_end
    # Only this process's copy of the file changes: the .blend on disk is never saved here.
    scene.frame_start, scene.frame_end = start, end
    with bpy.context.temp_override(scene=scene, view_layer=scene.view_layers[0]):
        try:
            render_bundle(bpy.context, request["bundle"])
        except ConditioningError as error:
            return {"ok": False, "message": str(error)}
    return {"ok": True, "first_frame": start, "last_frame": end, "fps": scene.render.fps / scene.render.fps_base}


def import_take(bpy, request: dict) -> dict:
    from neural_previs.addon.take_files import TakeFolderError, read_take
    from neural_previs.addon.timeline import TimelineError, next_take_name_in_scene, place_take

    _open(bpy, request["blend"])
    scene = bpy.data.scenes[request["scene"]] if request.get("scene") else bpy.context.scene
    try:
        strip = place_take(scene, read_take(request["take"]), next_take_name_in_scene(scene))
    except (TakeFolderError, TimelineError) as error:
        return {"ok": False, "message": str(error)}
    bpy.ops.wm.save_as_mainfile(filepath=request["save_as"], copy=False)
    return {"ok": True, "strip": strip.name, "blend": request["save_as"]}


COMMANDS = {"inspect": inspect, "condition": condition, "import": import_take}


def main() -> int:
    root, command, request = _arguments()[:3]
    _load_package(root)
    import bpy

    try:
        result = COMMANDS[command](bpy, json.loads(request))
    except Exception as error:  # reported as one line; the traceback stays on stderr for the log
        traceback.print_exc()
        result = {"ok": False, "message": f"{type(error).__name__}: {error}"}
    _answer(result)
    return 0 if result.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())
