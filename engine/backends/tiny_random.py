"""``tiny-random``: a tiny Wan-VACE-architecture model with random weights. ITS OUTPUT IS NOISE.

It exists so tests and demos run the real code path without multi-gigabyte downloads: the model is
built from configs with a fixed seed (tiny ``WanVACETransformer3DModel``, ``AutoencoderKLWan``,
``UMT5EncoderModel``, a word-level tokenizer, the Wan scheduler), saved with ``save_pretrained`` as
safetensors, and then loaded back through exactly the same loading code as real Wan weights
(``engine.backends.wan_vace.Backend.load``: the registry runs this backend with the ``wan_vace``
implementation). Same seed + same configs = same weights on every machine. torch is imported only
when the model is built.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

__all__ = ["build", "build_two_experts", "built_folder", "components", "ensure_built", "NOTE"]

#: Bump when the configs below change, so stale cached builds are not reused.
BUILD_VERSION = "1"
SEED = 0
NOTE = "tiny-random has random weights: its frames are noise, useful only to test the pipeline"

#: A fixed word list: the tokenizer maps these to ids and anything else to <unk>.
_WORDS = (
    "a an the of in on at with and or rainy neon street night day watercolour product shot city car "
    "person character box building sky light dark red green blue white black"
).split()


#: The tiny architecture: the real Wan VACE module classes with few channels and layers. The VAE
#: keeps the real factors: 3 spatial downsamplings (x8) and 2 temporal ones (x4).
VAE = dict(base_dim=8, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1, temperal_downsample=[False, True, True])
TRANSFORMER = dict(
    patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=16, out_channels=16,
    text_dim=32, freq_dim=32, ffn_dim=32, num_layers=3, cross_attn_norm=True, qk_norm="rms_norm_across_heads",
    rope_max_seq_len=32, vace_layers=[0, 2],
    # VACE control channels: kept latents (16) + generated latents (16) + the 8x8 mask (64).
    vace_in_channels=96,
)
TEXT_ENCODER = dict(vocab_size=len(_WORDS) + 3, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4,
                    relative_attention_num_buckets=8, relative_attention_max_distance=32)


def components() -> dict:
    """The tiny model's components in memory, float32 on the CPU, the same weights every time:
    ``WanVACEPipeline(**components())`` is tiny-random."""
    import torch
    from diffusers import AutoencoderKLWan, WanVACETransformer3DModel
    from transformers import UMT5Config, UMT5EncoderModel

    torch.manual_seed(SEED)
    vae = AutoencoderKLWan(**VAE)
    torch.manual_seed(SEED)
    transformer = WanVACETransformer3DModel(**TRANSFORMER)
    torch.manual_seed(SEED)
    text_encoder = UMT5EncoderModel(UMT5Config(**TEXT_ENCODER))
    return dict(tokenizer=tokenizer(), text_encoder=text_encoder, vae=vae, scheduler=scheduler(), transformer=transformer)


def scheduler():
    """Wan's scheduler as diffusers' documentation example sets it: UniPC, flow prediction, shift 3.0 (480p)."""
    from diffusers import UniPCMultistepScheduler

    return UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=3.0)


def build(folder: Path) -> None:
    """Build the tiny model into ``folder`` (which must not exist), atomically."""
    from diffusers import WanVACEPipeline

    pipeline = WanVACEPipeline(**components())
    temporary = folder.parent / f".{folder.name}.building-{uuid.uuid4().hex[:8]}"
    try:
        pipeline.save_pretrained(temporary, safe_serialization=True)
        (temporary / "NOTE.txt").write_text(NOTE + "\n")
        os.rename(temporary, folder)
    except OSError:
        # Another process finished the same build first: theirs is identical.
        if not (folder / "model_index.json").is_file():
            raise
    finally:
        shutil.rmtree(temporary, ignore_errors=True)


#: Wan2.2 VACE-Fun A14B's boundary (its model_index.json): the high-noise expert runs the steps whose
#: timestep is at least 0.875 x 1000.
TWO_EXPERTS_BOUNDARY = 0.875


def build_two_experts(folder: Path, boundary_ratio: float = TWO_EXPERTS_BOUNDARY) -> Path:
    """A tiny two-expert folder in Wan2.2 A14B's layout (``transformer``, ``transformer_2``,
    ``boundary_ratio`` in model_index.json): tiny-random's components plus a second transformer of
    the same architecture with other random weights. A local diffusers folder like any other: it is
    loaded by path (``--model FOLDER``), not by a name. Returns ``folder`` (which must not exist)."""
    import torch
    from diffusers import WanVACEPipeline, WanVACETransformer3DModel

    parts = components()
    torch.manual_seed(SEED + 1)
    parts["transformer_2"] = WanVACETransformer3DModel(**TRANSFORMER)
    WanVACEPipeline(**parts, boundary_ratio=boundary_ratio).save_pretrained(folder, safe_serialization=True)
    (folder / "NOTE.txt").write_text(NOTE + " (two experts)\n")
    return folder


def built_folder(cache_root: Path) -> Path:
    """Where the tiny model lives under ``cache_root`` (built or not yet)."""
    return cache_root / f"tiny-random-v{BUILD_VERSION}"


def ensure_built(cache_root: Path) -> Path:
    """The tiny model's folder under ``cache_root``, building it on first use."""
    folder = built_folder(cache_root)
    if not (folder / "model_index.json").is_file():
        try:
            folder.parent.mkdir(parents=True, exist_ok=True)
            build(folder)
        except OSError as error:
            from ..errors import ModelError

            raise ModelError(
                f"cannot build tiny-random in {cache_root} ({error.strerror}); set NEURAL_PREVIS_CACHE to a writable folder"
            ) from None
    return folder


def tokenizer():
    """A word-level tokenizer over ``_WORDS`` (anything else is ``<unk>``), T5-style ``</s>`` at the end."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2}
    vocab.update({word: index + 3 for index, word in enumerate(_WORDS)})
    words = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    words.normalizer = normalizers.Lowercase()
    words.pre_tokenizer = pre_tokenizers.Whitespace()
    # Like T5, every sequence ends with </s>.
    words.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    return PreTrainedTokenizerFast(
        tokenizer_object=words, pad_token="<pad>", eos_token="</s>", unk_token="<unk>", model_max_length=512
    )
