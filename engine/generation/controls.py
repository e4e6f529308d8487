"""A control per object: what each object's region of the control video shows (the lowest layer).

``depth`` (the default, every object and the background): the shot's inverse depth. ``pose``: the
character's skeleton (the bundle's ``pose/<frame>.png``, drawn as VACE's pose annotator draws) over
its region, black around the limbs as in VACE's pose training videos. ``keep``: the plate's pixels,
mask black, and the plate put back after decoding, as selective mode keeps what it does not select.

A posed character's region is its own geometry's id mask (the ids its skeleton names: the meshes
its armature deforms or carries) grown by ``POSE_MARGIN_PX`` pixels (a square), plus a square of
that size around each of its visible keypoints, so hands and feet that stick out of a proxy mesh
still show. Composed per pixel: pose regions over depth; kept regions are cut out of what the model
generates (``kept_region``).

numpy only at import (PIL for the dilation); ``check_controls`` is pure Python (the add-on uses it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import ParamsError

CONTROLS = ("depth", "pose", "keep")
#: How far a posed character's region reaches beyond its id mask and its keypoints, in bundle pixels.
POSE_MARGIN_PX = 6


def check_controls(controls, plate) -> None:
    """Raise ``ParamsError`` for a malformed ``controls`` map, or ``keep`` without a plate."""
    if not isinstance(controls, dict):
        raise ParamsError('controls must map object names to depth, pose or keep, e.g. {"Hero": "pose"}')
    for name, control in controls.items():
        if not isinstance(name, str) or not name:
            raise ParamsError("controls: object names must be non-empty strings")
        if control not in CONTROLS:
            raise ParamsError(f"control of {name} must be depth, pose or keep, got {control!r}")
    kept = sorted(name for name, control in controls.items() if control == "keep")
    if kept and not plate:
        raise ParamsError(f"{', '.join(kept)} kept from the plate, but there is no plate: pass --plate FRAMES_DIR (e.g. an earlier take)")


def parse_control_argument(text: str) -> tuple[str, str]:
    """``NAME=CONTROL`` (the CLI's ``--control``) -> (name, control)."""
    name, separator, control = text.rpartition("=")
    if not separator or not name or control not in CONTROLS:
        raise ParamsError(f"--control {text!r}: expected NAME=depth, NAME=pose or NAME=keep, e.g. Hero=pose")
    return name, control


@dataclass(frozen=True)
class ObjectControls:
    """The request's controls resolved against the bundle."""

    pose: dict[str, tuple[int, ...]] = field(default_factory=dict)
    """Armature name -> the mask ids of the posed geometry it drives (objects with ``pose``)."""
    keep_ids: tuple[int, ...] = ()
    """Mask ids of the objects kept from the plate."""

    @property
    def any(self) -> bool:
        return bool(self.pose or self.keep_ids)


def resolve_controls(bundle, controls: dict[str, str], selected: list[str] = ()) -> ObjectControls:
    """Check the names against the bundle: an object of ``shot.json`` ``objects``, or a character's
    armature (its skeleton's ``object``: then it names all the geometry the armature drives).
    ``pose`` needs a skeleton driving the object; ``keep`` and a selective selection exclude each other."""
    objects = {o.name: o.id for o in bundle.objects}
    driven: dict[str, set[int]] = {}  # armature -> ids its skeleton names, over the whole shot
    for frame in bundle.frames:
        for skeleton in frame.skeletons or ():
            driven.setdefault(skeleton.object, set()).update(skeleton.ids)
    unknown = sorted(name for name in controls if name not in objects and name not in driven)
    if unknown:
        known = ", ".join(sorted(set(objects) | set(driven))) or "(none)"
        raise ParamsError(f"control for {', '.join(unknown)}: no such object in this bundle; its objects: {known}")
    pose: dict[str, set[int]] = {}
    keep: set[int] = set()
    for name, control in sorted(controls.items()):
        ids = driven[name] if name in driven else {objects[name]}
        if control == "pose":
            owners = [armature for armature, own in driven.items() if ids & own or armature == name]
            if not owners:
                raise ParamsError(f"{name} has no skeleton to pose: it is not driven by a recognised armature "
                                  "(Rigify, metarig or Mixamo bone names, or a neural_previs_pose_map); use depth for it")
            for armature in owners:
                pose.setdefault(armature, set()).update(ids if name not in driven else driven[armature])
        elif control == "keep":
            keep |= ids
    clash = sorted(name for name in selected if objects.get(name) in keep)
    if clash:
        raise ParamsError(f"{', '.join(clash)} is both selected to regenerate and kept from the plate; drop one of the two")
    return ObjectControls(pose={a: tuple(sorted(ids)) for a, ids in pose.items()}, keep_ids=tuple(sorted(keep)))


def grow(region: np.ndarray, pixels: int) -> np.ndarray:
    """``region`` (bool) grown by ``pixels`` in every direction (a square of side 2 * pixels + 1)."""
    from PIL import Image, ImageFilter

    if pixels <= 0 or not region.any():
        return region
    grown = Image.fromarray(region.astype(np.uint8) * 255).filter(ImageFilter.MaxFilter(2 * pixels + 1))
    return np.asarray(grown) > 0


def pose_region(ids: np.ndarray, posed_ids, keypoints: list[np.ndarray]) -> np.ndarray:
    """Where a frame's posed characters show their skeleton: their ids and their visible keypoints
    (``(18, 3)`` arrays of u, v, visible), grown by ``POSE_MARGIN_PX``."""
    seed = np.isin(ids, np.asarray(list(posed_ids), dtype=ids.dtype))
    height, width = ids.shape
    for points in keypoints:
        for u, v, visible in points:
            if visible:  # u, v in pixel units with centres at +0.5: the pixel is floor(u), floor(v)
                seed[min(height - 1, int(v)), min(width - 1, int(u))] = True
    return grow(seed, POSE_MARGIN_PX)


def compose_control(depth: np.ndarray, ids: np.ndarray, pose: np.ndarray | None, frame_skeletons, controls: ObjectControls) -> np.ndarray:
    """One frame's control image at the bundle's size: the pose image over the posed characters'
    regions, depth everywhere else (kept objects are replaced by the plate in a higher layer)."""
    if not controls.pose:
        return depth
    posed_ids = {i for ids_ in controls.pose.values() for i in ids_}
    keypoints = [s.array() for s in frame_skeletons or () if s.object in controls.pose]
    region = pose_region(ids, posed_ids, keypoints)
    return np.where(region[:, :, None], pose, depth)


def kept_region(ids: np.ndarray, controls: ObjectControls) -> np.ndarray:
    """bool (H, W): the pixels of the objects kept from the plate."""
    return np.isin(ids, np.asarray(controls.keep_ids, dtype=ids.dtype))


def describe(controls: dict[str, str], resolved: ObjectControls) -> dict:
    """take.json's record of the controls: the request and what it resolved to in the bundle."""
    return {
        "objects": dict(sorted(controls.items())),
        "default": "depth",
        "pose_armatures": {armature: list(ids) for armature, ids in resolved.pose.items()},
        "keep_ids": list(resolved.keep_ids),
        "pose_margin_px": POSE_MARGIN_PX,
    }
