"""The models the engine knows by name. Pure data: ``hello`` lists them and the add-on offers them.

A name stands for a backend and the Hugging Face repositories its weights come from (the first is
the pipeline; AnimateDiff combines three). A backend with a ``weights_builder`` (``tiny-random``)
has no repositories: its weights are built on this machine.
"""

from __future__ import annotations

from dataclasses import dataclass

ANIMATEDIFF_MOTION_ADAPTER = "guoyww/animatediff-motion-adapter-v1-5-3"
ANIMATEDIFF_DEPTH_CONTROLNET = "lllyasviel/control_v11f1p_sd15_depth"


@dataclass(frozen=True)
class KnownModel:
    name: str
    """What ``--model`` accepts, e.g. ``wan-vace-1.3b``."""
    backend: str
    repo_id: str | None
    """The pipeline's Hugging Face repository; ``None`` for models built locally."""
    extra_repos: tuple[str, ...] = ()
    """Further repositories the backend combines with it (AnimateDiff's motion adapter and ControlNet)."""

    @property
    def repos(self) -> tuple[str, ...]:
        return ((self.repo_id,) if self.repo_id else ()) + self.extra_repos


KNOWN_MODELS: dict[str, KnownModel] = {
    model.name: model
    for model in (
        KnownModel("tiny-random", "tiny-random", None),
        KnownModel("wan-vace-1.3b", "wan-vace", "Wan-AI/Wan2.1-VACE-1.3B-diffusers"),
        KnownModel("wan-vace-14b", "wan-vace", "Wan-AI/Wan2.1-VACE-14B-diffusers"),
        KnownModel("animatediff-controlnet", "animatediff-controlnet", "stable-diffusion-v1-5/stable-diffusion-v1-5",
                   (ANIMATEDIFF_MOTION_ADAPTER, ANIMATEDIFF_DEPTH_CONTROLNET)),
    )
}
