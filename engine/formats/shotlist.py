"""The shot list: a TOML file naming shots to render and generate. Pure Python: no bpy, no torch, no Ray.

    [defaults]
    model = "tiny-random"     # and any generation parameter: steps, guidance, seed, negative_prompt, ...
    loras = ["loras/ink.safetensors:0.8"]   # or [{path = "...", weight = 0.8}]; files relative to this file
    out = "takes"             # output root, relative to this file

    [[shots]]
    name = "sh010"
    blend = "seq01.blend"
    scene = "Scene"           # optional: the file's active scene
    frames = [1001, 1024]     # optional; or markers = ["sh010_in", "sh010_out"]; default: the scene's range
    prompt = "a rainy neon street at night"
    plate_from = ["sh005"]    # optional: shots of this list whose takes are this shot's set reference
                              # (generated first; their surfaces are kept exactly, see --plate-from)

Every problem is collected before anything runs, so a night's list is fixed in one go.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import EngineError
from .lora_entries import normalize_loras
from .params import GenerateParams

PARAM_KEYS = {f.name for f in dataclasses.fields(GenerateParams)}
DEFAULT_KEYS = PARAM_KEYS | {"out", "scene"}
SHOT_KEYS = PARAM_KEYS | {"name", "blend", "scene", "frames", "markers", "out"}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class ShotListError(EngineError):
    """The shot list cannot run; carries every problem found."""

    kind = "shot_list"

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__(f"{len(self.problems)} problem(s) in the shot list: " + "; ".join(self.problems))


@dataclass
class Shot:
    name: str
    blend: Path
    scene: str | None
    frames: tuple[int, int] | None
    markers: tuple[str, str] | None
    params: GenerateParams
    out: Path  # this shot's folder: holds bundle/ and take/
    # issue 16 §4: shots of the list whose takes this shot keeps the set from (``params.plate_from`` holds their takes)
    plate_from: tuple[str, ...] = ()

    @property
    def bundle(self) -> Path:
        return self.out / "bundle"

    @property
    def take(self) -> Path:
        return self.out / "take"


@dataclass
class ShotList:
    path: Path
    out: Path
    shots: list[Shot] = field(default_factory=list)

    def schedule(self) -> list[Shot]:
        """The shots in list order, except that a shot's set references (``plate_from``) come before it."""
        by_name = {shot.name: shot for shot in self.shots}
        ordered: list[Shot] = []
        placed: set[str] = set()

        def place(shot: Shot) -> None:
            if shot.name in placed:
                return
            placed.add(shot.name)
            for name in shot.plate_from:
                place(by_name[name])
            ordered.append(shot)

        for shot in self.shots:
            place(shot)
        return ordered


def _check_keys(table: dict, allowed: set, where: str, problems: list[str]) -> None:
    for key in sorted(set(table) - allowed):
        problems.append(f"{where}: unknown key '{key}'")


def _pair(value, kind, where: str, what: str, problems: list[str]):
    if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, kind) and not isinstance(v, bool) for v in value)):
        problems.append(f"{where}: '{what}' must be a list of two {'whole numbers' if kind is int else 'strings'}")
        return None
    return tuple(value)


