"""The architectures the benchmarks build with random weights: speed and memory do not depend on the
weights' values, and nothing is downloaded.

Configs are declared once: the published diffusers configs of Wan-AI/Wan2.1-VACE-{1.3B,14B}-diffusers
(transformer/config.json; the text encoder is google/umt5-xxl's, the VAE ``AutoencoderKLWan``'s
defaults) and of the three models ``animatediff-controlnet`` combines (``ANIMATEDIFF``, below) here,
and the tiny architecture in the engine's own ``engine.backends.tiny_random``, whose builder makes the
``tiny`` components (the tiny-random model's weights). Used by ``benchmarks/engine.py``,
``benchmarks/memory.py`` and the tests that size the real models on PyTorch's ``meta`` device.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from engine.backends import tiny_random  # noqa: E402  (after the path is set)

_VACE_COMMON = dict(
    patch_size=(1, 2, 2), attention_head_dim=128, in_channels=16, out_channels=16, text_dim=4096,
    freq_dim=256, cross_attn_norm=True, qk_norm="rms_norm_across_heads", eps=1e-6, rope_max_seq_len=1024,
    vace_in_channels=96,
)
TRANSFORMERS = {
    "vace-1.3b": dict(_VACE_COMMON, num_attention_heads=12, ffn_dim=8960, num_layers=30, vace_layers=list(range(0, 30, 2))),
    "vace-14b": dict(_VACE_COMMON, num_attention_heads=40, ffn_dim=13824, num_layers=40, vace_layers=list(range(0, 40, 5))),
    # Wan2.2 VACE-Fun A14B: two experts of this architecture each (engine/models/catalog.py says why).
    "vace-a14b": dict(_VACE_COMMON, num_attention_heads=40, ffn_dim=13824, num_layers=40, vace_layers=list(range(0, 40, 5))),
    "tiny": tiny_random.TRANSFORMER,
    # --tiny --models tiny-14b: the tiny model through the benchmark's 14B branch, so it runs on the CPU too.
    "tiny-14b": tiny_random.TRANSFORMER,
    # --tiny --models tiny-a14b: two tiny experts through the benchmark's A14B branch.
    "tiny-a14b": tiny_random.TRANSFORMER,
}
UMT5_XXL = dict(vocab_size=256384, d_model=4096, d_kv=64, d_ff=10240, num_layers=24, num_heads=64,
                relative_attention_num_buckets=32, relative_attention_max_distance=128,
                feed_forward_proj="gated-gelu", tie_word_embeddings=False)
WAN_VAE: dict = {}  # AutoencoderKLWan's defaults are the Wan 2.1 VAE


# --- AnimateDiff + depth ControlNet on Stable Diffusion 1.5 (the animatediff-controlnet backend) ---
# The config.json files of the repositories the catalog names (engine/models/catalog.py, engine/backends/__init__.py),
# architecture keys only. Built from these, each module's float32 parameters come to the size the Hub lists for its
# safetensors file (tests/engine/test_memory_estimate.py checks it): UNet 3.44 GB, text encoder 492 MB, VAE 335 MB,
# motion adapter 1.67 GB, ControlNet 1.45 GB.
_SD15_DOWN = ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"]
_SD15_UP = ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"]
#: stable-diffusion-v1-5/stable-diffusion-v1-5 unet/config.json (``UNet2DConditionModel``).
SD15_UNET = dict(
    act_fn="silu", attention_head_dim=8, block_out_channels=[320, 640, 1280, 1280], center_input_sample=False,
    cross_attention_dim=768, down_block_types=_SD15_DOWN, downsample_padding=1, flip_sin_to_cos=True, freq_shift=0,
    in_channels=4, layers_per_block=2, mid_block_scale_factor=1, norm_eps=1e-5, norm_num_groups=32, out_channels=4,
    sample_size=64, up_block_types=_SD15_UP,
)
#: stable-diffusion-v1-5/stable-diffusion-v1-5 text_encoder/config.json (``CLIPTextModel``, CLIP ViT-L/14's text tower).
SD15_TEXT_ENCODER = dict(
    vocab_size=49408, hidden_size=768, intermediate_size=3072, projection_dim=768, num_hidden_layers=12,
    num_attention_heads=12, max_position_embeddings=77, hidden_act="quick_gelu", layer_norm_eps=1e-5,
    pad_token_id=1, bos_token_id=0, eos_token_id=2,
)
#: stable-diffusion-v1-5/stable-diffusion-v1-5 vae/config.json (``AutoencoderKL``).
SD15_VAE = dict(
    act_fn="silu", block_out_channels=[128, 256, 512, 512], down_block_types=["DownEncoderBlock2D"] * 4,
    up_block_types=["UpDecoderBlock2D"] * 4, in_channels=3, out_channels=3, latent_channels=4, layers_per_block=2,
    norm_num_groups=32, sample_size=512, scaling_factor=0.18215,
)
#: guoyww/animatediff-motion-adapter-v1-5-3 config.json (``MotionAdapter``; AnimateDiff v3: no mid-block motion module,
#: as the AnimateDiff repository's configs/inference/inference-v3.yaml has it).
MOTION_ADAPTER_V1_5_3 = dict(
    block_out_channels=[320, 640, 1280, 1280], motion_layers_per_block=2, motion_max_seq_length=32,
    motion_mid_block_layers_per_block=1, motion_norm_num_groups=32, motion_num_attention_heads=8,
    use_motion_mid_block=False,
)
#: lllyasviel/control_v11f1p_sd15_depth config.json (``ControlNetModel``); every ControlNet 1.1 for SD 1.5 has this
#: architecture (lllyasviel/ControlNet-v1-1-nightly: "exactly same architecture" as 1.0).
CONTROLNET_V11_SD15 = dict(
    act_fn="silu", attention_head_dim=8, block_out_channels=[320, 640, 1280, 1280], class_embed_type=None,
    conditioning_embedding_out_channels=[16, 32, 96, 256], controlnet_conditioning_channel_order="rgb",
    cross_attention_dim=768, down_block_types=_SD15_DOWN, downsample_padding=1, flip_sin_to_cos=True, freq_shift=0,
    in_channels=4, layers_per_block=2, mid_block_scale_factor=1, norm_eps=1e-5, norm_num_groups=32,
    num_class_embeds=None, only_cross_attention=False, projection_class_embeddings_input_dim=None,
    resnet_time_scale_shift="default", upcast_attention=False, use_linear_projection=False,
)
#: ``animatediff-sd15``: what ``engine.backends.animatediff`` loads, component by component.
ANIMATEDIFF = {"unet": SD15_UNET, "motion_adapter": MOTION_ADAPTER_V1_5_3, "controlnet": CONTROLNET_V11_SD15,
               "text_encoder": SD15_TEXT_ENCODER, "vae": SD15_VAE}
#: The text encoder's prompt length (the CLIP tokenizer pads to ``max_position_embeddings``).
SD15_PROMPT_TOKENS = SD15_TEXT_ENCODER["max_position_embeddings"]


def build_animatediff(device: str, dtype) -> dict:
    """The modules ``AnimateDiffControlNetPipeline`` runs, built as the engine loads them (every component in
    ``dtype``): ``unet`` is the ``UNetMotionModel`` the pipeline makes of the SD 1.5 UNet and the motion adapter
    (``UNetMotionModel.from_unet2d``; weights are not copied: on ``meta`` there are none), then ``controlnet``,
    ``text_encoder`` and ``vae``, each in eval mode without gradients."""
    import torch
    from diffusers import AutoencoderKL, ControlNetModel, MotionAdapter, UNet2DConditionModel, UNetMotionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    previous = torch.get_default_dtype()
    try:
        with torch.device(device):
            torch.set_default_dtype(dtype)
            unet = UNetMotionModel.from_unet2d(UNet2DConditionModel(**SD15_UNET), MotionAdapter(**MOTION_ADAPTER_V1_5_3),
                                               load_weights=False)
            built = dict(unet=unet, controlnet=ControlNetModel(**CONTROLNET_V11_SD15),
                         text_encoder=CLIPTextModel(CLIPTextConfig(**SD15_TEXT_ENCODER)), vae=AutoencoderKL(**SD15_VAE))
    finally:
        torch.set_default_dtype(previous)
    for module in built.values():
        module.eval().requires_grad_(False)
    return built


#: Denoising experts per model (Wan2.2 A14B has two of its architecture); the others have one.
EXPERTS = {"vace-a14b": 2, "tiny-a14b": 2}
#: Wan2.2 A14B's boundary (its model_index.json), also used for the benchmark's tiny two-expert model.
BOUNDARY_RATIO = tiny_random.TWO_EXPERTS_BOUNDARY


def is_tiny(model: str) -> bool:
    return model.startswith("tiny")


def text_encoder_config(model: str) -> dict:
    return tiny_random.TEXT_ENCODER if is_tiny(model) else UMT5_XXL


def vae_config(model: str) -> dict:
    return tiny_random.VAE if is_tiny(model) else WAN_VAE


def build_components(model: str, device: str, dtype) -> dict:
    """Random-weight ``WanVACEPipeline`` components (transformer, text encoder, VAE, tokenizer) on
    ``device``, in the dtypes ``from_pretrained(torch_dtype=dtype)`` gives (``_keep_in_fp32_modules``
    in float32; the VAE in float32, as the engine and diffusers' example load it). ``tiny``: the
    tiny-random model's own components (float32 on the CPU, moved)."""
    import torch
    from diffusers import AutoencoderKLWan, WanVACETransformer3DModel
    from transformers import UMT5Config, UMT5EncoderModel

    second = None
    if is_tiny(model):
        built = tiny_random.components()
        built.pop("scheduler")
        transformer, text_encoder, vae = (built[name].to(device) for name in ("transformer", "text_encoder", "vae"))
        transformer.to(dtype)
        text_encoder.to(dtype)
        if EXPERTS.get(model, 1) == 2:
            torch.manual_seed(1)
            second = WanVACETransformer3DModel(**tiny_random.TRANSFORMER).to(device, dtype)
    else:
        torch.manual_seed(0)
        previous = torch.get_default_dtype()
        try:
            with torch.device(device):
                torch.set_default_dtype(dtype)
                transformer = WanVACETransformer3DModel(**TRANSFORMERS[model])
                if EXPERTS.get(model, 1) == 2:
                    second = WanVACETransformer3DModel(**TRANSFORMERS[model])
                text_encoder = UMT5EncoderModel(UMT5Config(**UMT5_XXL))
                torch.set_default_dtype(torch.float32)
                vae = AutoencoderKLWan(**WAN_VAE)
        finally:
            torch.set_default_dtype(previous)
    denoisers = [transformer] + ([second] if second is not None else [])
    for module in (*denoisers, text_encoder):
        keep = getattr(module, "_keep_in_fp32_modules", None) or []
        for name, sub in module.named_modules():
            if any(part in keep for part in name.split(".")):
                sub.float()
    for module in (*denoisers, text_encoder, vae):
        module.eval().requires_grad_(False)
    built = dict(transformer=transformer, text_encoder=text_encoder, vae=vae, tokenizer=tiny_random.tokenizer())
    if second is not None:  # two experts (Wan2.2 A14B): make_pipeline sets the boundary
        built["transformer_2"] = second
    return built


def make_pipeline(components: dict):
    """A ``WanVACEPipeline`` of these components with a fresh scheduler (schedulers are stateful):
    UniPC with flow shift 3.0, as diffusers' documentation example and tiny-random set it."""
    from diffusers import WanVACEPipeline

    two = components.get("transformer_2") is not None
    pipeline = WanVACEPipeline(scheduler=tiny_random.scheduler(), **components, boundary_ratio=BOUNDARY_RATIO if two else None)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def transformer_flops(config: dict, latent_frames: int, latent_height: int, latent_width: int, text_tokens: int = 512) -> float:
    """FLOPs of one transformer forward (batch 1): matrix products and attention, 2 per multiply-add.
    Main blocks + VACE blocks (+ their projections); embeddings and norms are negligible."""
    p_t, p_h, p_w = config["patch_size"]
    tokens = (latent_frames // p_t) * (latent_height // p_h) * (latent_width // p_w)
    dim = config["num_attention_heads"] * config["attention_head_dim"]
    ffn = config["ffn_dim"]

    def block() -> float:
        self_projections = 2 * tokens * dim * dim * 4            # q, k, v, out
        self_attention = 2 * 2 * tokens * tokens * dim            # QK^T and AV
        cross_projections = 2 * tokens * dim * dim * 2 + 2 * text_tokens * dim * dim * 2
        cross_attention = 2 * 2 * tokens * text_tokens * dim
        feed_forward = 2 * tokens * dim * ffn * 2
        return self_projections + self_attention + cross_projections + cross_attention + feed_forward

    vace_blocks = len(config["vace_layers"])
    vace_projections = vace_blocks * 2 * tokens * dim * dim * 1 + 2 * tokens * dim * dim  # after_proj each, before_proj once
    return config["num_layers"] * block() + vace_blocks * block() + vace_projections
