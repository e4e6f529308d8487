"""The memory profiles (``--offload``): where a freshly loaded pipeline's weights live.

- ``none``: everything on the device (``pipeline.to``), except a text encoder the policy keeps in
  host memory (``text_encoder``) and, for a two-expert model (Wan2.2 A14B) on a card too small for
  both experts, the expert that is not denoising (``one_expert_at_a_time``);
- ``model``: diffusers' ``enable_model_cpu_offload``, one model on the device at a time (for two
  experts too: ``WanVACEPipeline.model_cpu_offload_seq`` is ``text_encoder->transformer->transformer_2->vae``);
- ``group``: diffusers' group offloading (``enable_group_offload`` / ``apply_group_offloading``),
  layers streamed to the device as they are used (``stream_to_device``).
"""

from __future__ import annotations

from . import policy
from .text_encoder import keep_text_encoder_on_host


def place(pipeline, runtime) -> None:
    """Move a freshly loaded pipeline onto ``runtime.device`` according to ``runtime.offload``."""
    if runtime.offload == "none":
        if policy.text_encoder_stays_on_host(pipeline, runtime.device):
            keep_text_encoder_on_host(pipeline)
        if policy.one_expert_on_device(pipeline, runtime.device):
            one_expert_at_a_time(pipeline, runtime.device)
        else:
            pipeline.to(runtime.device)
    elif runtime.offload == "model":
        pipeline.enable_model_cpu_offload(device=runtime.device)
    else:  # group: stream layers, overlapping transfers with compute on a CUDA stream
        stream_to_device(pipeline, runtime.device, use_stream=runtime.device.startswith("cuda"))


def stream_to_device(pipeline, device: str, use_stream: bool) -> None:
    """The ``group`` profile: weights live on the CPU and are streamed to ``device`` as they are used.

    - the denoisers (transformer(s) / UNet, ControlNet, motion adapter): one block of their top-level
      ``ModuleList``s at a time (diffusers' block-level group offloading);
    - the text encoder: one layer at a time (leaf level). Block level would load UMT5-XXL whole,
      11 GB: its blocks sit one level down (``encoder.block``), and block-level offloading groups
      only top-level lists (13.7 GB above resident on an H200, run 3 in docs/speed.md). Leaf level
      also keeps its tied input embedding in one group;
    - the VAE stays on the device (0.5 GB): its memory is bounded by tiling, which diffusers warns
      does not mix with streamed offloading.
    """
    import torch
    from diffusers.hooks import apply_group_offloading

    streamed = dict(onload_device=torch.device(device), offload_device=torch.device("cpu"), use_stream=use_stream)
    for name, component in pipeline.components.items():
        if not isinstance(component, torch.nn.Module):
            continue
        if name == "vae":
            component.to(device)
        elif name.startswith("text_encoder"):
            apply_group_offloading(component, offload_type="leaf_level", **streamed)
        elif hasattr(component, "enable_group_offload"):
            component.enable_group_offload(offload_type="block_level", num_blocks_per_group=1, **streamed)
        else:
            apply_group_offloading(component, offload_type="block_level", num_blocks_per_group=1, **streamed)


def one_expert_at_a_time(pipeline, device: str) -> None:
    """The ``none`` profile for two experts that do not both fit: diffusers' model offloading over the
    experts alone (``model_cpu_offload_seq = "transformer->transformer_2"``, this pipeline only), every
    other component on the device (``_exclude_from_cpu_offload``). The expert that denoises is on the
    device, the other in host memory: the high-noise expert moves in at a take's first step, the
    low-noise one at the boundary (two copies of 34.7 GB per take for A14B in bfloat16, 17.4 GB with
    ``--weights fp8``), and the pipeline's ``maybe_free_model_hooks`` at the end of a call puts them back."""
    import torch

    pipeline.model_cpu_offload_seq = "transformer->transformer_2"
    pipeline._exclude_from_cpu_offload = [name for name, component in pipeline.components.items()
                                          if isinstance(component, torch.nn.Module) and name not in ("transformer", "transformer_2")]
    pipeline.enable_model_cpu_offload(device=device)
