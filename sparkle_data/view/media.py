"""Bytes the viewer serves: artifact members with ``Range`` support, and rendered images.

Artifact bytes come straight from the catalog (:meth:`Catalog.open`: a loose file, or a byte
range of a shard through the member index); nothing is extracted or copied to disk.
Thumbnails and mask overlays are rendered on first request and kept in a :class:`ByteCache`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Final

import numpy as np
import numpy.typing as npt

from sparkle_data.io import fs as sfs
from sparkle_data.io.byteranges import ByteRange, parse_range
from sparkle_data.layout import ARTIFACTS
from sparkle_data.view import render
from sparkle_data.view.frames import has_artifact, read_frames, read_image, read_mask_frames

if TYPE_CHECKING:
    from sparkle_data.catalog import Catalog

__all__ = [
    "CHUNK",
    "MEDIA_TYPES",
    "artifact_size",
    "iter_member",
    "mask_png",
    "placeholder_png",
    "thumbnail_png",
]

CHUNK: Final = 256 << 10
MEDIA_TYPES: Final[dict[str, str]] = {
    "mp4": "video/mp4",
    "png": "image/png",
    "npz": "application/octet-stream",
    "webm": "video/webm",
}


def artifact_size(catalog: Catalog, sample_id: str, artifact: str) -> int:
    """Byte size of the artifact (the member's size, or the loose file's)."""
    loc = catalog.locate(sample_id, artifact)
    if loc.size is not None:
        return loc.size
    return sfs.size(sfs.join(catalog.base, loc.path), fs=catalog.fs)


def media_type(artifact: str) -> str:
    return MEDIA_TYPES.get(ARTIFACTS[artifact].extension, "application/octet-stream")  # type: ignore[index]


def iter_member(
    catalog: Catalog, sample_id: str, artifact: str, byte_range: ByteRange | None, size: int
) -> Iterator[bytes]:
    """The bytes of ``byte_range`` of the artifact (all of it for ``None``), in chunks."""
    start, length = (0, size) if byte_range is None else (byte_range.start, byte_range.length)
    with catalog.open(sample_id, artifact) as f:
        f.seek(start)
        left = length
        while left > 0:
            chunk = f.read(min(CHUNK, left))
            if not chunk:
                raise OSError(f"{catalog.name_of(sample_id, artifact)} ended {left} bytes early")
            left -= len(chunk)
            yield chunk


def resolve_range(header: str | None, size: int) -> ByteRange | None:
    """:func:`parse_range` (re-exported for the app)."""
    return parse_range(header, size)


def _frame0(catalog: Catalog, sample_id: str, side: str) -> npt.NDArray[np.uint8] | None:
    image = f"{side}_frame0"
    if has_artifact(catalog, sample_id, image):
        return read_image(catalog, sample_id, image)
    video = f"{side}_video"
    if has_artifact(catalog, sample_id, video):
        first: npt.NDArray[np.uint8] = read_frames(catalog, sample_id, video, [0])[0]
        return first
    return None


def placeholder_png(text: str = "no media", width: int = 192, height: int = 108) -> bytes:
    """A dark PNG with ``text`` (samples without frames, e.g. rejected early)."""
    from PIL import Image, ImageDraw

    im = Image.new("RGB", (width, height), (40, 42, 48))
    ImageDraw.Draw(im).text((8, height // 2 - 6), text, fill=(170, 170, 170))
    return render.png_bytes(np.asarray(im, dtype=np.uint8))


def thumbnail_png(catalog: Catalog, sample_id: str, height: int = 108) -> bytes:
    """Source frame 0 | edited frame 0, ``height`` pixels tall (a placeholder when neither)."""
    frames = [
        f for f in (_frame0(catalog, sample_id, s) for s in ("source", "edited")) if f is not None
    ]
    if not frames:
        return placeholder_png()
    return render.png_bytes(render.hstack([render.fit_height(f, height) for f in frames]))


def mask_png(catalog: Catalog, sample_id: str, frame: int) -> bytes:
    """Frame ``frame`` of ``source_video_mask``: magenta where set, transparent elsewhere.

    Raises :class:`IndexError` for a frame outside the mask.
    """
    mask = read_mask_frames(catalog, sample_id, [frame])[0]
    return render.mask_rgba_png(mask)
