"""Bounds on what one field of one sample may decode to (checked before allocating).

A Sparkle field is at most 81 frames of 720x1280: 224 MB as ``uint8`` RGB, 75 MB as a
``bool`` mask. :data:`DEFAULT_MAX_DECODED_BYTES` (1 GiB) is well above that; a file whose
headers are legal but describe more (a mask of shape ``(81, 4096, 4096)``: 1.36 GB) raises
before any array is allocated, naming the sample, instead of a ``MemoryError`` in a
training worker. Every reader and :class:`~sparkle_data.sampling.DecodeOptions` take
``max_decoded_bytes=`` (``None``: no bound).
"""

from __future__ import annotations

from typing import Final

from sparkle_data.errors import SparkleError
from sparkle_data.readers._source import Where

__all__ = ["DEFAULT_MAX_DECODED_BYTES", "check_decoded_bytes"]

DEFAULT_MAX_DECODED_BYTES: Final = 1 << 30
"""1 GiB per decoded field (real Sparkle fields are at most 224 MB)."""


def check_decoded_bytes(
    nbytes: int,
    limit: int | None,
    *,
    error: type[SparkleError],
    what: str,
    shape: tuple[int, ...],
    path: str | None = None,
    member: str | None = None,
    sample_id: str | None = None,
) -> None:
    """Raise ``error`` when ``nbytes`` (an array of ``shape``) is above ``limit``."""
    if limit is None or nbytes <= limit:
        return
    raise Where(path, member, sample_id).error(
        error,
        f"decoded size of {what}",
        f"{nbytes} bytes for shape {shape}",
        rule=f"exceeds max_decoded_bytes={limit}",
        hint="Refused before allocating; pass a larger max_decoded_bytes= if the file is "
        "meant to be this large.",
    )
