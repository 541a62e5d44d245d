"""Stage configurations: frozen, validated dataclasses with documented defaults.

Every threshold, size, seed and encoder setting a stage uses is a field here, so a run manifest
(:mod:`.manifest`) records exactly how an artifact was made. The authors did not release their
Canny parameters, prompts or seeds: the defaults below are measured (``regen calibrate-canny``)
or chosen and documented, and regenerated artifacts are equivalent in kind, not bit-identical.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Final, Literal, get_args

from sparkle_data.layout import FPS

__all__ = [
    "X264_PRESETS",
    "CannyConfig",
    "Frame0Config",
    "StageConfig",
    "TieRule",
    "VoteConfig",
    "check_int_setting",
    "check_number_setting",
    "check_template_setting",
    "config_from_dict",
    "config_to_dict",
    "invalid_setting",
]

X264_PRESETS: Final = (
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
)
TieRule = Literal["foreground", "background"]


def invalid_setting(config: object, name: str, rule: str) -> ValueError:
    """The error for setting ``name`` of ``config`` breaking ``rule`` (the class, the name,
    the value and the rule)."""
    value = getattr(config, name)
    return ValueError(f"Invalid {type(config).__name__}.{name} {value!r}: {rule}.")


def check_int_setting(config: object, name: str, lo: int, hi: int) -> None:
    """Raise unless setting ``name`` of ``config`` is an int in ``[lo, hi]`` (not a bool)."""
    v = getattr(config, name)
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise invalid_setting(config, name, f"must be an int in [{lo}, {hi}]")


def check_number_setting(config: object, name: str, lo: float, hi: float) -> None:
    """Raise unless setting ``name`` of ``config`` is a number in ``[lo, hi]`` (not a bool)."""
    v = getattr(config, name)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= v <= hi:
        raise invalid_setting(config, name, f"must be a number in [{lo}, {hi}]")


def check_template_setting(config: object, name: str = "prompt_template") -> None:
    """Raise unless setting ``name`` of ``config`` is a non-empty template string."""
    v = getattr(config, name)
    if not isinstance(v, str) or not v.strip():
        raise invalid_setting(config, name, "must be a non-empty template")


@dataclass(frozen=True, slots=True)
class StageConfig:
    """Base of every stage configuration (a frozen dataclass of JSON-able fields)."""


@dataclass(frozen=True, slots=True)
class Frame0Config(StageConfig):
    """``source_frame0``: frame 0 of the decoded source video, as PNG.

    ``compress_level`` is zlib's level for the PNG (6, Pillow's default, as the release uses);
    it changes the file's bytes, never its pixels.
    """

    compress_level: int = 6

    def __post_init__(self) -> None:
        check_int_setting(self, "compress_level", 0, 9)


@dataclass(frozen=True, slots=True)
class CannyConfig(StageConfig):
    """``edited_video_canny``: Canny of the source inside the mask, of the background outside.

    Each frame is converted to grey (ITU-R 601 weights, OpenCV's ``COLOR_RGB2GRAY``), blurred
    with a ``blur`` x ``blur`` Gaussian (``blur_sigma`` 0 lets OpenCV derive it from the size;
    ``blur=0`` means no blur), edged with ``cv2.Canny(low, high)`` and, for ``dilate > 0``,
    dilated with a ``dilate`` x ``dilate`` square. The edges of the source frame are kept
    where the mask is set, those of the background frame elsewhere; the result is written as
    white-on-black RGB H.264 (``crf``, ``x264_preset``, ``fps``).
    """

    blur: int = 5
    blur_sigma: float = 0.0
    low: int = 100
    high: int = 200
    l2_gradient: bool = False
    dilate: int = 0
    crf: int = 23
    x264_preset: str = "veryfast"
    fps: int = FPS

    def __post_init__(self) -> None:
        check_int_setting(self, "blur", 0, 31)
        if self.blur and self.blur % 2 == 0:
            raise invalid_setting(self, "blur", "must be 0 (no blur) or odd")
        check_number_setting(self, "blur_sigma", 0, 50)
        check_int_setting(self, "low", 0, 2000)
        check_int_setting(self, "high", 1, 2000)
        if self.low > self.high:
            raise invalid_setting(self, "low", f"must be <= high ({self.high})")
        if not isinstance(self.l2_gradient, bool):
            raise invalid_setting(self, "l2_gradient", "must be a bool")
        check_int_setting(self, "dilate", 0, 15)
        check_int_setting(self, "crf", 0, 51)
        if self.x264_preset not in X264_PRESETS:
            raise invalid_setting(self, "x264_preset", f"must be one of {X264_PRESETS}")
        check_int_setting(self, "fps", 1, 240)


@dataclass(frozen=True, slots=True)
class VoteConfig(StageConfig):
    """BAIT vote: a pixel is foreground when more than half of the passes that cover its
    frame mark it. ``tie`` decides exactly half: ``"foreground"`` (default; a missed
    foreground pixel shows the old background through the edit, a spare one only widens the
    Canny hand-over) or ``"background"``. A frame no pass covers is all background."""

    tie: TieRule = "foreground"

    def __post_init__(self) -> None:
        if self.tie not in get_args(TieRule):
            raise invalid_setting(self, "tie", f"must be one of {get_args(TieRule)}")


def config_to_dict(config: StageConfig) -> dict[str, Any]:
    """The config's fields as a JSON-able dict (for manifests and reports)."""
    return dataclasses.asdict(config)


def config_from_dict(cls: type[StageConfig], data: dict[str, Any]) -> StageConfig:
    """Rebuild ``cls`` from :func:`config_to_dict` output; unknown keys raise ``ValueError``."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(
            f"Invalid {cls.__name__} keys {unknown}: expected some of {sorted(names)}."
        )
    return cls(**data)
