"""The parameters of one generation: what the CLI flags and the protocol's ``params`` object carry.

Pure Python (no torch) so the Blender add-on can build and validate a request before sending it.
Every field is recorded verbatim in ``take.json`` together with the values the engine resolved
(``steps``, ``guidance`` and ``seed`` are filled in from the backend's defaults when left out).
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass, field

from ..errors import ParamsError
from .lora_entries import check_loras, normalize_loras

MODES = ("restyle", "selective")
QUALITIES = ("final", "preview", "draft", "draft-preview")
#: What each quality means, for a user interface that lists them (one without an entry shows its name).
QUALITY_DESCRIPTIONS = {
    "final": "The model's own steps at the full working size",
    "preview": "Fast iteration: fewer steps and a quarter of the pixels, scaled back to the shot's size",
    "draft": "4 steps without guidance with the model's step-distillation LoRA, at the full size",
    "draft-preview": "Draft's 4 steps on preview's quarter of the pixels: the fastest",
}
OFFLOAD_PROFILES = ("none", "model", "group")
# --- experts (issue 14 sections 4-6): step caches and weight storage ---
#: Step caches (``cache``: ``KIND:THRESHOLD``; ``engine.speed.step_cache``), for ``final`` takes.
CACHE_KINDS = ("first-block", "mag")
#: How the denoisers' weights are stored (``weights``): as loaded, or float8 with bfloat16 compute.
WEIGHT_STORAGES = ("auto", "fp8")
DTYPES = ("auto", "float32", "bfloat16", "float16")
#: Seeds fit a signed 32-bit integer: Blender's IntProperty and ID properties (the seed field, the
#: take's strip) hold nothing larger, and a seed must survive the round trip through a .blend.
MAX_SEED = 2**31 - 1


def draw_seed() -> int:
    """A random seed from 0 to ``MAX_SEED``, for a request that names none."""
    return random.SystemRandom().randint(0, MAX_SEED)


def parse_cache(text) -> tuple[str, float]:
    """``"first-block:0.05"`` -> ``("first-block", 0.05)``; ``ParamsError`` for anything else."""
    kind, _, threshold = text.partition(":") if isinstance(text, str) else ("", "", "")
    try:
        value = float(threshold)
    except ValueError:
        value = -1.0
    if kind not in CACHE_KINDS or not 0 <= value <= 1:
        raise ParamsError(f"cache must be first-block:THRESHOLD or mag:THRESHOLD with a threshold from 0 to 1 "
                          f"(e.g. first-block:0.05), got {text!r}")
    return kind, value


@dataclass
class GenerateParams:
    """Everything that decides what a take looks like, besides the bundle itself."""

    prompt: str = ""
    """What the shot should look like, e.g. "rainy neon street at night". Must not be empty."""

    model: str = "wan-vace-1.3b"
    """Which weights to use: a known name (``tiny-random``, ``wan-vace-1.3b``, ``wan-vace-14b``,
    ``animatediff-controlnet``), a local diffusers folder, or a Hugging Face repo id."""

    negative_prompt: str = ""
    """What to steer away from. Empty means the backend's unconditional prompt."""

    steps: int | None = None
    """Denoising steps per window. ``None``: the backend's default."""

    guidance: float | None = None
    """Classifier-free guidance scale; 1.0 disables guidance. ``None``: the backend's default."""

    seed: int | None = None
    """Random seed from 0 to ``MAX_SEED`` (2**31 - 1); the same seed, bundle and parameters give the
    same frames. ``None``: a random seed is drawn and recorded in ``take.json`` so the take can be
    reproduced."""

    mode: str = "restyle"
    """``restyle`` regenerates the whole frame from depth; ``selective`` regenerates only the
    objects named in ``objects`` and keeps the rest, pixel for pixel, from ``plate``."""

    objects: list[str] = field(default_factory=list)
    """Names of the bundle's objects to regenerate in ``selective`` mode (see shot.json ``objects``)."""

    reference: str | None = None
    """Path to a style reference image (PNG/JPEG)."""

    plate: str | None = None
    """``selective`` mode (required there): a folder of frames named ``<frame>.png`` (e.g. another
    take's folder or its ``frames/``, or a render of the scene). Outside the selected objects the take's
    pixels are the plate's exactly; a feather of at most 3 pixels blends the selection's edge."""

    conditioning_scale: float = 1.0
    """Strength of the depth (control) conditioning."""

    quality: str = "final"
    """``final``, or ``preview`` for fast iteration: fewer steps (12 unless ``steps`` is given) and a
    quarter of the pixels, scaled back up to the shot's size; ``draft``: the model's
    step-distillation LoRA at 4 steps without guidance, full size (``engine.speed.draft``);
    ``draft-preview``: draft on preview's pixels."""

    offload: str = "none"
    """Memory profile: ``none`` (all on the GPU), ``model`` (one model on the GPU at a time),
    ``group`` (groups of layers streamed to the GPU: least memory, slowest)."""

    device: str = "auto"
    """``auto`` (the first CUDA GPU, else Apple's GPU, else the CPU), ``cpu``, ``mps`` (Apple silicon),
    ``cuda`` or ``cuda:N``."""

    dtype: str = "auto"
    """Weights' precision: ``auto`` (what the device computes best: bfloat16 on recent GPUs, else
    float16, float32 on the CPU; probed when the take starts), ``float32``, ``bfloat16``, ``float16``."""

    download: bool = False
    """Allow downloading missing weights from the Hugging Face Hub. Off by default: the engine is
    offline unless asked."""

    motion_adapter: str | None = None
    """``animatediff-controlnet`` only: motion adapter folder or repo id (default: the backend's)."""

    controlnet: str | None = None
    """``animatediff-controlnet`` only: depth ControlNet folder or repo id (default: the backend's)."""

    # Storyboard control (issue 15): keyframes pinned at frames, a control per object.
    keyframes: list[dict] = field(default_factory=list)
    """Images pinned at scene frames of the shot: ``[{"frame": 1024, "image": "/path/concept.png",
    "mode": "exact"}]``. ``exact`` (default): the take's frame there is the image, to the byte;
    ``guide``: the model is conditioned on it, the frame is the model's (``engine.generation.keyframes``)."""

    controls: dict[str, str] = field(default_factory=dict)
    """What each object's region is conditioned on, by object name: ``depth`` (default), ``pose``
    (its skeleton) or ``keep`` (the plate's pixels), e.g. ``{"Hero": "pose"}`` (``engine.generation.controls``)."""
    # issue 16 §4: set references
    plate_from: list[str] = field(default_factory=list)
    """Takes of other shots of the same set (``--plate-from TAKE_DIR``, repeatable): the static and rigid
    surfaces they show are reprojected into this shot through both bundles, kept exactly in the output
    (``kept/<frame>.png`` says where), and the rest is generated to match them. Earlier takes win."""
    # -- LoRAs (engine.models.loras) --
    loras: list[dict] = field(default_factory=list)
    """LoRAs applied to the model for this take: ``[{"path": FILE_OR_REPO, "weight": 0.8}]`` (weight
    1.0 when left out). A path is a ``.safetensors`` file, ``org/name/file.safetensors`` or a repo id
    holding one ``.safetensors``; entries may also be written ``"PATH:WEIGHT"``."""
    # --- experts (issue 14 sections 4-6) ---
    guidance_2: float | None = None
    """Two-expert models (Wan2.2 A14B) only: the guidance scale of the low-noise expert
    (``transformer_2``; diffusers' ``guidance_scale_2``). ``None``: the same as ``guidance``."""

    cache: str | None = None
    """A step cache for ``final`` takes, ``first-block:THRESHOLD`` or ``mag:THRESHOLD`` (e.g.
    ``first-block:0.05``): steps whose first block changes less than the threshold reuse the rest of
    the model's last output. ``None``: every step computes every block."""

    weights: str = "auto"
    """How the denoising transformer(s) store their weights: ``auto`` (the precision of ``dtype``) or
    ``fp8`` (float8 storage, computed in bfloat16: about half the memory of bfloat16 weights)."""

    def check(self) -> None:
        """Raise ``ParamsError`` with a precise message for the first invalid field.

        Only checks what needs no bundle and no model; the engine checks the rest (object names
        against the bundle, modes and sizes against the backend) before it loads anything.
        """
        if not isinstance(self.prompt, str) or not self.prompt.strip():
            raise ParamsError("prompt is empty: describe the look you want, e.g. --prompt \"rainy neon street at night\"")
        if not isinstance(self.negative_prompt, str):
            raise ParamsError("negative_prompt must be a string")
        if not isinstance(self.model, str) or not self.model.strip():
            raise ParamsError("model is empty: pass --model tiny-random, wan-vace-1.3b, a folder or a repo id")
        if self.steps is not None and (type(self.steps) is not int or not 1 <= self.steps <= 1000):
            raise ParamsError(f"steps must be an integer from 1 to 1000, got {self.steps!r}")
        if self.guidance is not None and (
            isinstance(self.guidance, bool) or not isinstance(self.guidance, (int, float)) or not 0 <= self.guidance <= 50
        ):
            raise ParamsError(f"guidance must be a number from 0 to 50, got {self.guidance!r}")
        if self.seed is not None and (type(self.seed) is not int or not 0 <= self.seed <= MAX_SEED):
            raise ParamsError(f"seed must be an integer from 0 to {MAX_SEED}, got {self.seed!r}")
        if self.mode not in MODES:
            raise ParamsError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if not isinstance(self.objects, list) or not all(isinstance(name, str) and name for name in self.objects):
            raise ParamsError("objects must be a list of object names")
        if self.mode == "selective" and not self.objects:
            raise ParamsError("selective mode needs the objects to regenerate: pass --objects NAME,...")
        if self.mode == "restyle" and self.objects:
            raise ParamsError("objects only apply to selective mode: add --mode selective or drop --objects")
        if self.mode == "selective" and not self.plate:
            raise ParamsError("selective mode keeps the rest of each frame from a plate: pass --plate FRAMES_DIR (e.g. an earlier take)")
        if self.plate and self.mode != "selective" and "keep" not in (self.controls or {}).values():
            raise ParamsError("plate only applies to selective mode or objects kept with --control NAME=keep: add --mode selective or drop --plate")
        if isinstance(self.conditioning_scale, bool) or not isinstance(self.conditioning_scale, (int, float)) or not 0 <= self.conditioning_scale <= 10:
            raise ParamsError(f"conditioning_scale must be a number from 0 to 10, got {self.conditioning_scale!r}")
        if self.quality not in QUALITIES:
            raise ParamsError(f"quality must be one of {', '.join(QUALITIES)}, got {self.quality!r}")
        if self.offload not in OFFLOAD_PROFILES:
            raise ParamsError(f"offload must be one of {', '.join(OFFLOAD_PROFILES)}, got {self.offload!r}")
        if self.dtype not in DTYPES:
            raise ParamsError(f"dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")
        if not isinstance(self.device, str) or not (
            self.device in ("auto", "cpu", "mps", "cuda") or (self.device.startswith("cuda:") and self.device[5:].isdigit())
        ):
            raise ParamsError(f"device must be auto, cpu, mps, cuda or cuda:N, got {self.device!r}")
        for name in ("reference", "plate", "motion_adapter", "controlnet"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value):
                raise ParamsError(f"{name} must be a path (a non-empty string), got {value!r}")
        if not isinstance(self.plate_from, list) or not all(isinstance(path, str) and path for path in self.plate_from):
            raise ParamsError("plate_from must be a list of take folders")
        if not isinstance(self.download, bool):
            raise ParamsError("download must be true or false")
        from ..generation.controls import check_controls
        from ..generation.keyframes import check_keyframes

        check_keyframes(self.keyframes)
        check_controls(self.controls, self.plate)
        check_loras(self.loras)
        self._check_experts_fields()

    def _check_experts_fields(self) -> None:
        """``guidance_2``, ``cache``, ``weights`` (what needs the model is checked by the engine)."""
        if self.guidance_2 is not None and (
            isinstance(self.guidance_2, bool) or not isinstance(self.guidance_2, (int, float)) or not 0 <= self.guidance_2 <= 50
        ):
            raise ParamsError(f"guidance_2 must be a number from 0 to 50, got {self.guidance_2!r}")
        if self.cache is not None:
            parse_cache(self.cache)
            if self.quality == "draft":
                raise ParamsError("a step cache is for final takes: a draft has 4 steps, too few to skip any; drop --cache or use --quality final")
        if self.weights not in WEIGHT_STORAGES:
            raise ParamsError(f"weights must be one of {', '.join(WEIGHT_STORAGES)}, got {self.weights!r}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "GenerateParams":
        """Build from a JSON object; unknown keys are an error (a typo must not be silently ignored)."""
        if not isinstance(data, dict):
            raise ParamsError("params must be a JSON object")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ParamsError(f"unknown parameter(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        params = cls(**data)
        params.loras = normalize_loras(params.loras)
        if isinstance(params.objects, str):
            params.objects = [name for name in params.objects.split(",") if name]
        return params
