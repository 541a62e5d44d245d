"""Pixels of one sample's artifacts, read through the catalog (one member at a time).

Only the members of the sample asked for are opened: on a remote root each is a ranged read
of its shard (through the member index), never a whole shard.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from sparkle_data.catalog import Catalog
    from sparkle_data.readers.video import VideoInfo

__all__ = ["has_artifact", "read_frames", "read_image", "read_mask_frames", "video_info"]


def has_artifact(catalog: Catalog, sample_id: str, artifact: str) -> bool:
    """Whether the catalog knows where ``artifact`` of ``sample_id`` is (file or member)."""
    if sample_id not in catalog.table.index:
        return False
    row = catalog.table.loc[sample_id]
    return isinstance(row.get(f"{artifact}_file"), str) or isinstance(
        row.get(f"{artifact}_shard"), str
    )


def video_info(catalog: Catalog, sample_id: str, artifact: str) -> VideoInfo:
    """The clip's header (frame count, size, rate) without decoding a frame."""
    from sparkle_data.readers.video import probe_video

    with catalog.open(sample_id, artifact) as f:
        return probe_video(f, name=catalog.name_of(sample_id, artifact), sample_id=sample_id)


def read_frames(
    catalog: Catalog,
    sample_id: str,
    artifact: str,
    indices: Sequence[int] | None = None,
    *,
    height: int | None = None,
) -> npt.NDArray[np.uint8]:
    """``(T', H, W, 3)`` RGB frames of a video artifact (all frames when ``indices`` is None)."""
    from sparkle_data.readers.video import read_video

    with catalog.open(sample_id, artifact) as f:
        frames = read_video(
            f,
            indices=indices,
            height=height,
            name=catalog.name_of(sample_id, artifact),
            sample_id=sample_id,
        )
    if not isinstance(frames, np.ndarray):  # output="numpy" always gives an array
        raise TypeError(f"read_video returned {type(frames).__name__}, not an array")
    return frames


def read_image(catalog: Catalog, sample_id: str, artifact: str) -> npt.NDArray[np.uint8]:
    """``(H, W, 3)`` RGB of a PNG artifact (``*_frame0``)."""
    from sparkle_data.readers.image import read_png

    with catalog.open(sample_id, artifact) as f:
        return read_png(f, name=catalog.name_of(sample_id, artifact), sample_id=sample_id)


def read_mask_frames(
    catalog: Catalog, sample_id: str, indices: Sequence[int] | None = None
) -> npt.NDArray[np.bool_]:
    """``(T', H, W)`` of ``source_video_mask`` (only the requested frames are inflated)."""
    from sparkle_data.readers.mask import read_mask

    with catalog.open(sample_id, "source_video_mask") as f:
        return read_mask(
            f,
            frames=None if indices is None else list(indices),
            name=catalog.name_of(sample_id, "source_video_mask"),
            sample_id=sample_id,
        )
