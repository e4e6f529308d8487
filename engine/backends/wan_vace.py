"""``wan-vace``: Wan2.1 VACE, an adapter around the stock ``WanVACEPipeline.__call__``.

The engine builds exactly the arguments the stock call receives (``stock_arguments``) and turns its
output into frames; it re-implements nothing the call does. How the bundle maps onto VACE's inputs:
- ``video`` holds, per pixel, either the inverse-depth image (where the model generates) or the
  pixels to keep (plate, or frames an earlier window produced);
- ``mask`` is white where the model generates, black where it keeps. VACE encodes the kept and the
  generated parts as two separate latent streams, so mixing depth and RGB in one frame is what it
  was trained for (the VACE paper's "extension" and "inpainting" tasks);
- ``restyle``: mask all white, video = depth; ``selective``: mask white on the selected objects only;
- ``reference_images``: the style reference, if any.

Two seams, both the pipeline's own:
- the prompt is encoded with ``pipeline.encode_prompt`` and handed to the call as
  ``prompt_embeds`` / ``negative_prompt_embeds`` (what the call itself does with ``prompt=``), so the
  embeddings are cached across takes;
- the call returns latents (``output_type="latent"``) and ``decode`` runs the call's own last lines
  for ``output_type="np"``. Decoding is then a phase of its own: its progress event and time, a
  cancel between denoising and decoding, and the conditioning tensors of the call freed before
  the VAE's largest pass. ``tests/engine/test_conformance.py`` checks that its frames equal the
  stock call's ``output_type="np"`` value for value.
"""

from __future__ import annotations

import contextlib
from dataclasses import replace

import numpy as np
import torch
from PIL import Image

from ..errors import ModelError
from ..generation.windows import WindowInputs
from ..speed import draft, offload, policy, quality, regional_compile, step_cache, vae_tiling, weight_storage
from ..speed.batched_guidance import batched_guidance
from ..speed.switches import Switches, apply, denoisers
from ..speed.text_encoder import text_encoder_on_device
from ..speed.zero_latents import ZeroVideoLatents
from . import BackendSpec, lora_adapters


