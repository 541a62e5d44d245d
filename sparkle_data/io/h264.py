"""A byte-reproducible H.264 MP4 output stream (PyAV), shared by every encoder in the package.

The export re-encoder (``export/_transcode.py``) and the synthetic trees
(``testing/synth/encode.py``) write through :func:`open_bitexact_h264`: the MP4 muxer runs with
``fflags=+bitexact`` (no encoder tag, no creation time), the encoder with the ``BITEXACT`` flag
and one thread, and x264's macroblock-tree rate control off (with it, equal frames encoded twice
in one process were seen to give different bytes). Equal frames then give equal bytes on one
machine.
"""

from __future__ import annotations

from fractions import Fraction
from typing import IO, Any

import av

__all__ = ["open_bitexact_h264"]


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
