"""Byte-deterministic encoders: H.264 MP4 (PyAV) and PNG (Pillow), in memory.

The MP4 muxer runs with ``fflags=+bitexact`` (no encoder tag, no creation time), the encoder
with the ``BITEXACT`` flag and one thread, so equal frames give equal bytes on one machine.
x264's macroblock-tree rate control is off: on small frames it made the output depend on
what the process had allocated before (seen with PyAV 18 / x264 core 165: the same frames
encoded twice in one process gave different bytes; ``mbtree=0``, ``bframes=0`` or
``rc-lookahead=0`` each cured it). B-frames stay on, as in the real clips, so packets arrive
with ``dts != pts``. Output matches the real clips: H.264, yuv420p, 16 fps, no audio.
"""

from __future__ import annotations

import io

import numpy as np
import numpy.typing as npt
from PIL import Image

from sparkle_data.io.h264 import Mp4Writer

__all__ = ["Mp4Encoder", "encode_png"]


class Mp4Encoder(Mp4Writer):
    """Feed RGB frames with :meth:`add`, get the MP4 bytes from :meth:`finish` (the package's
    :class:`~sparkle_data.io.h264.Mp4Writer`, under the name the synthetic trees use)."""


def encode_png(image: npt.NDArray[np.uint8]) -> bytes:
    """PNG bytes of an ``(H, W, 3)`` uint8 image (no timestamp or text chunks)."""
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buf, format="PNG")
    return buf.getvalue()