class Backend:
    #: Longest prompt in tokens (the UMT5 encoder of Wan was trained with 512).
    max_sequence_length = 512

    def __init__(self, spec: BackendSpec):
        self.spec = spec
        self.warm_worker = False
        #: The load-time speed switches in force (``configure`` changes them).
        self.switches = Switches()
        self.applied: dict = {}
        self.zero_latents = ZeroVideoLatents()
        #: LoRA adapters loaded into this backend's pipeline, kept across takes (``lora_adapters``).
        self.loras = lora_adapters.LoraAdapters()

    # ---------------------------------------------------------------------------------- loading

    def load(self, model, runtime):
        from diffusers import AutoencoderKLWan, WanVACEPipeline

        common = dict(use_safetensors=True, local_files_only=True)
        # The Wan VAE loses detail in bfloat16 (its reference code decodes in float32), and it is small.
        vae = AutoencoderKLWan.from_pretrained(model.path, subfolder="vae", dtype=torch.float32, **common)
        pipeline = WanVACEPipeline.from_pretrained(
            model.path, vae=vae, dtype=runtime.torch_dtype, trust_remote_code=False, **common
        )
        if not denoisers(pipeline):
            raise ModelError(f"{model.path} has no transformer; a Wan VACE folder needs transformer/")
        stored = weight_storage.store_weights(pipeline, runtime)  # --weights fp8: before placing, so float8 bytes move
        offload.place(pipeline, runtime)
        # Our own progress events replace diffusers' tqdm bars (which would otherwise go to stderr).
        pipeline.set_progress_bar_config(disable=True)
        self.configure(pipeline, runtime, policy.choose(runtime, warm_worker=self.warm_worker))
        self.applied = {**self.applied, **stored}
        return pipeline

    def configure(self, pipeline, runtime, switches: Switches) -> dict:
        """Apply load-time speed switches (again, to change them: the benchmark and the tests do)."""
        self.applied = apply(pipeline, runtime, switches)
        self.switches = replace(switches, compile=self.applied["compile"])
        return self.applied

    # --------------------------------------------------------------------------------- encoding

    def encode_prompt(self, pipeline, request):
        device = pipeline._execution_device  # the denoiser's device (a hosted text encoder is not in the pipeline)
        with text_encoder_on_device(pipeline, device):
            return pipeline.encode_prompt(
                prompt=request.params.prompt,
                negative_prompt=request.params.negative_prompt,
                do_classifier_free_guidance=request.guidance > 1.0,
                max_sequence_length=self.max_sequence_length,
                device=device,
            )

    # -------------------------------------------------------------------------------- denoising

    def stock_arguments(self, window: WindowInputs, embeds, request) -> dict:
        """Exactly what ``WanVACEPipeline.__call__`` receives for one window (but the step callback)."""
        prompt_embeds, negative_embeds = embeds
        return dict(
            video=[Image.fromarray(frame) for frame in window.control],
            mask=[Image.fromarray(np.where(generate, 255, 0).astype(np.uint8)) for generate in window.generate],
            reference_images=Image.fromarray(window.reference) if window.reference is not None else None,
            prompt_embeds=prompt_embeds,
            negative_prompt_embeds=negative_embeds,
            height=window.height,
            width=window.width,
            num_frames=window.frames,
            num_inference_steps=request.steps,
            guidance_scale=request.guidance,
            conditioning_scale=float(request.params.conditioning_scale),
            # A CPU generator makes the noise identical on every device for a given seed; a fresh
            # one per call, so a rerun after a failed compile starts from the same noise.
            generator=torch.Generator(device="cpu").manual_seed(window.seed),
            max_sequence_length=self.max_sequence_length,
            output_type="latent",
            return_dict=False,
            # Two-expert models (Wan2.2 A14B): the low-noise expert's guidance, only when asked for
            # (the stock call refuses it for one expert; engine.models.experts checks that first).
            **({} if request.params.guidance_2 is None else {"guidance_scale_2": float(request.params.guidance_2)}),
        )

    def denoise(self, pipeline, window: WindowInputs, embeds, request, on_step):
        def callback_on_step_end(pipe, step, timestep, tensors):
            on_step(step + 1)  # raises GenerationCancelled to stop within this step
            return {}

        def run():
            with self._during_call(pipeline, embeds, request, window):
                return pipeline(**self.stock_arguments(window, embeds, request),
                                callback_on_step_end=callback_on_step_end)[0]

        self._size_vae_tiles(pipeline, window)
        try:
            latents = run()
        except Exception as error:
            if not (self.switches.compile and regional_compile.is_compile_failure(error)):
                raise
            # torch.compile fails at the first call, not when switched on: finish the take eagerly
            # and say so in take.json rather than lose the artist's take to a compiler error.
            for model in denoisers(pipeline):
                regional_compile.set_compiled(model, False)
            self.switches = replace(self.switches, compile=False)
            self.applied = {**self.applied, "compile": False,
                            "compile_failed": regional_compile.failure_message(error)}
            latents = run()
        if self._compiles(request):
            regional_compile.compiled_sizes(denoisers(pipeline)[0]).add((window.frames, window.height, window.width))
        return latents

    def _during_call(self, pipeline, embeds, request, window) -> contextlib.ExitStack:
        """The per-call switches, undone when the call ends: batched guidance (a hook on each
        denoiser), compiled blocks run eagerly where the quality says so, the zero-latent cache.
        What a take changes in the loaded pipeline (LoRA adapters, a draft schedule, a step cache)
        goes here too."""
        stack = contextlib.ExitStack()
        negative_embeds = embeds[1]
        cached = step_cache.cache_of(request)  # --cache: not with batched guidance nor compiled blocks
        if self.switches.batched_guidance and request.guidance > 1.0 and negative_embeds is not None and not cached:
            stack.enter_context(batched_guidance(denoisers(pipeline), negative_embeds))
        if not self._compiles(request) or cached:
            stack.enter_context(regional_compile.eager(denoisers(pipeline)))
        stack.enter_context(step_cache.recorded(self, denoisers(pipeline), request, window))
        stack.enter_context(self.zero_latents.around(pipeline.vae))
        # The take's LoRAs with their weights (all adapters off after), and a draft's schedule.
        stack.enter_context(self.loras.around(pipeline, getattr(request, "loras", ())))
        if quality.resolve(request.params, self.spec).draft:
            stack.enter_context(draft.draft_scheduler(pipeline))
        return stack

    def compiles_first(self, pipeline, window: WindowInputs, request) -> bool:
        return (self._compiles(request) and (window.frames, window.height, window.width)
                not in regional_compile.compiled_sizes(denoisers(pipeline)[0]))

    def _compiles(self, request) -> bool:
        return (self.switches.compile and quality.resolve(request.params, self.spec).compiled
                and not lora_adapters.runs_eagerly(request))

    def _size_vae_tiles(self, pipeline, window) -> None:
        tiles = vae_tiling.size_tiles(pipeline.vae, window.height, window.width, self.switches.vae_tile_pixels)
        if tiles is not None:
            self.applied = {**self.applied, "vae_tiles": tiles}

    # --------------------------------------------------------------------------------- decoding

    @torch.no_grad()
    def decode(self, pipeline, latents, window: WindowInputs) -> np.ndarray:
        self._size_vae_tiles(pipeline, window)
        # From here to ``postprocess_video``: WanVACEPipeline.__call__'s lines for output_type="np"
        # (diffusers 0.42.1), unchanged, so the frames are the stock call's.
        num_reference_images = 1 if window.reference is not None else 0
        vae = pipeline.vae
        latents = latents[:, :, num_reference_images:]
        latents = latents.to(vae.dtype)
        latents_mean = torch.tensor(vae.config.latents_mean).view(1, vae.config.z_dim, 1, 1, 1).to(latents.device, latents.dtype)
        latents_std = 1.0 / torch.tensor(vae.config.latents_std).view(1, vae.config.z_dim, 1, 1, 1).to(
            latents.device, latents.dtype)
        latents = latents / latents_std + latents_mean
        video = vae.decode(latents, return_dict=False)[0]
        frames = pipeline.video_processor.postprocess_video(video, output_type="np")[0]  # (F, H, W, 3) in [0, 1]
        pipeline.maybe_free_model_hooks()  # as the call ends: offload profiles put the VAE back
        return np.round(np.clip(frames, 0.0, 1.0) * 255.0).astype(np.uint8)
