"""The models the engine knows by name. Pure data: ``hello`` lists them and the add-on offers them.

A name stands for a backend and the Hugging Face repositories its weights come from (the first is
the pipeline; AnimateDiff combines three). A backend with a ``weights_builder`` (``tiny-random``)
has no repositories: its weights are built on this machine. A model added later needs only an entry
here: the preferences, ``hello``, ``python -m engine download`` and the Download button take it from
this table.

Where the numbers come from:
- ``gpu_memory_gb``: what ``benchmarks/memory.py`` counts (live tensors of the real modules on
  PyTorch's meta device, no GPU; docs/speed.md, "Memory, counted without a GPU"), per ``--offload``
  profile, at the backend's working size and one window: Wan 832x480x81, AnimateDiff 512x512x16
  (``CATALOG_COUNTS`` there; ``python benchmarks/memory.py --catalog`` prints them, and
  tests/engine/test_memory_estimate.py fails when a figure here differs). ``none`` is the profile as
  the engine runs it on a card too small for every weight (a text encoder as large as UMT5-XXL kept
  in host memory and lent to the GPU per new prompt; CLIP's stays on the GPU). The count is a
  floor: on the H200 the allocator held 1.3 GB more (run 3), plus ~0.5 GB of CUDA context, which is
  what ``card_gb`` adds before rounding up to a card size.
- ``download_gb``: the files ``python -m engine download`` fetches (``repo_files.needed_files``), as
  listed on the Hub for the same diffusers conversion (the 14B: 81.2 GB with its 69.4 GB float32
  transformer; the Wan text encoder 11.4 GB, VAE 0.5 GB) or, where no listing was at hand, the
  counted weights stored in float32 (VACE-1.3B's transformer: 2 x 4.3 GB). The exact total is read
  from the Hub when a download starts and shown in its progress.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..backends import ANIMATEDIFF_DEPTH_CONTROLNET, ANIMATEDIFF_MOTION_ADAPTER

#: GPU sizes people buy, in GB: ``card_gb`` rounds up to one of them.
CARD_SIZES_GB = (8, 12, 16, 24, 32, 48, 80, 96, 141)
#: What a real GPU holds above ``benchmarks/memory.py``'s count: allocator (1.3 GB on the H200) and CUDA context.
ALLOCATOR_MARGIN_GB = 1.8


@dataclass(frozen=True)
class KnownModel:
    name: str
    """What ``--model`` accepts, e.g. ``wan-vace-1.3b``."""
    backend: str
    repo_id: str | None
    """The pipeline's Hugging Face repository; ``None`` for models built locally."""
    extra_repos: tuple[str, ...] = ()
    """Further repositories the backend combines with it (AnimateDiff's motion adapter and ControlNet)."""
    title: str = ""
    """Name shown to people, e.g. ``Wan2.1 VACE 1.3B``."""
    description: str = ""
    licence: str = ""
    """The weights' licence (SPDX id where there is one); read the model card before commercial use."""
    download_gb: float = 0.0
    """About how much ``download`` fetches (see the module docstring); 0 for models built locally."""
    gpu_memory_gb: dict = field(default_factory=dict)
    """GPU memory counted by ``benchmarks/memory.py`` per ``--offload`` profile (``group``, ``none``);
    empty where it has not been counted."""
    # -- quality draft (engine.speed.draft) --
    draft_lora: tuple[str, str] | None = None
    """``(repo, file)`` of the step-distillation LoRA ``quality draft`` loads (downloaded with the
    model); ``None``: no distill LoRA is known for this model, so it has no draft quality."""

    @property
    def repos(self) -> tuple[str, ...]:
        return ((self.repo_id,) if self.repo_id else ()) + self.extra_repos

    def describe(self) -> dict:
        """The JSON-friendly summary ``hello`` and the preferences show (without what is on disk)."""
        return {
            "name": self.name,
            "backend": self.backend,
            "repo_id": self.repo_id,
            "repos": list(self.repos),
            "title": self.title or self.name,
            "description": self.description,
            "licence": self.licence,
            "download_gb": self.download_gb,
            "gpu_memory_gb": dict(self.gpu_memory_gb),
            "gpu_card_gb": {profile: card_gb(counted) for profile, counted in self.gpu_memory_gb.items()},
            "draft_lora": "/".join(self.draft_lora) if self.draft_lora else None,
        }