def load_shot_list(path: str | Path) -> ShotList:
    """Parse and check the list (everything that needs no .blend opened); raises ShotListError with all problems."""
    path = Path(path).expanduser().absolute()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ShotListError([f"{path} does not exist"]) from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ShotListError([f"{path} is not valid TOML ({error})"]) from None
    problems: list[str] = []
    _check_keys(data, {"defaults", "shots"}, "top level", problems)
    defaults = data.get("defaults", {})
    if not isinstance(defaults, dict):
        problems.append("[defaults] must be a table")
        defaults = {}
    _check_keys(defaults, DEFAULT_KEYS, "[defaults]", problems)
    shots_data = data.get("shots")
    if not isinstance(shots_data, list) or not shots_data:
        problems.append("no [[shots]]: the list has nothing to do")
        shots_data = []
    root = path.parent
    shot_list = ShotList(path=path, out=(root / str(defaults.get("out", "takes"))).resolve())
    seen_names: dict[str, int] = {}
    for index, shot_data in enumerate(shots_data, start=1):
        where = f"shot {index}"
        if not isinstance(shot_data, dict):
            problems.append(f"{where}: must be a table")
            continue
        name = shot_data.get("name")
        if isinstance(name, str) and name:
            where = f"shot '{name}'"
        _check_keys(shot_data, SHOT_KEYS, where, problems)
        if not isinstance(name, str) or not _NAME.match(name):
            problems.append(f"{where}: 'name' must be a name of letters, digits, '.', '_' or '-' (it names the output folder)")
            continue
        if name in seen_names:
            problems.append(f"{where}: the name is used by shot {seen_names[name]} too")
        seen_names.setdefault(name, index)
        merged = {**defaults, **shot_data}
        blend_value = merged.get("blend")
        blend = None
        if not isinstance(blend_value, str) or not blend_value:
            problems.append(f"{where}: 'blend' is missing")
        else:
            blend = (root / blend_value).resolve()
            if not blend.is_file():
                problems.append(f"{where}: {blend} does not exist")
        frames = markers = None
        if "frames" in merged and "markers" in merged:
            problems.append(f"{where}: give 'frames' or 'markers', not both")
        elif "frames" in merged:
            frames = _pair(merged["frames"], int, where, "frames", problems)
            if frames and frames[0] > frames[1]:
                problems.append(f"{where}: frames {frames[0]}..{frames[1]} run backwards")
        elif "markers" in merged:
            markers = _pair(merged["markers"], str, where, "markers", problems)
        scene = merged.get("scene")
        if scene is not None and not isinstance(scene, str):
            problems.append(f"{where}: 'scene' must be a string")
        references = merged.pop("plate_from", [])
        if not (isinstance(references, list) and all(isinstance(r, str) and r for r in references)):
            problems.append(f"{where}: 'plate_from' must be a list of shot names of this list, e.g. [\"sh010\"]")
            references = []
        params = _params(merged, where, problems, root)
        out = (root / str(merged.get("out", defaults.get("out", "takes")))).resolve() / name
        if blend is not None and params is not None:
            shot_list.shots.append(Shot(name, blend, scene, frames, markers, params, out, tuple(dict.fromkeys(references))))
    _resolve_plate_from(shot_list.shots, problems)
    _check_output_overlaps(shot_list.shots, problems)
    if problems:
        raise ShotListError(problems)
    return shot_list


def _loras_beside(loras, root: Path):
    """LoRA files named relative to the shot list, made absolute where the file is there."""
    if not isinstance(loras, list):
        return loras
    placed = []
    for entry in loras:
        path = entry.get("path") if isinstance(entry, dict) else None
        if isinstance(path, str) and path and not Path(path).expanduser().is_absolute() and (root / path).is_file():
            entry = {**entry, "path": str((root / path).resolve())}
        placed.append(entry)
    return placed


def _params(merged: dict, where: str, problems: list[str], root: Path) -> GenerateParams | None:
    values = {key: merged[key] for key in PARAM_KEYS if key in merged}
    if root is not None and isinstance(values.get("keyframes"), list):  # keyframe images resolve like the list's other paths
        values["keyframes"] = [
            {**entry, "image": str((root / Path(entry["image"]).expanduser()).resolve())}
            if isinstance(entry, dict) and isinstance(entry.get("image"), str) and entry["image"] else entry
            for entry in values["keyframes"]
        ]
    if isinstance(values.get("objects"), str):
        values["objects"] = [name.strip() for name in values["objects"].split(",") if name.strip()]
    if not values.get("prompt"):
        problems.append(f"{where}: 'prompt' is missing")
        return None
    if "loras" in values:  # "PATH:WEIGHT" strings too; relative files are relative to the shot list
        values["loras"] = _loras_beside(normalize_loras(values["loras"]), root)
    try:
        params = GenerateParams(**values)
        params.check()
    except EngineError as error:
        problems.append(f"{where}: {error}")
        return None
    except TypeError as error:
        problems.append(f"{where}: {error}")
        return None
    return params


