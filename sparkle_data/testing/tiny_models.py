"""Tiny random-config checkpoints of the regen model stages, for tests and smoke runs.

Each ``save_tiny_*`` builds a model of the real class with a few layers and widths of 8-48,
random weights (seeded), and ``save_pretrained``-s it to a folder: the stage then loads it
through the same ``from_pretrained`` path as a real checkpoint folder (``--config
STAGE.model=DIR``). Outputs are noise; shapes, formats and the code path are the real ones.
A CPU call takes about a second. Needs the model extra (``pip install
"sparkle-data[regen-models]"``); the tokenizer is a 256-byte byte-level BPE built offline
(no Hub access).
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any, Final

__all__ = [
    "CHAT_TEMPLATE",
    "VL_CHAT_TEMPLATE",
    "save_tiny_flux2_klein",
    "save_tiny_qwen3_vl",
    "save_tiny_sam3_tracker",
    "save_tiny_wan_i2v",
    "tiny_tokenizer",
]

CHAT_TEMPLATE: Final = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
VL_CHAT_TEMPLATE: Final = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{% if m['content'] is string %}"
    "{{ m['content'] }}{% else %}{% for c in m['content'] %}{% if c['type'] == 'image' %}"
    "<|vision_start|><|image_pad|><|vision_end|>{% else %}{{ c['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
"""Qwen-VL's chat layout: an image item becomes ``<|vision_start|><|image_pad|><|vision_end|>``."""
_SPECIALS: Final = (
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
    "<|image_pad|>", "<|video_pad|>",
)
TINY_FLUX_LAYERS: Final = "1,2,3"
"""``FluxEditConfig.text_encoder_layers`` for :func:`save_tiny_flux2_klein` (3 layers)."""


def _libs() -> tuple[Any, Any, Any]:
    return (importlib.import_module("torch"), importlib.import_module("diffusers"),
            importlib.import_module("transformers"))