def card_gb(counted_gb: float) -> int:
    """The smallest common GPU size that holds ``counted_gb`` of live tensors plus the allocator's margin."""
    needed = counted_gb + ALLOCATOR_MARGIN_GB
    return next((size for size in CARD_SIZES_GB if size >= needed), math.ceil(needed))


#: Step-distillation LoRAs for ``quality draft`` (docs/engine.md, "Draft quality"). The 14B's is
#: lightx2v's CFG + step distillation of Wan2.1-T2V-14B (rank 64, 631 MB, original key names). lightx2v
#: published no LoRA for the 1.3B (only fully distilled 1.3B models), so the 1.3B uses CausVid's
#: bidirectional 1.3B LoRA as Kijai publishes it (rank 32, ~94 MB), which is also run at 4 steps
#: without guidance. Both were trained on Wan2.1 T2V and act on the blocks VACE shares with it.
DRAFT_LORA_14B = ("lightx2v/Wan2.1-T2V-14B-StepDistill-CfgDistill-Lightx2v",
                  "loras/Wan21_T2V_14B_lightx2v_cfg_step_distill_lora_rank64.safetensors")
DRAFT_LORA_1_3B = ("Kijai/WanVideo_comfy", "Wan21_CausVid_bidirect2_T2V_1_3B_lora_rank32.safetensors")

KNOWN_MODELS: dict[str, KnownModel] = {
    model.name: model
    for model in (
        KnownModel(
            "tiny-random", "tiny-random", None, title="Tiny random (test)",
            description="Random weights built on this machine: its frames are noise. For tests and demos only.",
            licence="Apache-2.0",
        ),
        KnownModel(
            "wan-vace-1.3b", "wan-vace", "Wan-AI/Wan2.1-VACE-1.3B-diffusers", title="Wan2.1 VACE 1.3B",
            description="Depth-controlled video at up to 832x480, restyle or selective; the one to start with.",
            licence="Apache-2.0", download_gb=20.5, gpu_memory_gb={"group": 5.3, "none": 18.2},
            draft_lora=DRAFT_LORA_1_3B,
        ),
        KnownModel(
            "wan-vace-14b", "wan-vace", "Wan-AI/Wan2.1-VACE-14B-diffusers", title="Wan2.1 VACE 14B",
            description="The large Wan VACE: better pictures, ten times the weights; a data-centre GPU for speed.",
            licence="Apache-2.0", download_gb=81.3, gpu_memory_gb={"group": 9.4, "none": 48.6},
            draft_lora=DRAFT_LORA_14B,
        ),
        # --- experts (issue 14 section 4) ---
        # The diffusers conversion of alibaba-pai/Wan2.2-VACE-Fun-A14B by linoyts (Hugging Face staff):
        # its model_index.json names transformer and transformer_2 (WanVACETransformer3DModel) and
        # boundary_ratio 0.875; each transformer is 34.7 GB in bfloat16, the size of Wan2.1-VACE-14B's,
        # so an expert is assumed to be that architecture (benchmarks/architectures.py "vace-a14b").
        # download_gb: 2 x 34.7 + the Wan text encoder 11.4 + VAE 0.5. gpu_memory_gb "none": the
        # weights table of benchmarks/memory.py, one expert on the GPU at a time (what the none profile
        # does on a card too small for both; 83.2 GB with both resident).
        KnownModel(
            "wan2.2-vace-fun-a14b", "wan-vace", "linoyts/Wan2.2-VACE-Fun-14B-diffusers", title="Wan2.2 VACE-Fun A14B",
            description="Wan2.2's two-expert VACE (high-noise and low-noise 14B experts): the strongest model for final takes.",
            licence="Apache-2.0", download_gb=81.3, gpu_memory_gb={"none": 48.6},
        ),
        KnownModel(
            "animatediff-controlnet", "animatediff-controlnet", "stable-diffusion-v1-5/stable-diffusion-v1-5",
            (ANIMATEDIFF_MOTION_ADAPTER, ANIMATEDIFF_DEPTH_CONTROLNET), title="AnimateDiff + depth ControlNet (SD 1.5)",
            description="Stable Diffusion 1.5 with a motion adapter and a depth ControlNet, 512x512, restyle only.",
            licence="CreativeML-OpenRAIL-M", download_gb=7.6, gpu_memory_gb={"group": 6.6, "none": 10.1},
        ),
    )
}
