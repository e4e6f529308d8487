"""``animatediff-controlnet``: AnimateDiff motion modules + a depth ControlNet on a Stable Diffusion
1.5 base, through diffusers' ``AnimateDiffControlNetPipeline``. Counted at 6.6 GB (Least Memory) and 10.1 GB (Fastest) at 512x512x16: a 12 GB card (benchmarks/memory.py).

Three models are combined: the base SD 1.5 pipeline folder (``--model``), a ``MotionAdapter``
(``--motion-adapter``) and a depth ``ControlNetModel`` (``--controlnet``). The ControlNet sees one
inverse-depth frame per output frame. There is no mask input, so only ``restyle`` is offered (and no
``--plate-from``). A shot longer than the motion adapter's 16 frames is one pipeline call with diffusers' FreeNoise
(``enable_free_noise``: sliding temporal contexts blended at every step), not windows cross-faded afterwards.

It follows the contract in ``base.py``; no speed switch applies to it (``applied`` stays empty).
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from ..generation.windows import WindowInputs
from ..speed import offload
from . import BackendSpec

#: Frames the VAE decodes in one batch (``decode_latents``' ``decode_chunk_size``): the whole motion-adapter context.
DECODE_CHUNK_FRAMES = 16


class Backend:
    def __init__(self, spec: BackendSpec):
        self.spec = spec
        self.warm_worker = False
        self.applied: dict = {}

    def load(self, model, runtime):
        from diffusers import AnimateDiffControlNetPipeline, ControlNetModel, DDIMScheduler, MotionAdapter

        common = dict(use_safetensors=True, local_files_only=True, dtype=runtime.torch_dtype)
        adapter = MotionAdapter.from_pretrained(model.components["motion_adapter"].path, **common)
        controlnet = ControlNetModel.from_pretrained(model.components["controlnet"].path, **common)
        pipeline = AnimateDiffControlNetPipeline.from_pretrained(
            model.path, motion_adapter=adapter, controlnet=controlnet, trust_remote_code=False, **common
        )
        # The scheduler AnimateDiff's motion modules were trained with (linear betas, DDIM sampling).
        pipeline.scheduler = DDIMScheduler.from_config(
            pipeline.scheduler.config, beta_schedule="linear", clip_sample=False, timestep_spacing="linspace", steps_offset=1
        )
        offload.place(pipeline, runtime)
        pipeline.set_progress_bar_config(disable=True)
        return pipeline

    def encode_prompt(self, pipeline, request):
        return pipeline.encode_prompt(
            request.params.prompt,
            pipeline._execution_device,
            1,
            request.guidance > 1.0,
            negative_prompt=request.params.negative_prompt or None,
        )

    def denoise(self, pipeline, window: WindowInputs, embeds, request, on_step):
        prompt_embeds, negative_embeds = embeds
        generator = torch.Generator(device="cpu").manual_seed(window.seed)

        def callback_on_step_end(pipe, step, timestep, tensors):
            on_step(step + 1)
            return {}

        long_shot = window.frames > self.spec.window
        if long_shot:
            # FreeNoise: the motion modules see sliding contexts of the adapter's own length, blended at every step,
            # and the noise of later frames reshuffles the first context's: one generation, no cross-fade. It encodes
            # the prompt itself (it refuses embeddings), per frame.
            pipeline.enable_free_noise(context_length=self.spec.window, context_stride=self.spec.window - self.spec.overlap)
            prompts = dict(prompt=request.params.prompt, negative_prompt=request.params.negative_prompt or None)
        else:
            prompts = dict(prompt_embeds=prompt_embeds, negative_prompt_embeds=negative_embeds)
        try:
            latents = self._call(pipeline, window, request, generator, callback_on_step_end, prompts)
        finally:
            if long_shot:
                pipeline.disable_free_noise()  # the next take starts from the loaded pipeline
        return latents

    def _call(self, pipeline, window: WindowInputs, request, generator, callback_on_step_end, prompts):
        (latents,) = pipeline(
            **prompts,
            num_frames=window.frames,
            height=window.height,
            width=window.width,
            conditioning_frames=[Image.fromarray(frame) for frame in window.control],
            controlnet_conditioning_scale=float(request.params.conditioning_scale),
            num_inference_steps=request.steps,
            guidance_scale=request.guidance,
            generator=generator,
            output_type="latent",
            return_dict=False,
            callback_on_step_end=callback_on_step_end,
        )
        return latents

    def compiles_first(self, pipeline, window: WindowInputs, request) -> bool:
        return False  # this backend does not compile

    def decode(self, pipeline, latents, window: WindowInputs) -> np.ndarray:
        with torch.no_grad():
            video = pipeline.decode_latents(latents, decode_chunk_size=DECODE_CHUNK_FRAMES)
        frames = pipeline.video_processor.postprocess_video(video=video, output_type="np")[0]
        return np.round(np.clip(frames, 0.0, 1.0) * 255.0).astype(np.uint8)
