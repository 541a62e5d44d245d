"""Wan2.2-I2V-A14B stage: ``edited_background_video`` from the foreground-removed frame 0.

``diffusers.WanImageToVideoPipeline`` with its two experts (``transformer`` for high noise,
``transformer_2`` for low noise, switched at ``boundary_ratio * 1000``), CFG off
(``guidance_scale = guidance_scale_2 = 1.0``), ``height=720, width=1280, num_frames=81``
(the pipeline's defaults are 480x832), encoded as H.264 ``yuv420p`` at 16 fps.

The LightX2V 4-step schedule is pinned by :func:`lightx2v_scheduler`: a
``FlowMatchEulerDiscreteScheduler`` whose ``set_timesteps`` always uses ``sigmas``
(default ``1.0, 0.75, 0.5, 0.25``) shifted by ``shift`` (5.0), giving timesteps
1000, 937.5, 833.3, 625 (the first two on the high-noise expert for ``boundary_ratio``
0.9); the pipeline has no ``sigmas=`` argument. The LightX2V step-distillation LoRAs (not
released with the dataset: pick the artifact and record it) load with ``lora_high`` /
``lora_low`` (``load_lora_weights``, the second ``load_into_transformer_2=True``).

The prompt is ours (:data:`BACKGROUND_TEMPLATE`, the authors did not publish theirs), built
from the sample's instruction. A generation size other than the source's (only in tests:
the corpus is 1280x720) is resized back to the source size, so the video lines up with it.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from sparkle_data.layout import FPS
from sparkle_data.readers.video import probe_video
from sparkle_data.regen.config import (
    X264_PRESETS,
    check_int_setting,
    check_number_setting,
    check_template_setting,
    invalid_setting,
)
from sparkle_data.regen.media import encode_mp4
from sparkle_data.regen.models.common import (
    ModelConfig,
    cached_model,
    load_checked,
    load_key,
    place_pipeline,
    require,
    require_class,
)
from sparkle_data.regen.stage import SampleInputs

__all__ = [
    "BACKGROUND_TEMPLATE",
    "WAN_I2V_MODEL",
    "WanConfig",
    "generate_video",
    "lightx2v_scheduler",
    "lightx2v_timesteps",
    "load_wan",
    "run_background",
]

WAN_I2V_MODEL: Final = "Wan-AI/Wan2.2-I2V-A14B-Diffusers"
BACKGROUND_TEMPLATE: Final = (
    "{prompt} The scene is empty: only the background, with no people or foreground "
    "objects. Gentle, natural camera motion; realistic lighting."
)
# bf16: two 14B experts (~26.6 GiB each), UMT5-XXL text encoder (~10.6 GiB), VAE; with
# model offload one expert is resident (~27 GiB + 720p activations).
_TOTAL_GIB: Final = 66.0
_LARGEST_GIB: Final = 27.0


def _floats(cls: str, name: str, text: str) -> tuple[float, ...]:
    try:
        out = tuple(float(x) for x in str(text).split(","))
    except ValueError:
        out = ()
    if not out or any(not 0 < v <= 1 for v in out) or list(out) != sorted(out, reverse=True):
        raise ValueError(
            f"Invalid {cls}.{name} {text!r}: must be comma-separated decreasing values in "
            "(0, 1], e.g. '1.0,0.75,0.5,0.25'."
        )
    return out


@dataclass(frozen=True, slots=True)
class WanConfig(ModelConfig):
    """``edited_background_video`` (see the module docstring). ``steps`` must equal the
    number of ``sigmas``. ``crf`` / ``x264_preset`` / ``fps`` shape the H.264 output."""

    model: str = WAN_I2V_MODEL
    sigmas: str = "1.0,0.75,0.5,0.25"
    shift: float = 5.0
    boundary_ratio: float = 0.9
    guidance_scale: float = 1.0
    guidance_scale_2: float = 1.0
    height: int = 720
    width: int = 1280
    num_frames: int = 81
    prompt_template: str = BACKGROUND_TEMPLATE
    negative_prompt: str = ""
    max_sequence_length: int = 512
    lora_high: str | None = None
    lora_low: str | None = None
    fps: int = FPS
    crf: int = 18
    x264_preset: str = "medium"

    def __post_init__(self) -> None:
        ModelConfig.__post_init__(self)
        c = "WanConfig"
        sig = _floats(c, "sigmas", self.sigmas)
        if len(sig) != self.steps:
            raise invalid_setting(self, "steps", f"must equal the number of sigmas ({len(sig)})")
        check_number_setting(self, "shift", 0.1, 50.0)
        check_number_setting(self, "boundary_ratio", 0.0, 1.0)
        check_number_setting(self, "guidance_scale", 0.0, 30.0)
        check_number_setting(self, "guidance_scale_2", 0.0, 30.0)
        for name in ("height", "width"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 16 or v % 16:
                raise invalid_setting(self, name, "must be a multiple of 16, >= 16")
        n = self.num_frames
        if isinstance(n, bool) or not isinstance(n, int) or n < 5 or (n - 1) % 4:
            raise invalid_setting(self, "num_frames", "must be 4k + 1 (e.g. 81), >= 5")
        check_template_setting(self)
        if self.x264_preset not in X264_PRESETS:
            raise invalid_setting(self, "x264_preset", f"must be one of {X264_PRESETS}")
        check_int_setting(self, "fps", 1, 240)
        check_int_setting(self, "crf", 0, 51)
        check_int_setting(self, "max_sequence_length", 8, 4096)

    def sigma_values(self) -> tuple[float, ...]:
        return _floats("WanConfig", "sigmas", self.sigmas)


@functools.cache
def _scheduler_class() -> Any:
    base = require_class("diffusers", "FlowMatchEulerDiscreteScheduler", stage="wan")

    class LightX2VScheduler(base):  # type: ignore[misc, valid-type]
        """Flow-matching Euler with a pinned sigma schedule (LightX2V 4-step)."""

        pinned_sigmas: tuple[float, ...] = (1.0, 0.75, 0.5, 0.25)

        def set_timesteps(
            self,
            num_inference_steps: int | None = None,
            device: Any = None,
            sigmas: Any = None,
            mu: Any = None,
            timesteps: Any = None,
        ) -> None:
            super().set_timesteps(sigmas=list(self.pinned_sigmas), device=device, mu=mu)

    return LightX2VScheduler


def lightx2v_scheduler(config: WanConfig) -> Any:
    """A scheduler object that always runs ``config.sigmas`` shifted by ``config.shift``."""
    sched = _scheduler_class()(num_train_timesteps=1000, shift=float(config.shift))
    sched.pinned_sigmas = config.sigma_values()
    return sched


def lightx2v_timesteps(config: WanConfig) -> list[float]:
    """The timesteps the pinned schedule runs (``[1000, 937.5, 833.3, 625]`` by default)."""
    sched = lightx2v_scheduler(config)
    sched.set_timesteps(config.steps)
    return [float(t) for t in sched.timesteps]


def load_wan(config: WanConfig, *, stage: str) -> Any:
    """The ``WanImageToVideoPipeline`` of ``config`` with the pinned scheduler and optional
    LoRAs (loaded and placed once per worker)."""
    extra = (config.sigmas, config.shift, config.boundary_ratio, config.lora_high,
             config.lora_low)
    return cached_model(load_key("wan2.2-i2v", config, *extra), lambda: _load(config, stage))


def _load(config: WanConfig, stage: str) -> Any:
    require("ftfy", stage=stage)  # the pipeline's prompt cleaning
    pipe = load_checked("diffusers", "WanImageToVideoPipeline", config, stage=stage,
                        gib=(_TOTAL_GIB, _LARGEST_GIB), scheduler=lightx2v_scheduler(config))
    if pipe.config.boundary_ratio is None or getattr(pipe, "transformer_2", None) is None:
        raise ValueError(
            f"Invalid {stage}.model {config.model!r}: not a two-expert Wan2.2 checkpoint "
            "(no transformer_2 / boundary_ratio)."
        )
    pipe.register_to_config(boundary_ratio=float(config.boundary_ratio))
    if config.lora_high:
        pipe.load_lora_weights(config.lora_high, adapter_name="lightx2v")
    if config.lora_low:
        pipe.load_lora_weights(config.lora_low, adapter_name="lightx2v_2",
                               load_into_transformer_2=True)
    return place_pipeline(pipe, config)


def generate_video(
    pipe: Any, image: np.ndarray[Any, Any], prompt: str, config: WanConfig
) -> np.ndarray[Any, Any]:
    """``(num_frames, height, width, 3)`` uint8 frames from one ``(H, W, 3)`` image."""
    image_mod = require("PIL.Image", stage="wan")
    torch = require("torch", stage="wan")
    gen = torch.Generator(device=config.device).manual_seed(config.seed)
    out = pipe(
        image=image_mod.fromarray(image),
        prompt=prompt,
        negative_prompt=config.negative_prompt or None,
        height=config.height,
        width=config.width,
        num_frames=config.num_frames,
        num_inference_steps=config.steps,
        guidance_scale=config.guidance_scale,
        guidance_scale_2=config.guidance_scale_2,
        generator=gen,
        max_sequence_length=config.max_sequence_length,
        output_type="np",
    )
    frames = np.asarray(out.frames[0], dtype=np.float32)
    video: np.ndarray[Any, Any] = (np.clip(frames, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    return video


def _resize(video: np.ndarray[Any, Any], width: int, height: int) -> np.ndarray[Any, Any]:
    if video.shape[1:3] == (height, width):
        return video
    image_mod = require("PIL.Image", stage="wan")
    return np.stack(
        [np.asarray(image_mod.fromarray(f).resize((width, height), image_mod.LANCZOS))
         for f in video]
    )


def run_background(inputs: SampleInputs, config: Any, model: Any) -> Mapping[str, bytes]:
    """Stage ``edited_background_video``: the clean frame 0 animated, at the source size."""
    model = load_wan(config, stage="edited_background_video")
    frame = inputs.frame("edited_frame0_foreground_removed")
    info = probe_video(inputs.need("source_video"), sample_id=inputs.sample_id)
    text = inputs.fill(config.prompt_template).strip()
    video = _resize(generate_video(model, frame, text, config), info.width, info.height)
    data = encode_mp4(video, fps=config.fps, crf=config.crf, preset=config.x264_preset)
    return {"edited_background_video": data}
