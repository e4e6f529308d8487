"""The animatediff-controlnet backend with tiny random weights: a Stable Diffusion 1.5-layout base
folder, a MotionAdapter and a depth ControlNet, built from configs here, saved with save_pretrained
and loaded through the backend's real loading code. The output is noise; the shape and frame
accounting are what is tested."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from engine.errors import ParamsError
from engine.generation.generate import generate_take
from engine.formats.params import GenerateParams
from engine_testlib import make_bundle


@pytest.fixture(scope="session")
def tiny_animatediff(tmp_path_factory):
    from diffusers import AutoencoderKL, ControlNetModel, DDIMScheduler, MotionAdapter, StableDiffusionPipeline, UNet2DConditionModel
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import CLIPTextConfig, CLIPTextModel, PreTrainedTokenizerFast

    root = tmp_path_factory.mktemp("animatediff")
    blocks = dict(block_out_channels=(16, 32), down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"))
    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        **blocks, up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), layers_per_block=1, sample_size=8,
        in_channels=4, out_channels=4, cross_attention_dim=32, norm_num_groups=4, attention_head_dim=4,
    )
    controlnet = ControlNetModel(
        **blocks, layers_per_block=1, in_channels=4, cross_attention_dim=32, norm_num_groups=4,
        conditioning_embedding_out_channels=(8, 16), attention_head_dim=4,
    )
    adapter = MotionAdapter(block_out_channels=(16, 32), motion_layers_per_block=1, motion_norm_num_groups=4, motion_num_attention_heads=2)
    vae = AutoencoderKL(
        block_out_channels=[16, 32], in_channels=3, out_channels=3, latent_channels=4, norm_num_groups=4,
        down_block_types=["DownEncoderBlock2D"] * 2, up_block_types=["UpDecoderBlock2D"] * 2,
    )
    text_encoder = CLIPTextModel(CLIPTextConfig(hidden_size=32, intermediate_size=37, num_attention_heads=4, num_hidden_layers=2, vocab_size=64, bos_token_id=0, eos_token_id=2, pad_token_id=1))
    words = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, "neon": 4, "street": 5}
    tokenizer_core = Tokenizer(models.WordLevel(vocab=words, unk_token="<unk>"))
    tokenizer_core.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tokenizer_core, pad_token="<pad>", unk_token="<unk>", model_max_length=16)
    base = StableDiffusionPipeline(
        vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=DDIMScheduler(steps_offset=1, clip_sample=False),
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )
    base.save_pretrained(root / "base", safe_serialization=True)
    adapter.save_pretrained(root / "adapter", safe_serialization=True)
    controlnet.save_pretrained(root / "controlnet", safe_serialization=True)
    return root


def test_animatediff_controlnet_generates_a_long_shot_in_one_free_noise_call(session, tiny_animatediff, tmp_path):
    frames = list(range(1001, 1021))  # 20 frames: more than one 16-frame window
    bundle = make_bundle(tmp_path / "bundle", width=37, height=21, frames=frames)
    params = GenerateParams(
        prompt="neon street", model=str(tiny_animatediff / "base"), seed=3, steps=2,
        motion_adapter=str(tiny_animatediff / "adapter"), controlnet=str(tiny_animatediff / "controlnet"),
    )
    generate_take(session, bundle, tmp_path / "take", params, lambda *a, **k: None)
    record = json.loads((tmp_path / "take" / "take.json").read_text())
    assert record["resolved"]["backend"] == "animatediff-controlnet"
    assert set(record["model"]["components"]) == {"motion_adapter", "controlnet"}
    # one pipeline call with FreeNoise's sliding contexts, not two windows cross-faded
    assert [(w["first_frame"], w["last_frame"], w["generated"]) for w in record["plan"]["windows"]] == [(1001, 1020, 20)]
    assert record["plan"]["context"] == {"mechanism": "FreeNoise", "context_length": 16, "context_stride": 12}
    assert (record["plan"]["work_width"], record["plan"]["work_height"]) == (40, 24)
    pngs = sorted((tmp_path / "take" / "frames").iterdir())
    assert [p.name for p in pngs] == [f"{f}.png" for f in frames]
    assert all(np.asarray(Image.open(p)).shape == (21, 37, 3) for p in pngs)


def test_animatediff_refuses_selective_mode(session, tiny_animatediff, tmp_path):
    Image.new("RGB", (8, 8)).save(tmp_path / "ref.png")
    params = GenerateParams(
        prompt="neon", model=str(tiny_animatediff / "base"), mode="selective", objects=["Cube"], plate=str(tmp_path),
        motion_adapter=str(tiny_animatediff / "adapter"), controlnet=str(tiny_animatediff / "controlnet"),
    )
    with pytest.raises(ParamsError, match="supports mode"):
        generate_take(session, make_bundle(tmp_path / "bundle", frames=[1]), tmp_path / "take", params, lambda *a, **k: None)


def test_a_long_shot_is_the_stock_pipeline_with_free_noise(session, tiny_animatediff, tmp_path):
    """The engine's 20-frame take equals diffusers' own AnimateDiffControlNetPipeline with ``enable_free_noise``
    (context 16, stride 12) on the same depth frames and seed; and the warm pipeline is left without FreeNoise."""
    from diffusers import AnimateDiffControlNetPipeline, ControlNetModel, DDIMScheduler, MotionAdapter

    import conformance

    frames = list(range(1, 21))
    bundle = make_bundle(tmp_path / "bundle", width=40, height=24, frames=frames)  # multiples of 8: no padding
    params = GenerateParams(
        prompt="neon street", model=str(tiny_animatediff / "base"), seed=4, steps=2, guidance=7.5,
        motion_adapter=str(tiny_animatediff / "adapter"), controlnet=str(tiny_animatediff / "controlnet"),
    )
    generate_take(session, bundle, tmp_path / "take", params, lambda *a, **k: None)
    take = np.stack([np.asarray(Image.open(tmp_path / "take" / "frames" / f"{f:04d}.png")) for f in frames])

    info = conformance.read_shot(bundle)
    control = [Image.fromarray(conformance.depth_image(conformance.read_depth(bundle / e["depth"]), info["near"], info["far"])) for e in info["frames"]]
    stock = AnimateDiffControlNetPipeline.from_pretrained(
        tiny_animatediff / "base", motion_adapter=MotionAdapter.from_pretrained(tiny_animatediff / "adapter"),
        controlnet=ControlNetModel.from_pretrained(tiny_animatediff / "controlnet"),
    )
    stock.scheduler = DDIMScheduler.from_config(stock.scheduler.config, beta_schedule="linear", clip_sample=False, timestep_spacing="linspace", steps_offset=1)
    stock.set_progress_bar_config(disable=True)
    stock.enable_free_noise(context_length=16, context_stride=12)
    expected = conformance.to_uint8(stock(
        prompt="neon street", num_frames=20, height=24, width=40, conditioning_frames=control, num_inference_steps=2,
        guidance_scale=7.5, generator=torch.Generator("cpu").manual_seed(4), output_type="np",
    ).frames[0])
    assert conformance.levels(take, expected) <= conformance.FRAME_TOLERANCE
    assert not session._pipeline.free_noise_enabled  # the warm pipeline is as loaded for the next take


def test_animatediff_refuses_a_set_reference_before_loading(session, tiny_animatediff, tmp_path):
    params = GenerateParams(
        prompt="neon", model=str(tiny_animatediff / "base"), plate_from=[str(tmp_path / "take_a")],
        motion_adapter=str(tiny_animatediff / "adapter"), controlnet=str(tiny_animatediff / "controlnet"),
    )
    with pytest.raises(ParamsError, match="cannot keep pixels from another take; use a Wan VACE model, or drop --plate-from"):
        generate_take(session, make_bundle(tmp_path / "bundle", frames=[1]), tmp_path / "take", params, lambda *a, **k: None)
    assert not (tmp_path / "take").exists()
