"""HTTP ``Range`` headers (RFC 9110, single byte ranges) resolved against a known size.

Shared by the viewer (:mod:`sparkle_data.view.media`) and the loopback test servers
(:mod:`sparkle_data.testing`). Browsers seek a ``<video>`` with ranged requests (``bytes=N-``
mostly, ``bytes=-N`` for the tail where some muxers keep the index). Multi-range requests and
headers that do not parse are answered with the whole body (the RFC allows ignoring
``Range``); a range that starts past the end is unsatisfiable (``416``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from sparkle_data.errors import RangeNotSatisfiableError

__all__ = ["ByteRange", "parse_range"]

_RANGE_RE: Final = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class ByteRange:
    """Inclusive byte range ``[start, end]`` of a body of ``size`` bytes."""

    start: int
    end: int
    size: int

    def __post_init__(self) -> None:
        if not 0 <= self.start <= self.end < self.size:
            raise ValueError(f"Invalid ByteRange {self.start}-{self.end} of {self.size} bytes.")

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    @property
    def content_range(self) -> str:
        return f"bytes {self.start}-{self.end}/{self.size}"


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The range a ``Range`` header selects, or ``None`` for the whole body.

    ``bytes=a-b`` (``b`` clamped to the end), ``bytes=a-`` (open-ended) and ``bytes=-n`` (the
    last ``n`` bytes) are honoured. Raises :class:`RangeNotSatisfiableError` when ``a`` is at or
    past the end, for ``bytes=-0``, or for any range of an empty body.
    """
    if header is None:
        return None
    m = _RANGE_RE.match(header)
    if m is None:
        return None  # multi-range or not a byte range: serve the whole body
    first, last = m.group(1), m.group(2)
    if not first and not last:
        return None
    if not first:
        n = int(last)
        if n == 0 or size == 0:
            raise RangeNotSatisfiableError.of(
                header, size, f"selects no byte of a {size}-byte body"
            )
        return ByteRange(max(0, size - n), size - 1, size)
    start = int(first)
    end = int(last) if last else size - 1
    if last and end < start:
        return None  # syntactically invalid: ignore the header
    if start >= size:
        raise RangeNotSatisfiableError.of(
            header, size, f"starts past the end of a {size}-byte body"
        )
    return ByteRange(start, min(end, size - 1), size)
