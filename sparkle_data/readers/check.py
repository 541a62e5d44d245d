"""Bounded deep checks of one artifact's bytes (what ``sparkle-data verify --deep`` runs).

Each check reads what it must to trust the file, and no more than a bound:

* **MP4** (videos): the container opens, has a video stream, a declared frame count and size
  within the limits (:func:`~sparkle_data.readers.video.probe_video`); every packet of the
  video stream is then demuxed (not decoded) and counted against the declared frame count,
  which catches a file truncated after a faststart ``moov`` (its header still claims every
  frame), and the first frame is decoded;
* **PNG** (frame-0 images): header, chunk CRCs and size, then a full decode
  (:func:`~sparkle_data.readers.image.read_png`, bounded by its ``max_pixels``);
* **NPZ** (masks): the strict parse of :func:`~sparkle_data.readers.mask.read_mask` (exactly
  two members, no object arrays, ``shape`` against the packed bit count, each member's
  inflated size against its declared size, CRC), bounded by ``max_decoded_bytes``.

:func:`check_artifact` returns the artifact's ``(T, H, W)`` (``T = 1`` for an image), for the
cross-artifact rules of :mod:`sparkle_data.readers.consistency`; any problem raises the
artifact's :class:`~sparkle_data.errors.CorruptArtifactError` subclass.
"""

from __future__ import annotations

from typing import Final

import av
import av.container

from sparkle_data.errors import CorruptVideoError
from sparkle_data.layout import artifact_spec
from sparkle_data.readers._source import Source, Where
from sparkle_data.readers.image import read_png
from sparkle_data.readers.limits import DEFAULT_MAX_DECODED_BYTES
from sparkle_data.readers.mask import read_mask
from sparkle_data.readers.video import VideoInfo, open_probed

__all__ = ["check_artifact", "check_video_stream"]

_MAX_PACKETS: Final = 100_000
"""Far above any clip the video limits allow; a bound on the demux loop."""


def check_video_stream(
    source: Source, *, name: str | None = None, sample_id: str | None = None
) -> VideoInfo:
    """Probe the clip, count its video packets against the header, decode its first frame
    (one open of the container for all three)."""
    where = Where.of(source, name, sample_id)
    packets = 0
    decoded = False
    with open_probed(source, name=name, sample_id=sample_id) as (info, container, stream):
        try:
            for packet in container.demux(stream):
                if packet.size == 0:  # the flush packet at the end
                    continue
                packets += 1
                if packets > _MAX_PACKETS:
                    break
                if not decoded:
                    decoded = bool(packet.decode())
        except av.FFmpegError as e:
            raise where.error(
                CorruptVideoError,
                "video data",
                f"{type(e).__name__}: {e}",
                rule=f"cannot be read after {packets} of {info.num_frames} frames",
            ) from e
    if packets != info.num_frames:
        raise where.error(
            CorruptVideoError,
            "frame count",
            packets,
            rule=f"the header declares {info.num_frames} frames but the file holds {packets} "
            "(truncated after its header?)",
        )
    if not decoded:
        raise where.error(
            CorruptVideoError, "first frame", None, rule="no frame decodes from the first packets"
        )
    return info


def check_artifact(
    source: Source,
    artifact: str,
    *,
    name: str | None = None,
    sample_id: str | None = None,
    max_decoded_bytes: int | None = DEFAULT_MAX_DECODED_BYTES,
) -> tuple[int, int, int]:
    """Check one artifact's bytes (see the module docstring); its ``(T, H, W)``."""
    ext = artifact_spec(artifact).extension
    if ext == "mp4":
        return check_video_stream(source, name=name, sample_id=sample_id).shape
    if ext == "png":
        h, w, _ = read_png(source, name=name, sample_id=sample_id).shape
        return (1, h, w)
    mask = read_mask(source, name=name, sample_id=sample_id, max_decoded_bytes=max_decoded_bytes)
    t, h, w = mask.shape
    return (t, h, w)
