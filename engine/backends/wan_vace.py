"""``wan-vace``: Wan2.1 VACE through diffusers' ``WanVACEPipeline``.

How the bundle maps onto VACE's inputs (``video`` + ``mask``):
- ``video`` holds, per pixel, either the inverse-depth image (where the model generates) or the
  pixels to keep (plate, or frames an earlier window produced);
- ``mask`` is white where the model generates, black where it keeps. VACE encodes the kept and the
  generated parts as two separate latent streams, so mixing depth and RGB in one frame is what it
  was trained for (the VACE paper's "extension" and "inpainting" tasks);
- ``restyle``: mask all white, video = depth; ``selective``: mask white on the selected objects only.

The engine does the parts of ``WanVACEPipeline.__call__`` it needs to observe or reuse itself:
text encoding (``encode_prompt``, so embeddings can be cached across takes later) and decoding
(``output_type="latent"``, so decoding is its own phase and can be chunked later).
"""

from __future__ import annotations

import contextlib
from dataclasses import replace

import numpy as np
import torch
from PIL import Image

from ..speed import acceleration as speed
from . import BackendSpec
from ..errors import ModelError
from ..generation.runtime import text_encoder_on_device
from ..generation.windows import WindowInputs


class Backend:
    #: Longest prompt in tokens (the UMT5 encoder of Wan was trained with 512).
    max_sequence_length = 512
    #: Set by the session: a long-lived worker turns on switches that pay back over several takes.
    warm_worker = False

    def __init__(self, spec: BackendSpec):
        self.spec = spec
        #: Speed switches (engine/acceleration.py), chosen at load; ``configure`` changes them.
        self.acceleration = speed.Acceleration()
        self.applied: dict = {}
        self.zero_latents = speed.ZeroVideoLatents()

    # ---------------------------------------------------------------------------------- loading

    def load(self, model, runtime):
        """Load the pipeline from ``model.path`` (a local diffusers folder) onto ``runtime``."""
        from diffusers import AutoencoderKLWan, WanVACEPipeline

        common = dict(use_safetensors=True, local_files_only=True)
        # The Wan VAE loses detail in bfloat16 (its reference code decodes in float32), and it is small.
        vae = AutoencoderKLWan.from_pretrained(model.path, subfolder="vae", dtype=torch.float32, **common)
        pipeline = WanVACEPipeline.from_pretrained(
            model.path, vae=vae, dtype=runtime.torch_dtype, trust_remote_code=False, **common
        )
        if pipeline.transformer is None:
            raise ModelError(f"{model.path} has no transformer; a Wan VACE folder needs transformer/")
        runtime.place(pipeline)
        # Our own progress events replace diffusers' tqdm bars (which would otherwise go to stderr).
        pipeline.set_progress_bar_config(disable=True)
        self.configure(pipeline, runtime, speed.choose(runtime, warm_worker=self.warm_worker))
        return pipeline

    def configure(self, pipeline, runtime, acceleration) -> dict:
        """Apply speed switches (attention backend, compile, VAE tiling; batched guidance is per call)."""
        self.applied = speed.apply(pipeline, runtime, acceleration)
        self.acceleration = replace(acceleration, compile=self.applied["compile"])
        return self.applied

    # --------------------------------------------------------------------------------- encoding

    def encode_prompt(self, pipeline, request):
        device = pipeline._execution_device  # the denoiser's device (a hosted text encoder is not in the pipeline)
        with text_encoder_on_device(pipeline, device):
            prompt_embeds, negative_embeds = pipeline.encode_prompt(
                prompt=request.params.prompt,
                negative_prompt=request.params.negative_prompt,
                do_classifier_free_guidance=request.guidance > 1.0,
                max_sequence_length=self.max_sequence_length,
                device=device,
            )
        return prompt_embeds, negative_embeds

    # -------------------------------------------------------------------------------- denoising

    def denoise(self, pipeline, window: WindowInputs, embeds, request, on_step):
        prompt_embeds, negative_embeds = embeds
        video = [Image.fromarray(frame) for frame in window.control]
        mask = [Image.fromarray(np.where(generate, 255, 0).astype(np.uint8)) for generate in window.generate]
        reference = Image.fromarray(window.reference) if window.reference is not None else None

        def callback_on_step_end(pipe, step, timestep, tensors):
            on_step(step + 1)  # raises GenerationCancelled to stop within this step
            return {}

        def run():
            # A CPU generator makes the noise identical on every device for a given seed; a fresh one
            # each time, so a rerun after a failed compile starts from the same noise.
            generator = torch.Generator(device="cpu").manual_seed(window.seed)
            batched = (
                speed.batched_guidance(pipeline.transformer, negative_embeds)
                if self.acceleration.batched_guidance and request.guidance > 1.0 and negative_embeds is not None
                else contextlib.nullcontext()
            )
            eager = contextlib.nullcontext() if self._compiles(request) else speed.eager(pipeline.transformer)
            with batched, eager, self.zero_latents.around(pipeline.vae):
                return self._call(pipeline, prompt_embeds, negative_embeds, video, mask, reference, window,
                                  request, generator, callback_on_step_end)

        self._size_vae_tiles(pipeline, window)
        try:
            output = run()
        except Exception as error:
            if not (self.acceleration.compile and speed.is_compile_failure(error)):
                raise
            # torch.compile fails at the first call, not when switched on: finish the take eagerly
            # and say so in take.json rather than lose the artist's take to a compiler error.
            speed.set_compiled(pipeline.transformer, False)
            self.acceleration = replace(self.acceleration, compile=False)
            self.applied = {**self.applied, "compile": False, "compile_failed": speed.compile_failure_message(error)}
            output = run()
        if self._compiles(request):
            speed.compiled_sizes(pipeline.transformer).add((window.frames, window.height, window.width))
        latents = output[0]
        # With a reference image VACE prepends its latent frame; it is not part of the video.
        return latents[:, :, (1 if reference is not None else 0) :]

    def compiles_first(self, pipeline, window: WindowInputs, request) -> bool:
        """Whether this window's first step compiles the blocks (a new size in a compiling worker):
        the caller tells the user why that step is slow."""
        return (self._compiles(request)
                and (window.frames, window.height, window.width) not in speed.compiled_sizes(pipeline.transformer))

    def _compiles(self, request) -> bool:
        return self.acceleration.compile and request.params.quality != "preview"

    def _size_vae_tiles(self, pipeline, window) -> None:
        tiles = speed.size_vae_tiles(pipeline.vae, window.height, window.width,
                                     self.acceleration.vae_tile_pixels or speed.VAE_TILE_PIXELS)
        if pipeline.vae.use_tiling:
            self.applied = {**self.applied, "vae_tiles": tiles or "one tile"}

    def _call(self, pipeline, prompt_embeds, negative_embeds, video, mask, reference, window, request,
              generator, callback_on_step_end):
        return pipeline(
            prompt_embeds=prompt_embeds,
            negative_prompt_embeds=negative_embeds,
            video=video,
            mask=mask,
            reference_images=reference,
            conditioning_scale=float(request.params.conditioning_scale),
            height=window.height,
            width=window.width,
            num_frames=window.frames,
            num_inference_steps=request.steps,
            guidance_scale=request.guidance,
            generator=generator,
            output_type="latent",
            return_dict=False,
            callback_on_step_end=callback_on_step_end,
            max_sequence_length=self.max_sequence_length,
        )

    # --------------------------------------------------------------------------------- decoding

    def decode(self, pipeline, latents, window: WindowInputs) -> np.ndarray:
        """Latents -> uint8 (frames, height, width, 3), as ``WanVACEPipeline`` does for output_type="np"."""
        vae = pipeline.vae
        if window is not None:
            self._size_vae_tiles(pipeline, window)
        latents = latents.to(vae.dtype)
        mean = torch.tensor(vae.config.latents_mean).view(1, vae.config.z_dim, 1, 1, 1).to(latents.device, latents.dtype)
        std = torch.tensor(vae.config.latents_std).view(1, vae.config.z_dim, 1, 1, 1).to(latents.device, latents.dtype)
        with torch.no_grad():
            video = vae.decode(latents * std + mean, return_dict=False)[0]
        frames = pipeline.video_processor.postprocess_video(video, output_type="np")[0]  # (F, H, W, 3) in [0, 1]
        return np.round(np.clip(frames, 0.0, 1.0) * 255.0).astype(np.uint8)
