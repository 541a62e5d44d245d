"""H.264 MP4 -> VP9 WebM, for browsers built without H.264 (open-source Chromium builds).

The viewer lists both sources in each ``<video>``: the MP4 first with its codec string, the
WebM second. A browser that can play H.264 never asks for the WebM; one that cannot picks the
WebM, which is encoded here on first request (PyAV, ``libvpx-vp9`` in realtime mode) and then
cached by the app.
"""

from __future__ import annotations

import io
from fractions import Fraction
from typing import IO

__all__ = ["transcode_vp9_webm"]


def transcode_vp9_webm(source: IO[bytes], *, crf: int = 34, max_height: int = 720) -> bytes:
    """Re-encode every frame of ``source`` as VP9 in WebM (same frame count and rate).

    Frames taller than ``max_height`` are scaled down (aspect kept, even sizes).
    """
    import av

    out = io.BytesIO()
    with av.open(source, mode="r") as inp:
        stream = inp.streams.video[0]
        stream.thread_count = 1
        rate = stream.average_rate or Fraction(16)
        width, height = stream.codec_context.width, stream.codec_context.height
        if height > max_height:
            width, height = round(width * max_height / height), max_height
        width, height = width - width % 2, height - height % 2
        with av.open(out, mode="w", format="webm") as dst:
            enc = dst.add_stream("libvpx-vp9", rate=rate)
            enc.width, enc.height = width, height
            enc.pix_fmt = "yuv420p"
            enc.codec_context.time_base = Fraction(1) / rate
            enc.options = {
                "crf": str(crf),
                "b:v": "0",
                "deadline": "realtime",
                "cpu-used": "8",
                "row-mt": "1",
                "lag-in-frames": "0",
            }
            for i, frame in enumerate(inp.decode(stream)):
                frame = frame.reformat(width=width, height=height, format="yuv420p")
                frame.pts = i
                frame.time_base = enc.codec_context.time_base
                for packet in enc.encode(frame):
                    dst.mux(packet)
            for packet in enc.encode(None):
                dst.mux(packet)
    return out.getvalue()
