"""``source_frame0``: frame 0 of the source video, decoded, as PNG.

The released frames were extracted from the released videos, so the PNG holds exactly the
pixels a decoder gives for frame 0 (our :func:`~sparkle_data.readers.video.read_video`:
FFmpeg's H.264 decoder, ``yuv420p`` to RGB by swscale), not the frame before encoding.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from sparkle_data.readers.image import encode_png
from sparkle_data.readers.video import read_video
from sparkle_data.regen.canny import Media
from sparkle_data.regen.config import Frame0Config

__all__ = ["decode_frame0", "source_frame0_png"]


def decode_frame0(
    source: Media, *, name: str | None = None, sample_id: str | None = None
) -> npt.NDArray[np.uint8]:
    """Frame 0 of a video as ``(H, W, 3)`` uint8 RGB."""
    frames: npt.NDArray[np.uint8] = read_video(
        source, indices=[0], name=name, sample_id=sample_id
    )
    first: npt.NDArray[np.uint8] = frames[0]
    return first


def source_frame0_png(
    source: Media,
    config: Frame0Config | None = None,
    *,
    name: str | None = None,
    sample_id: str | None = None,
) -> bytes:
    """PNG bytes of frame 0 of ``source`` (bit-exact to the decoded frame)."""
    cfg = config or Frame0Config()
    frame = decode_frame0(source, name=name, sample_id=sample_id)
    return encode_png(frame, compress_level=cfg.compress_level)
