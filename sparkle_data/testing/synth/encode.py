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

import av
import numpy as np
import numpy.typing as npt
from PIL import Image

from sparkle_data.io.h264 import open_bitexact_h264

__all__ = ["Mp4Encoder", "encode_png"]


class Mp4Encoder:
    """Feed RGB frames with :meth:`add`, get the MP4 bytes from :meth:`finish`."""

    def __init__(self, width: int, height: int, *, fps: int, crf: int, preset: str) -> None:
        self._width = width
        self._height = height
        self._buf = io.BytesIO()
        self._container, stream = open_bitexact_h264(
            self._buf, width, height, rate=fps, crf=crf, preset=preset
        )
        self._stream = stream
        self._frames = 0
        self._done = False

    def add(self, frame: npt.NDArray[np.uint8]) -> None:
        if frame.shape != (self._height, self._width, 3) or frame.dtype != np.uint8:
            raise ValueError(
                f"Invalid frame {frame.dtype}{frame.shape}: must be uint8 "
                f"({self._height}, {self._width}, 3)."
            )
        video_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        for packet in self._stream.encode(video_frame):
            self._container.mux(packet)
        self._frames += 1

    def finish(self) -> bytes:
        """Flush the encoder, close the container and return the file's bytes."""
        if self._done:
            raise RuntimeError("Mp4Encoder.finish() called twice.")
        if self._frames == 0:
            raise ValueError("Invalid video: no frames were added.")
        for packet in self._stream.encode():
            self._container.mux(packet)
        self._container.close()
        self._done = True
        return self._buf.getvalue()

    def close(self) -> None:
        """Release the encoder without producing output (after an error)."""
        if not self._done:
            self._done = True
            self._container.close()


def encode_png(image: npt.NDArray[np.uint8]) -> bytes:
    """PNG bytes of an ``(H, W, 3)`` uint8 image (no timestamp or text chunks)."""
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buf, format="PNG")
    return buf.getvalue()
