"""Size presets of the synthetic tree: frame size, frame rate, encoder settings, shard size."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal, get_args

from sparkle_data.layout import FPS

__all__ = ["PRESET_NAMES", "SAMPLE_PRESETS", "Preset", "PresetName", "get_sample_preset"]

PresetName = Literal["tiny", "real"]
PRESET_NAMES: Final[tuple[PresetName, ...]] = get_args(PresetName)


@dataclass(frozen=True, slots=True)
class Preset:
    """How big the synthetic videos are and how they are encoded."""

    name: PresetName
    width: int
    height: int
    fps: int
    crf: int
    """x264 constant rate factor."""
    x264_preset: str
    shard_size: int
    """Default maximum bytes per tar shard (the real dataset uses ~5 GB)."""

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0 or self.width % 2 or self.height % 2:
            raise ValueError(
                f"Invalid preset size {self.width}x{self.height}: yuv420p needs even sides."
            )
        if (self.width * self.height) % 8:
            raise ValueError(
                f"Invalid preset size {self.width}x{self.height}: H*W must be a multiple of 8 "
                "so every mask frame starts on a byte boundary."
            )


SAMPLE_PRESETS: Final[dict[PresetName, Preset]] = {
    # 16:9 like the real clips, 1/13 of the side: encodes in milliseconds.
    "tiny": Preset("tiny", 96, 54, FPS, 20, "veryfast", 96 * 1024),
    # What the real corpus holds: 1280x720, 16 fps, H.264 yuv420p.
    "real": Preset("real", 1280, 720, FPS, 23, "veryfast", 8 * 1024 * 1024),
}


def get_sample_preset(name: str) -> Preset:
    """Look up a preset by name; raises ``ValueError`` naming the choices."""
    try:
        return SAMPLE_PRESETS[name]  # type: ignore[index]
    except KeyError:
        raise ValueError(
            f"Invalid preset {name!r}: must be one of {', '.join(PRESET_NAMES)}."
        ) from None