def tiny_tokenizer() -> Any:
    """A Qwen2 fast tokenizer over the 256 byte symbols plus Qwen's special tokens."""
    tk: Any = importlib.import_module("tokenizers")
    pre_tokenizers, decoders, models = tk.pre_tokenizers, tk.decoders, tk.models
    Qwen2TokenizerFast = _libs()[2].Qwen2TokenizerFast  # noqa: N806

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    tok = tk.Tokenizer(models.BPE(vocab={ch: i for i, ch in enumerate(alphabet)}, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(list(_SPECIALS))
    specials = {"eos_token": _SPECIALS[2], "pad_token": _SPECIALS[0]}
    fast = Qwen2TokenizerFast(tokenizer_object=tok, unk_token=None, **specials)
    fast.chat_template = CHAT_TEMPLATE
    return fast


def save_tiny_flux2_klein(path: str | os.PathLike[str], *, seed: int = 0) -> Path:
    """A tiny ``Flux2KleinPipeline`` (Qwen3 text encoder with 3 layers: run it with
    ``text_encoder_layers="1,2,3"``)."""
    torch, d, t = _libs()
    torch.manual_seed(seed)
    tok = tiny_tokenizer()
    text = t.Qwen3ForCausalLM(t.Qwen3Config(
        vocab_size=len(tok), hidden_size=16, intermediate_size=32, num_hidden_layers=3,
        num_attention_heads=2, num_key_value_heads=1, head_dim=8, max_position_embeddings=1024,
    ))
    transformer = d.Flux2Transformer2DModel(
        patch_size=1, in_channels=16, num_layers=1, num_single_layers=1, attention_head_dim=16,
        num_attention_heads=2, joint_attention_dim=48, timestep_guidance_channels=32,
        axes_dims_rope=(4, 4, 4, 4), guidance_embeds=False,
    )
    vae = d.AutoencoderKLFlux2(
        block_out_channels=(8, 16), down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2, layers_per_block=1, latent_channels=4,
        norm_num_groups=4, sample_size=32,
    )
    pipe = d.Flux2KleinPipeline(
        scheduler=d.FlowMatchEulerDiscreteScheduler(), vae=vae, text_encoder=text, tokenizer=tok,
        transformer=transformer, is_distilled=True,
    )
    out = Path(path)
    pipe.save_pretrained(out)
    return out


def save_tiny_wan_i2v(path: str | os.PathLike[str], *, seed: int = 0) -> Path:
    """A tiny two-expert ``WanImageToVideoPipeline`` (``boundary_ratio=0.9``, no image
    encoder, as Wan2.2-I2V-A14B)."""
    torch, d, t = _libs()
    torch.manual_seed(seed)
    tok = tiny_tokenizer()
    text = t.UMT5EncoderModel(t.UMT5Config(
        vocab_size=len(tok), d_model=16, d_kv=8, d_ff=32, num_layers=1, num_heads=2,
        relative_attention_num_buckets=8,
    ))

    def expert() -> Any:
        return d.WanTransformer3DModel(
            patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=8, in_channels=36,
            out_channels=16, text_dim=16, freq_dim=16, ffn_dim=32, num_layers=1,
            rope_max_seq_len=32,
        )

    vae = d.AutoencoderKLWan(
        base_dim=8, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
        temperal_downsample=[False, True, True],
    )
    pipe = d.WanImageToVideoPipeline(
        tokenizer=tok, text_encoder=text, vae=vae,
        scheduler=d.FlowMatchEulerDiscreteScheduler(shift=5.0), transformer=expert(),
        transformer_2=expert(), boundary_ratio=0.9,
    )
    out = Path(path)
    pipe.save_pretrained(out)
    return out


def save_tiny_sam3_tracker(path: str | os.PathLike[str], *, seed: int = 0) -> Path:
    """A tiny ``Sam3TrackerVideoModel`` (56 px input, width 128, memory channels 64: the
    tracker needs memory channels 64 and a width above them)."""
    torch, _, t = _libs()
    torch.manual_seed(seed)
    size, width = 56, 128
    config = t.Sam3TrackerVideoConfig(
        vision_config={
            "model_type": "sam3_vision_model", "fpn_hidden_size": width,
            "backbone_feature_sizes": [[16, 16], [8, 8], [4, 4]],
            "backbone_config": {
                "model_type": "sam3_vit_model", "hidden_size": width, "intermediate_size": 128,
                "num_hidden_layers": 2, "num_attention_heads": 2, "image_size": size,
                "patch_size": 14, "window_size": 2, "pretrain_image_size": size,
            },
        },
        prompt_encoder_config={"model_type": "sam3_tracker_video_prompt_encoder",
                               "hidden_size": width, "image_size": size, "patch_size": 14},
        mask_decoder_config={"model_type": "sam3_tracker_video_mask_decoder",
                             "hidden_size": width, "mlp_dim": 128, "num_attention_heads": 2,
                             "iou_head_hidden_dim": width},
        image_size=size, memory_attention_hidden_size=width, memory_attention_num_layers=1,
        memory_attention_feed_forward_hidden_size=128, memory_attention_rope_feat_sizes=[4, 4],
        memory_encoder_hidden_size=width, memory_encoder_output_channels=64,
        mask_downsampler_embed_dim=width, memory_fuser_embed_dim=width,
        memory_fuser_intermediate_dim=128, memory_fuser_num_layers=1,
    )
    model = t.Sam3TrackerVideoModel(config)
    out = Path(path)
    model.save_pretrained(out)
    return out


def save_tiny_qwen3_vl(
    path: str | os.PathLike[str], *, answer: str | None = None, seed: int = 0
) -> Path:
    """A tiny ``Qwen3VLForConditionalGeneration`` with its tokenizer and (PIL) image processor.

    With ``answer``, the weights are set so that greedy decoding answers exactly ``answer``
    to any prompt, then stops: the answer is one added token, every decoder layer's output
    projections are zero (the last hidden state is the last token's embedding), and the LM
    head maps every token's embedding to the answer and the answer's to end-of-text. The
    vision tower, the image-token merge and ``generate`` still run for real. Without
    ``answer`` the weights are random (the answer is noise, which a grounding parser rejects).
    """
    torch, _, t = _libs()
    torch.manual_seed(seed)
    tok = tiny_tokenizer()
    tok.chat_template = VL_CHAT_TEMPLATE
    if answer is not None:
        tok.add_tokens([answer])
    ids = tok.convert_tokens_to_ids(
        ["<|image_pad|>", "<|video_pad|>", "<|vision_start|>", "<|vision_end|>"]
    )
    config = t.Qwen3VLConfig(
        text_config={
            "vocab_size": len(tok), "hidden_size": 32, "intermediate_size": 64,
            "num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": 1,
            "head_dim": 16, "max_position_embeddings": 4096, "tie_word_embeddings": False,
            "rope_scaling": {"rope_type": "default", "mrope_section": [2, 3, 3],
                             "mrope_interleaved": True},
        },
        vision_config={
            "depth": 2, "hidden_size": 32, "intermediate_size": 64, "num_heads": 2,
            "out_hidden_size": 32, "patch_size": 16, "temporal_patch_size": 2,
            "spatial_merge_size": 2, "deepstack_visual_indexes": [1],
            "num_position_embeddings": 64,
        },
        image_token_id=ids[0], video_token_id=ids[1], vision_start_token_id=ids[2],
        vision_end_token_id=ids[3], tie_word_embeddings=False,
    )
    model = t.Qwen3VLForConditionalGeneration(config)
    eos = tok.eos_token_id
    if answer is not None:
        said = tok.convert_tokens_to_ids(answer)
        with torch.no_grad():
            text = model.model.language_model
            for layer in text.layers:
                layer.self_attn.o_proj.weight.zero_()
                layer.mlp.down_proj.weight.zero_()
            emb = text.embed_tokens.weight
            emb.zero_()
            emb[:, 0] = 1.0
            emb[said, 0], emb[said, 1] = 0.0, 1.0
            head = model.lm_head.weight
            head.zero_()
            head[said, 0], head[eos, 1] = 10.0, 10.0
    model.generation_config.eos_token_id = eos
    model.generation_config.pad_token_id = tok.pad_token_id
    out = Path(path)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    t.Qwen2VLImageProcessorPil(
        patch_size=16, temporal_patch_size=2, merge_size=2,
        size={"shortest_edge": 32 * 32, "longest_edge": 128 * 128},
    ).save_pretrained(out)
    return out
