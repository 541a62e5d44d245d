"""How to decode a sample: one frozen, validated object for the decoding arguments.

``SparkleDataset``, ``SparkleMapDataset`` and ``hf.load_dataset(decode=True)`` take these as
keyword arguments (``frames=``, ``resize=``, ...) and build one :class:`DecodeOptions`, which
:func:`~sparkle_data.sampling.decode_sample` applies to every field of a sample.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Final, get_args

from sparkle_data.readers.limits import DEFAULT_MAX_DECODED_BYTES
from sparkle_data.sampling._checks import check_choice
from sparkle_data.sampling._output import Output
from sparkle_data.sampling.frames import FrameSampler
from sparkle_data.sampling.geometry import Resize
from sparkle_data.sampling.sync import (
    BOX_FRAME_CHOICES,
    FRAME_MISMATCH_CHOICES,
    BoxFrames,
    FrameMismatch,
)

__all__ = ["OUTPUT_CHOICES", "DecodeOptions", "Output"]

OUTPUT_CHOICES: Final[tuple[Output, ...]] = get_args(Output)


@dataclass(frozen=True, slots=True)
class DecodeOptions:
    """The decoding arguments of a sample, checked once.

    ``frames``: which frames (default every frame); ``resize``: target size and crop (default
    ``None``: every field at the reference field's own size, no rounding, no crop);
    ``frame_mismatch``: ``"error"`` or ``"min"`` when fields disagree in frame count;
    ``box_frames``: ``"exact"`` or ``"nearest"`` grounding frames; ``output``: ``"torch"``
    tensors or ``"numpy"`` arrays (same layouts: videos ``(T, 3, H, W)``);
    ``max_decoded_bytes``: the most bytes one field may decode to (default 1 GiB, see
    :mod:`sparkle_data.readers.limits`; ``None``: no bound), checked before decoding.
    """

    frames: FrameSampler | None = None
    resize: Resize | None = None
    frame_mismatch: FrameMismatch = "error"
    box_frames: BoxFrames = "exact"
    output: Output = "torch"
    max_decoded_bytes: int | None = DEFAULT_MAX_DECODED_BYTES

    def __post_init__(self) -> None:
        if self.frames is not None and not isinstance(self.frames, FrameSampler):
            raise TypeError(
                f"Invalid frames {self.frames!r}: must be a FrameSampler or None, e.g. "
                "FrameSampler('kiwi', num_frames=81)."
            )
        if self.resize is not None and not isinstance(self.resize, Resize):
            raise TypeError(
                f"Invalid resize {self.resize!r}: must be a Resize or None, e.g. "
                "Resize(max_pixels=480 * 832, division=16)."
            )
        check_choice("frame_mismatch", self.frame_mismatch, FRAME_MISMATCH_CHOICES)
        check_choice("box_frames", self.box_frames, BOX_FRAME_CHOICES)
        check_choice("output", self.output, OUTPUT_CHOICES)
        limit = self.max_decoded_bytes
        bad = isinstance(limit, bool) or not isinstance(limit, int) or limit < 1
        if limit is not None and bad:
            raise ValueError(f"Invalid max_decoded_bytes {limit!r}: must be an int >= 1 or None.")

    def with_output(self, output: Output) -> DecodeOptions:
        """The same options with another ``output``."""
        return self if output == self.output else replace(self, output=output)
