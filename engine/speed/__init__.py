"""Speed switches: how a take runs faster or in less memory without changing what it shows beyond
a stated tolerance (docs/speed.md; each switch is checked against the stock ``WanVACEPipeline`` in
``tests/engine/test_conformance.py``).

One module per switch, each applied through diffusers' own mechanism where it has one:

- ``attention``: the attention backend (``set_attention_backend``), probed on CUDA;
- ``regional_compile``: ``compile_repeated_blocks`` (and running compiled blocks eagerly);
- ``vae_tiling``: tiled VAE encode/decode (``enable_tiling`` with tiles sized per shot);
- ``batched_guidance``: both guidance passes in one forward (a ``diffusers.hooks.ModelHook``);
- ``text_encoder``: a text encoder kept in host memory and lent to the device per new prompt;
- ``offload``: the memory profiles (``enable_model_cpu_offload``, ``apply_group_offloading``);
- ``prompt_cache``: text embeddings per prompt (and the small cache the zero-latent cache uses);
- ``zero_latents``: a restyle's all-zero kept part, VAE-encoded once per shape;
- ``quality``: what ``final`` and ``preview`` change (steps, pixels, compiled blocks).

``policy`` decides what is on by default per device and kind of worker (``NEURAL_PREVIS_*``
variables override); ``switches`` holds that choice (``Switches``) and applies it to a loaded
pipeline. Importing this package imports no torch.
"""
