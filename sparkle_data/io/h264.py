"""A byte-reproducible H.264 MP4 output stream (PyAV), shared by every encoder in the package.

The export re-encoder (``export/_transcode.py``) writes through :func:`open_bitexact_h264`;
regeneration (``regen/media.py``) and the synthetic trees (``testing/synth/encode.py``) feed
RGB frames to :class:`Mp4Writer`, which writes through it. There the MP4 muxer runs with
``fflags=+bitexact`` (no encoder tag, no creation time), the encoder with the ``BITEXACT`` flag
and one thread, and x264's macroblock-tree rate control off (with it, equal frames encoded twice
in one process were seen to give different bytes). Equal frames then give equal bytes on one
machine.
"""

from __future__ import annotations

import io
from fractions import Fraction
from typing import IO, Any

import av
import numpy as np
import numpy.typing as npt

__all__ = ["Mp4Writer", "open_bitexact_h264"]


def open_bitexact_h264(
    out: IO[bytes], width: int, height: int, *, rate: int | Fraction, crf: int, preset: str
) -> tuple[Any, Any]:
    """``(container, stream)``: a ``yuv420p`` libx264 stream in an MP4 written to ``out``."""
    container: Any = av.open(out, mode="w", format="mp4", options={"fflags": "+bitexact"})
    stream: Any = container.add_stream(
        "libx264",
        rate=rate,
        options={"crf": str(crf), "preset": preset, "x264-params": "mbtree=0"},
    )
    stream.width = width
    stream.height = height
    stream.pix_fmt = "yuv420p"
    stream.thread_count = 1
    stream.codec_context.flags |= av.codec.context.Flags.bitexact
    return container, stream


class Mp4Writer:
    """Feed ``(H, W, 3)`` uint8 RGB frames with :meth:`add`; :meth:`finish` returns the MP4.

    A context manager: leaving the block without :meth:`finish` (after an error) releases
    the encoder without output.
    """

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
        """Frames added so far."""
        self._done = False

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._width}x{self._height}, frames={self.frames})"

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
        """Flush the encoder, close the container and return the file's bytes."""
        if self._done:
            raise RuntimeError(f"{type(self).__name__}.finish() called twice.")
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
