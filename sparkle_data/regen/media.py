"""In-memory encoders for regenerated artifacts, in the card's exact formats.

* MP4: H.264 ``yuv420p`` through :func:`sparkle_data.io.h264.open_bitexact_h264` (bit-exact
  muxer and encoder flags, one thread), so equal frames give equal bytes on one machine.
* PNG: :func:`sparkle_data.readers.image.encode_png` (no metadata chunks).
* NPZ masks: :func:`sparkle_data.readers.mask.encode_mask_npz` (``mask`` + ``shape``,
  packed with ``np.packbits``; readable by the card's ``load_mask``).
"""

from __future__ import annotations

import io

import av
import numpy as np
import numpy.typing as npt

from sparkle_data.io.h264 import open_bitexact_h264

__all__ = ["Mp4Writer", "encode_mp4"]


class Mp4Writer:
    """Feed ``(H, W, 3)`` uint8 RGB frames with :meth:`add`; :meth:`finish` returns the MP4."""

    def __init__(self, width: int, height: int, *, fps: int, crf: int, preset: str) -> None:
        if width <= 0 or height <= 0 or width % 2 or height % 2:
            raise ValueError(f"Invalid video size {width}x{height}: yuv420p needs even sides.")
        self._width = width
        self._height = height
        self._buf = io.BytesIO()
        self._container, self._stream = open_bitexact_h264(
            self._buf, width, height, rate=fps, crf=crf, preset=preset
        )
        self.frames = 0
        self._done = False

    def __repr__(self) -> str:
        return f"Mp4Writer({self._width}x{self._height}, frames={self.frames})"

    def add(self, frame: npt.NDArray[np.uint8]) -> None:
        if frame.shape != (self._height, self._width, 3) or frame.dtype != np.uint8:
            raise ValueError(
                f"Invalid frame {frame.dtype}{frame.shape}: must be uint8 "
                f"({self._height}, {self._width}, 3)."
            )
        vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        for packet in self._stream.encode(vf):
            self._container.mux(packet)
        self.frames += 1

    def finish(self) -> bytes:
        if self._done:
            raise RuntimeError("Mp4Writer.finish() called twice.")
        if self.frames == 0:
            raise ValueError("Invalid video: no frames were added.")
        for packet in self._stream.encode():
            self._container.mux(packet)
        self._container.close()
        self._done = True
        return self._buf.getvalue()

    def close(self) -> None:
        """Release the encoder without output (after an error); safe to call twice."""
        if not self._done:
            self._done = True
            self._container.close()

    def __enter__(self) -> Mp4Writer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


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
