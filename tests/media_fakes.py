"""Helpers of the bad-input and export-validation tests (not tests): the small tree they
damage, and media variants built from a valid clip."""

from __future__ import annotations

from pathlib import Path

import av

from sparkle_data.testing import make_sample_tree

__all__ = ["faststart", "small_location_tree"]


def small_location_tree(out: Path) -> Path:
    """A 4-sample ``location`` tree in small shards (40 kB), seed 0: its root."""
    summary = make_sample_tree(
        out, edit_types=["location"], samples=4, bench=False, shard_size=40_000, seed=0
    )
    return summary.root


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
