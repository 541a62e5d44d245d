"""Re-encode a clip to H.264 MP4, optionally keeping only its first frames (PyAV).

Used by the Kiwi-Edit export to trim pairs to a common ``4k + 1`` frame count. Frames are
decoded and handed to the encoder as decoded (``yuv420p``; other formats are converted to it),
never through RGB. Settings make the bytes reproducible on one machine: one encoder thread,
FFmpeg's ``bitexact`` flags on the codec and the muxer, and x264's macroblock-tree rate control
off (with it, equal frames encoded twice in one process were seen to give different bytes).
The source is read through a Python file object, never opened by FFmpeg as a URL.
"""

from __future__ import annotations

import io
from fractions import Fraction
from typing import IO, Any, Final

import av

from sparkle_data.errors import CorruptVideoError
from sparkle_data.io.h264 import open_bitexact_h264
from sparkle_data.layout import FPS

__all__ = ["DEFAULT_CRF", "DEFAULT_PRESET", "reencode_h264"]

DEFAULT_CRF: Final = 17
"""x264 constant rate factor: visually lossless for these clips."""
DEFAULT_PRESET: Final = "medium"


def reencode_h264(
    src: IO[bytes],
    *,
    frames: int | None = None,
    name: str | None = None,
    sample_id: str | None = None,
    crf: int = DEFAULT_CRF,
    preset: str = DEFAULT_PRESET,
) -> bytes:
    """The clip re-encoded as H.264 ``yuv420p`` MP4 bytes, keeping its first ``frames``
    frames (all when ``None``) and its frame rate.

    Raises :class:`CorruptVideoError` when the clip cannot be decoded or has fewer frames.
    """
    try:
        inp: Any = av.open(src, mode="r", metadata_errors="replace")
    except av.FFmpegError as e:
        raise CorruptVideoError.invalid(
            "video",
            f"{type(e).__name__}: {e}",
            rule="cannot be opened",
            path=name,
            sample_id=sample_id,
        ) from e
    buf = io.BytesIO()
    out: Any = None
    written = 0
    try:
        if not inp.streams.video:
            raise CorruptVideoError.invalid(
                "video",
                "no video stream",
                rule="cannot be re-encoded",
                path=name,
                sample_id=sample_id,
            )
        vstream = inp.streams.video[0]
        vstream.thread_count = 1
        rate = Fraction(vstream.average_rate or vstream.guessed_rate or FPS)
        stream: Any = None
        try:
            for frame in inp.decode(vstream):
                if frames is not None and written >= frames:
                    break
                if out is None:
                    out, stream = open_bitexact_h264(
                        buf, frame.width, frame.height, rate=rate, crf=crf, preset=preset
                    )
                if frame.format.name != "yuv420p":
                    frame = frame.reformat(format="yuv420p")
                frame.pts = written
                frame.time_base = Fraction(1) / rate
                for packet in stream.encode(frame):
                    out.mux(packet)
                written += 1
        except av.FFmpegError as e:
            raise CorruptVideoError.invalid(
                "video",
                f"{type(e).__name__}: {e}",
                rule=f"decoding failed after {written} frames",
                path=name,
                sample_id=sample_id,
            ) from e
        if written == 0 or (frames is not None and written < frames):
            raise CorruptVideoError.invalid(
                "frame count",
                written,
                rule=f"decoded {written} frames, {frames} needed (truncated clip?)",
                path=name,
                sample_id=sample_id,
            )
        for packet in stream.encode():
            out.mux(packet)
        out.close()
        out = None
        return buf.getvalue()
    finally:
        if out is not None:
            out.close()
        inp.close()
