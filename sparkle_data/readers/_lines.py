"""Sources and physical lines of the text artifacts (private).

Sources are a local path, an ``os.PathLike`` or an already-open *binary* file object (anything
with ``.read(n) -> bytes``: a local file, ``io.BytesIO``, an fsspec file for ``hf://`` or
``https://``). A file object handed in is never closed here.

Bytes are split on ``b"\\n"`` only, so a JSON string holding U+2028, U+0085 or a lone ``\\r``
stays on its line; a trailing ``\\r`` (CRLF files) is dropped; a UTF-8 BOM at the start of
the file is dropped. Line numbers are 1-based physical lines and every error carries one.
The record parsers on top: :mod:`._text` (JSONL) and :mod:`._csv`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from typing import Final, Protocol, Union

from sparkle_data.errors import CorruptRecordError
from sparkle_data.io.regular import open_regular

__all__ = [
    "BOM",
    "CHUNK_SIZE",
    "MAX_LINE_BYTES",
    "BinaryReadable",
    "Line",
    "TextSource",
    "iter_line_views",
    "iter_lines",
    "open_text_source",
    "source_name",
]

BOM: Final = b"\xef\xbb\xbf"
CHUNK_SIZE: Final = 1 << 20
MAX_LINE_BYTES: Final = 64 << 20
"""A physical line longer than this (64 MiB) is treated as a corrupt file, not buffered."""


class BinaryReadable(Protocol):
    """The one method a source file object needs: ``read(n)`` returning ``bytes``."""

    def read(self, size: int = ..., /) -> bytes: ...


TextSource = Union[str, "os.PathLike[str]", BinaryReadable]
"""A path, an ``os.PathLike`` or an open binary file object."""


def _is_path(source: object) -> bool:
    return isinstance(source, (str, os.PathLike))


def source_name(source: TextSource, name: str | None = None) -> str:
    """The name errors use for ``source``: ``name``, else the path, else the file's name."""
    if name is not None:
        return name
    if _is_path(source):
        return os.fspath(source)  # type: ignore[arg-type]
    for attr in ("name", "path", "full_name"):
        value = getattr(source, attr, None)
        if isinstance(value, str) and value:
            return value
    return "<stream>"


@contextlib.contextmanager
def open_text_source(source: TextSource) -> Iterator[BinaryReadable]:
    """Open a path for binary reading, or pass a file object through (left open)."""
    if _is_path(source):
        with open_regular(source) as f:  # type: ignore[arg-type]
            yield f
    elif callable(getattr(source, "read", None)):
        yield source  # type: ignore[misc]
    else:
        raise TypeError(
            f"Invalid source {source!r}: expected a path, an os.PathLike or a binary file "
            "object with .read()."
        )



def iter_lines(
    source: TextSource,
    *,
    name: str,
    strip_cr: bool = True,
    on_long: Callable[[CorruptRecordError], None] | None = None,
) -> Iterator[tuple[int, bytes, bool]]:
    """Yield ``(line_number, line, terminated)`` for each physical line of ``source``.

    ``line`` has its ``\\n`` removed (and a trailing ``\\r`` with ``strip_cr``) and, on
    line 1, a UTF-8 BOM; ``terminated`` is False only for a last line with no newline.
    A line longer than ``MAX_LINE_BYTES`` raises :class:`CorruptRecordError`, or, with
    ``on_long``, is handed to it (which may raise) and skipped to its newline unread.
    """
    views = iter_line_views(source, name=name, strip_cr=strip_cr, on_long=on_long)
    for number, line, terminated in views:
        yield number, line.tobytes() if isinstance(line, memoryview) else line, terminated


Line = bytes | memoryview
"""A line from :func:`iter_line_views`: ``bytes``, or a read-only view of the chunk it is in."""


def _finish_line(number: int, line: bytes, strip_cr: bool) -> bytes:
    if number == 1 and line.startswith(BOM):
        line = line[3:]
    if strip_cr and line.endswith(b"\r"):
        line = line[:-1]
    return line


def iter_line_views(
    source: TextSource,
    *,
    name: str,
    strip_cr: bool = True,
    on_long: Callable[[CorruptRecordError], None] | None = None,
) -> Iterator[tuple[int, Line, bool]]:
    """:func:`iter_lines` without a copy per line (the loop under every JSONL reader).

    A line that lies inside one read chunk is a ``memoryview`` slice of that chunk (an
    immutable ``bytes``, so the view stays valid); line 1 and lines spanning chunks are
    ``bytes``. ``orjson.loads`` takes either; ``bytes(line)`` gives the ``bytes``. The lines,
    numbers and errors are exactly those of :func:`iter_lines`.
    """
    with open_text_source(source) as f:
        pending: list[bytes] = []
        pending_len = 0
        number = 0
        discarding = False  # inside a line too long to keep, handed to on_long
        while True:
            chunk = f.read(CHUNK_SIZE)
            if not chunk:
                break
            if not isinstance(chunk, bytes):
                if isinstance(chunk, str):
                    raise TypeError(
                        f"Invalid source {name!r}: read() returned str; open the file in binary "
                        "mode ('rb') so bytes, BOMs and bad UTF-8 can be reported exactly."
                    )
                chunk = bytes(chunk)
            find = chunk.find
            j = find(b"\n")
            if discarding:
                if j < 0:
                    continue
                number += 1  # the long line ends here
                discarding = False
                chunk = chunk[j + 1 :]
                find = chunk.find
                j = find(b"\n")
                if not chunk:
                    continue
            if j < 0:
                pending.append(chunk)
                pending_len += len(chunk)
                if pending_len > MAX_LINE_BYTES:
                    error = CorruptRecordError.invalid(
                        "line",
                        f"<{pending_len} bytes without a newline>",
                        rule=f"a line longer than {MAX_LINE_BYTES} bytes is not a record",
                        path=name,
                        line=number + 1,
                    )
                    if on_long is None:
                        raise error
                    on_long(error)
                    pending, pending_len, discarding = [], 0, True
                continue
            view = memoryview(chunk)
            pos = 0
            if pending or number == 0:
                pending.append(chunk[:j])
                number += 1
                yield number, _finish_line(number, b"".join(pending), strip_cr), True
                pending = []
                pos = j + 1
                j = find(b"\n", pos)
            while j >= 0:
                number += 1
                end = j - 1 if strip_cr and j > pos and chunk[j - 1] == 13 else j  # 13: "\r"
                yield number, view[pos:end], True
                pos = j + 1
                j = find(b"\n", pos)
            tail = chunk[pos:]
            if tail:
                pending.append(tail)
            pending_len = len(tail)
        if pending:
            number += 1
            yield number, _finish_line(number, b"".join(pending), strip_cr), False
