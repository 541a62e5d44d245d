"""FLUX.2-klein stages: ``edited_frame0`` (the edit) and ``edited_frame0_foreground_removed``.

Both call ``diffusers.Flux2KleinPipeline(image=frame, prompt=..., num_inference_steps=4,
guidance_scale=1.0)`` (the distilled 4-step model, CFG off) on one frame and keep the input's
size. The pipeline wants sides that are multiples of 16 and at least 64 px: a frame that is
not (the corpus' 1280x720 is) is resized to the nearest such size for the model and the
result resized back (Lanczos), so the output always has the input's size.

Prompts: ``edited_frame0`` sends the sample's instruction (the CSV ``prompt``) through
``prompt_template`` (default ``"{prompt}"``: the instruction as is). The authors did not
publish their foreground-removal prompt; ``edited_frame0_foreground_removed`` uses ours,
:data:`REMOVE_TEMPLATE`, filled with the round-1 labels of
``foreground_grounding_r1.jsonl``. Both are config values (``--config STAGE.prompt_template=``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from sparkle_data.readers.image import encode_png
from sparkle_data.regen.config import (
    check_int_setting,
    check_number_setting,
    check_template_setting,
)
from sparkle_data.regen.models.common import (
    ModelConfig,
    cached_model,
    load_checked,
    load_key,
    place_pipeline,
    require,
)
from sparkle_data.regen.stage import SampleInputs

__all__ = [
    "EDIT_TEMPLATE",
    "FLUX_KLEIN_MODEL",
    "REMOVE_TEMPLATE",
    "FluxEditConfig",
    "FluxRemoveConfig",
    "load_flux",
    "model_size",
    "removal_labels",
    "run_edit",
    "run_remove",
]

FLUX_KLEIN_MODEL: Final = "black-forest-labs/FLUX.2-klein-9B"
EDIT_TEMPLATE: Final = "{prompt}"
REMOVE_TEMPLATE: Final = (
    "Remove the following from the image: {labels}. Fill their area with the background "
    "that would be behind them, matching its lighting and perspective, and keep everything "
    "else unchanged."
)
_MULTIPLE: Final = 16
_MIN_SIDE: Final = 64
# bf16 weights of FLUX.2-klein-9B: transformer ~9B params (~17 GiB), Qwen3-8B text encoder
# (~15 GiB), VAE (<0.2 GiB); one 1280x720 edit adds ~2 GiB of activations.
_TOTAL_GIB: Final = 34.0
_LARGEST_GIB: Final = 17.0


@dataclass(frozen=True, slots=True)
class FluxEditConfig(ModelConfig):
    """``edited_frame0``: FLUX.2-klein edit of frame 0 (see the module docstring).

    ``guidance_scale`` 1.0 (CFG off, as the distilled model is run); ``prompt_template``
    gets ``{prompt}`` (the sample's instruction); ``max_sequence_length`` caps prompt
    tokens; ``text_encoder_layers`` are the text-encoder hidden layers FLUX.2-klein stacks
    (``"9,18,27"`` for the released checkpoints; tiny test models use fewer).
    """

    model: str = FLUX_KLEIN_MODEL
    guidance_scale: float = 1.0
    prompt_template: str = EDIT_TEMPLATE
    max_sequence_length: int = 512
    text_encoder_layers: str = "9,18,27"

    def __post_init__(self) -> None:
        ModelConfig.__post_init__(self)
        check_number_setting(self, "guidance_scale", 0, 30)
        check_template_setting(self)
        check_int_setting(self, "max_sequence_length", 8, 4096)
        self.layers()

    def layers(self) -> tuple[int, ...]:
        try:
            out = tuple(int(x) for x in str(self.text_encoder_layers).split(","))
        except ValueError:
            out = ()
        if not out or min(out) < 0:
            raise ValueError(
                f"Invalid {type(self).__name__}.text_encoder_layers "
                f"{self.text_encoder_layers!r}: must be comma-separated layer numbers, "
                "e.g. '9,18,27'."
            )
        return out


@dataclass(frozen=True, slots=True)
class FluxRemoveConfig(FluxEditConfig):
    """``edited_frame0_foreground_removed``: FLUX.2-klein removal of the round-1 labels.

    ``prompt_template`` gets ``{labels}`` (the labels joined with ``"; "``) and may use
    ``{prompt}`` (the sample's instruction).
    """

    prompt_template: str = REMOVE_TEMPLATE


def model_size() -> tuple[float, float]:
    """(total, largest component) GiB of the bf16 weights, for the memory check."""
    return _TOTAL_GIB, _LARGEST_GIB


def load_flux(config: ModelConfig, *, stage: str) -> Any:
    """The ``Flux2KleinPipeline`` of ``config`` (loaded and placed once per worker; the two
    FLUX stages share it)."""
    return cached_model(load_key("flux2-klein", config), lambda: _load(config, stage))


def _load(config: ModelConfig, stage: str) -> Any:
    pipe = load_checked("diffusers", "Flux2KleinPipeline", config, stage=stage,
                        gib=(_TOTAL_GIB, _LARGEST_GIB))
    return place_pipeline(pipe, config)


def _model_size(width: int, height: int) -> tuple[int, int]:
    scale = max(1.0, _MIN_SIDE / min(width, height))
    w = max(_MIN_SIDE, math.ceil(width * scale / _MULTIPLE) * _MULTIPLE)
    h = max(_MIN_SIDE, math.ceil(height * scale / _MULTIPLE) * _MULTIPLE)
    return w, h


def edit_frame(
    pipe: Any, frame: np.ndarray[Any, Any], prompt: str, config: FluxEditConfig
) -> np.ndarray[Any, Any]:
    """Run the pipeline on one ``(H, W, 3)`` uint8 frame; the result has the same size."""
    image_mod = require("PIL.Image", stage="flux")
    torch = require("torch", stage="flux")
    height, width = frame.shape[:2]
    img = image_mod.fromarray(frame)
    w, h = _model_size(width, height)
    if (w, h) != (width, height):
        img = img.resize((w, h), image_mod.LANCZOS)
    device = "cpu" if config.device == "cpu" else config.device
    gen = torch.Generator(device=device).manual_seed(config.seed)
    out = pipe(
        image=img,
        prompt=prompt,
        height=h,
        width=w,
        num_inference_steps=config.steps,
        guidance_scale=config.guidance_scale,
        generator=gen,
        max_sequence_length=config.max_sequence_length,
        text_encoder_out_layers=config.layers(),
    )
    result = out.images[0].convert("RGB")
    if result.size != (width, height):
        result = result.resize((width, height), image_mod.LANCZOS)
    arr: np.ndarray[Any, Any] = np.asarray(result, dtype=np.uint8)
    return arr


def removal_labels(labels: Sequence[str]) -> str:
    """``labels`` joined for a removal prompt's ``{labels}`` (at least one is required)."""
    cleaned = [str(x).strip() for x in labels if str(x).strip()]
    if not cleaned:
        raise ValueError("Invalid round-1 labels []: nothing to remove.")
    return "; ".join(cleaned)


def run_edit(inputs: SampleInputs, config: Any, model: Any) -> Mapping[str, bytes]:
    """Stage ``edited_frame0``: ``source_frame0`` + instruction -> edited PNG."""
    model = load_flux(config, stage="edited_frame0")
    frame = inputs.frame("source_frame0")
    prompt = inputs.fill(config.prompt_template)
    return {"edited_frame0": encode_png(edit_frame(model, frame, prompt, config))}


def run_remove(inputs: SampleInputs, config: Any, model: Any) -> Mapping[str, bytes]:
    """Stage ``edited_frame0_foreground_removed``: edited frame 0 minus the round-1 labels."""
    model = load_flux(config, stage="edited_frame0_foreground_removed")
    frame = inputs.frame("edited_frame0")
    labels = removal_labels(inputs.round1_labels())
    text = inputs.fill(config.prompt_template, labels=labels)
    return {"edited_frame0_foreground_removed": encode_png(edit_frame(model, frame, text, config))}
