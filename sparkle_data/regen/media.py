"""In-memory encoders for regenerated artifacts, in the card's exact formats.

* MP4: H.264 ``yuv420p`` through :class:`sparkle_data.io.h264.Mp4Writer` (bit-exact muxer and
  encoder flags, one thread), so equal frames give equal bytes on one machine.
* PNG: :func:`sparkle_data.readers.image.encode_png` (no metadata chunks).
* NPZ masks: :func:`sparkle_data.readers.mask.encode_mask_npz` (``mask`` + ``shape``,
  packed with ``np.packbits``; readable by the card's ``load_mask``).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from sparkle_data.io.h264 import Mp4Writer

__all__ = ["Mp4Writer", "encode_mp4"]


def encode_mp4(
    frames: npt.NDArray[np.uint8], *, fps: int, crf: int, preset: str
) -> bytes:
    """MP4 bytes of a ``(T, H, W, 3)`` uint8 RGB array."""
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"Invalid frames shape {frames.shape}: must be (T, H, W, 3).")
    with Mp4Writer(frames.shape[2], frames.shape[1], fps=fps, crf=crf, preset=preset) as w:
        for f in frames:
            w.add(f)
        return w.finish()
