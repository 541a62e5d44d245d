"""Media variants the bad-input tests build from a valid clip (helpers, not tests)."""

from __future__ import annotations

from pathlib import Path

import av

__all__ = ["faststart"]


def faststart(data: bytes, tmp: Path) -> bytes:
    """The same clip remuxed with its ``moov`` first (what ``-movflags faststart`` writes)."""
    src_path, dst_path = tmp / "in.mp4", tmp / "faststart.mp4"
    src_path.write_bytes(data)
    with (
        av.open(str(src_path)) as src,
        av.open(str(dst_path), "w", format="mp4", options={"movflags": "faststart"}) as dst,
    ):
        stream = src.streams.video[0]
        out = dst.add_stream_from_template(stream)
        for packet in src.demux(stream):
            if packet.dts is None:
                continue
            packet.stream = out
            dst.mux(packet)
    return dst_path.read_bytes()
