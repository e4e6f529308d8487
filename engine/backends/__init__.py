"""The backend registry: what each video model accepts, and where its implementation lives.

Specs are plain data (no torch) so ``hello`` and the add-on can list them; the implementation module
of a backend is imported only when it is used (``load_backend``). Each implementation module has a
``Backend`` class that fulfils the contract in ``base.py`` (``base.Backend``: ``load``,
``encode_prompt``, ``compiles_first``, ``denoise``, ``decode``, ``warm_worker``, ``applied``).

To add a backend: a ``BackendSpec`` below (its ``module``, the ``model_index.json`` classes it
loads and what it accepts) and a module with a ``Backend(spec)`` class; everything else (snapping,
windows, blending, the take) is shared.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from ..errors import ModelError
from ..generation.snapping import FrameRule
from .base import Backend


#: AnimateDiff's default motion adapter and depth ControlNet (``BackendSpec.extra_components``).
ANIMATEDIFF_MOTION_ADAPTER = "guoyww/animatediff-motion-adapter-v1-5-3"
ANIMATEDIFF_DEPTH_CONTROLNET = "lllyasviel/control_v11f1p_sd15_depth"


@dataclass(frozen=True)
class BackendSpec:
    name: str
    description: str
    module: str
    """Implementation module, relative to this package."""
    frame_rule: FrameRule
    """Frame counts one pipeline call accepts."""
    size_multiple: int
    """Working width and height are multiples of this (VAE downsampling x transformer patch)."""
    window: int
    """Frames per pipeline call; longer shots are generated in overlapping windows."""
    overlap: int
    """Minimum frames shared by consecutive windows (conditioned on and cross-faded)."""
    max_pixels: int
    """Shots with more pixels per frame are scaled down to this area (and back up afterwards)."""
    conditioning: tuple[str, ...]
    """What it uses from the bundle and request: ``depth``, ``mask``, ``reference``."""
    modes: tuple[str, ...]
    default_steps: int
    default_guidance: float
    pipeline_classes: tuple[str, ...]
    """``model_index.json`` ``_class_name`` values this backend loads."""
    synthetic: bool = False
    """True for ``tiny-random``: random weights, output is noise."""
    unused_components: tuple[str, ...] = ()
    """Components ``model_index.json`` may name that this backend never loads, so a download skips them
    (Stable Diffusion 1.5's ``safety_checker``: 1.2 GB the AnimateDiff pipeline has no slot for)."""
    extra_components: tuple[tuple[str, str], ...] = ()
    """Further models this backend combines with the pipeline folder, as ``(component, default repo)``:
    each is resolved like a model (``ResolvedModel.components``) and may be replaced per take by the
    parameter of the same name (AnimateDiff's ``motion_adapter`` and ``controlnet``)."""
    context_windows: bool = False
    """The pipeline generates a shot longer than ``window`` in one call, sliding its own context of ``window``
    frames by ``window - overlap`` over the latents at every step (AnimateDiff's FreeNoise), instead of the engine
    generating separate windows and cross-fading them (issue 16 §3)."""
    weights_builder: str | None = None
    """Module (relative to this package) that builds this backend's weights locally instead of
    downloading them: it provides ``ensure_built(cache_root) -> Path`` and ``built_folder(cache_root)
    -> Path`` (``tiny-random``). ``None``: weights come from a folder or the Hugging Face Hub."""
    # -- LoRAs (engine.models.loras) --
    loras: bool = False
    """Whether the backend loads LoRAs (``--lora``, ``quality draft``) into its transformer(s)."""

    def describe(self) -> dict:
        """The JSON-friendly summary sent in ``hello``."""
        return {
            "name": self.name,
            "description": self.description,
            "frame_rule": self.frame_rule.describe(),
            "size_multiple": self.size_multiple,
            "window": self.window,
            "overlap": self.overlap,
            "max_pixels": self.max_pixels,
            "conditioning": list(self.conditioning),
            "modes": list(self.modes),
            "synthetic": self.synthetic,
        }


BACKENDS: dict[str, BackendSpec] = {
    spec.name: spec
    for spec in (
        BackendSpec(
            name="wan-vace",
            description="Wan2.1 VACE (diffusers WanVACEPipeline): depth-controlled video, restyle or selective",
            module="wan_vace",
            frame_rule=FrameRule(4, 1),
            size_multiple=16,
            window=81,
            overlap=17,
            max_pixels=832 * 480,
            conditioning=("depth", "mask", "reference"),
            modes=("restyle", "selective"),
            default_steps=30,
            default_guidance=5.0,
            pipeline_classes=("WanVACEPipeline",),
            loras=True,
        ),
        BackendSpec(
            name="animatediff-controlnet",
            description="AnimateDiff + depth ControlNet on Stable Diffusion 1.5 (about 8 GB of GPU memory)",
            module="animatediff",
            frame_rule=FrameRule(1, 0),
            size_multiple=8,
            window=16,
            overlap=4,
            max_pixels=512 * 512,
            conditioning=("depth",),
            modes=("restyle",),
            default_steps=25,
            default_guidance=7.5,
            pipeline_classes=("StableDiffusionPipeline",),
            unused_components=("safety_checker",),
            context_windows=True,
            extra_components=(("motion_adapter", ANIMATEDIFF_MOTION_ADAPTER), ("controlnet", ANIMATEDIFF_DEPTH_CONTROLNET)),
        ),
        BackendSpec(
            name="tiny-random",
            description="Tiny Wan-VACE architecture with random weights, for tests and demos: its output is NOISE",
            module="wan_vace",  # the same implementation as real Wan VACE
            weights_builder="tiny_random",
            frame_rule=FrameRule(4, 1),
            size_multiple=16,
            window=9,
            overlap=3,
            max_pixels=64 * 64,
            conditioning=("depth", "mask", "reference"),
            modes=("restyle", "selective"),
            default_steps=2,
            default_guidance=5.0,
            pipeline_classes=("WanVACEPipeline",),
            synthetic=True,
            loras=True,
        ),
    )
}


def get_spec(name: str) -> BackendSpec:
    try:
        return BACKENDS[name]
    except KeyError:
        raise ModelError(f"unknown backend {name!r}; known: {', '.join(BACKENDS)}") from None


def load_backend(name: str) -> Backend:
    """Import the implementation of backend ``name`` (this imports torch and diffusers)."""
    spec = get_spec(name)
    module = importlib.import_module(f".{spec.module}", __name__)
    return module.Backend(spec)


def weights_builder(spec: BackendSpec):
    """The module that builds ``spec``'s weights locally (see ``BackendSpec.weights_builder``), or None."""
    if spec.weights_builder is None:
        return None
    return importlib.import_module(f".{spec.weights_builder}", __name__)