def _resolve_plate_from(shots: list[Shot], problems: list[str]) -> None:
    """``plate_from`` names shots of this list: each becomes that shot's take folder; unknown names and cycles are problems."""
    by_name = {shot.name: shot for shot in shots}
    for shot in shots:
        unknown = [name for name in shot.plate_from if name not in by_name]
        for name in unknown:
            problems.append(f"shot '{shot.name}': plate_from names '{name}', which is not a shot of this list")
        shot.plate_from = tuple(name for name in shot.plate_from if name in by_name)
        shot.params.plate_from = [str(by_name[name].take) for name in shot.plate_from]
    reported: set[str] = set()
    for start in shots:
        cycle = _find_cycle(start.name, by_name)
        if cycle and not reported & set(cycle):
            reported |= set(cycle)
            problems.append(f"shots {' -> '.join(repr(name) for name in cycle)} take their set from each other in a circle: "
                            "one of them must be generated without plate_from")


def _find_cycle(start: str, by_name: dict[str, Shot]) -> list[str] | None:
    """A chain of plate_from references from ``start`` back to itself, or None."""
    stack = [(start, [start])]
    seen: set[str] = set()
    while stack:
        name, path = stack.pop()
        for reference in by_name[name].plate_from:
            if reference == start:
                return path + [start]
            if reference not in seen:
                seen.add(reference)
                stack.append((reference, path + [reference]))
    return None


def _check_output_overlaps(shots: list[Shot], problems: list[str]) -> None:
    for i, a in enumerate(shots):
        for b in shots[i + 1 :]:
            if a.out == b.out or a.out in b.out.parents or b.out in a.out.parents:
                problems.append(f"shots '{a.name}' and '{b.name}' write into overlapping folders ({a.out}, {b.out})")


def check_against_blends(shot_list: ShotList, inspected: dict[str, dict]) -> None:
    """Second stage, with what each .blend holds ({blend: {"active_scene", "scenes": {name: {"markers": {...}}}}})."""
    problems = []
    for shot in shot_list.shots:
        info = inspected.get(str(shot.blend))
        if info is None:
            continue
        if "error" in info:
            problems.append(f"shot '{shot.name}': {shot.blend} cannot be opened ({info['error']})")
            continue
        scene_name = shot.scene or info["active_scene"]
        scene = info["scenes"].get(scene_name)
        if scene is None:
            problems.append(f"shot '{shot.name}': no scene '{scene_name}' in {shot.blend.name} (it has {', '.join(sorted(info['scenes']))})")
            continue
        if shot.markers:
            found = scene["markers"]
            for marker in shot.markers:
                if marker not in found:
                    problems.append(f"shot '{shot.name}': no marker '{marker}' in scene '{scene_name}' of {shot.blend.name}")
            if all(m in found for m in shot.markers) and found[shot.markers[0]] > found[shot.markers[1]]:
                problems.append(f"shot '{shot.name}': marker '{shot.markers[0]}' comes after '{shot.markers[1]}'")
    if problems:
        raise ShotListError(problems)


def check_outputs_free(shot_list: ShotList, resume: bool) -> None:
    """Nothing is ever overwritten: without --resume, existing takes are refused up front."""
    if resume:
        return
    taken = [shot for shot in shot_list.shots if shot.take.exists()]
    if taken:
        raise ShotListError([f"shot '{shot.name}': {shot.take} exists; use --resume to skip finished shots, or another out" for shot in taken])
