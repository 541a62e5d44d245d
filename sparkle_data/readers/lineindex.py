"""Random access to one sample's line of a record JSONL file.

Loaders that need one record per sample (``boxes`` in a training loop) should not hold a
whole ``foreground_grounding_r2.jsonl`` in every worker. :func:`build_line_index` scans the
file once for newlines and ids (no JSON parsing) and :func:`read_line` fetches one line with
one ranged read; the line is then parsed by the artifact's own reader, so validation rules
live in one place.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import IO, Final

from sparkle_data.errors import CorruptRecordError, JoinError

__all__ = ["LineEntry", "build_line_index", "read_line"]

_ID_RE: Final = re.compile(rb'"id"\s*:\s*"([^"\\]{1,64})"')
_CHUNK: Final = 1 << 20


@dataclass(frozen=True, slots=True)
class LineEntry:
    """Byte range (without the newline) and 1-based physical line number of one record."""

    offset: int
    length: int
    line: int


def build_line_index(f: IO[bytes], *, name: str = "<jsonl>") -> dict[str, LineEntry]:
    """Map each record's ``id`` to its line. Duplicate ids raise :class:`JoinError`; a line
    without an ``id`` raises :class:`CorruptRecordError` (blank lines are skipped)."""
    out: dict[str, LineEntry] = {}
    pending = b""
    pos = 0  # file offset of pending[0]
    line_no = 0

    def add(raw: bytes, start: int) -> None:
        nonlocal line_no
        line_no += 1
        body = raw[:-1] if raw.endswith(b"\r") else raw
        if start == 0 and body.startswith(b"\xef\xbb\xbf"):
            body, start = body[3:], 3
        if not body.strip():
            return
        m = _ID_RE.search(body, 0, 512) or _ID_RE.search(body)
        if m is None:
            raise CorruptRecordError.invalid(
                "record line",
                body[:60].decode("utf-8", "replace"),
                rule='has no "id" field',
                path=name,
                line=line_no,
            )
        sid = m.group(1).decode("utf-8", "replace")
        if sid in out:
            raise JoinError.invalid(
                "id",
                sid,
                rule=f"duplicate: also on line {out[sid].line}",
                path=name,
                sample_id=sid,
                line=line_no,
            )
        out[sid] = LineEntry(start, len(body), line_no)

    while chunk := f.read(_CHUNK):
        data = pending + chunk
        start = 0
        while (nl := data.find(b"\n", start)) >= 0:
            add(data[start:nl], pos + start)
            start = nl + 1
        pending = data[start:]
        pos += start
    if pending:
        add(pending, pos)
    return out


def read_line(f: IO[bytes], entry: LineEntry) -> bytes:
    """The bytes of one indexed line (one seek and one read)."""
    f.seek(entry.offset)
    data = f.read(entry.length)
    if len(data) != entry.length:
        raise CorruptRecordError.invalid(
            "record line",
            entry.line,
            rule=f"file ended after {len(data)} of {entry.length} bytes",
            path=getattr(f, "name", None),
            line=entry.line,
        )
    return data
