"""Normalise what a reader is handed into one seekable binary file object.

Every artifact reader accepts the same kinds of source:

* a local path (``str`` or :class:`os.PathLike`);
* the file's bytes (``bytes``, ``bytearray`` or ``memoryview``);
* an open, seekable binary file object (a tar member slice, an fsspec file, ...). It is read
  from offset 0 of its own seek space and is never closed by the reader; its position after
  the call is unspecified.

``name=`` (for example ``"shard.tar::location/source_video_mask/Sparkle_location_000001.npz"``)
and ``sample_id=`` only feed error messages: :class:`Where` splits ``name`` on ``"::"`` into the
``path`` and ``member`` parts of :meth:`sparkle_data.errors.SparkleError.invalid`.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any, TypeAlias, TypeVar

from sparkle_data.errors import SparkleError
from sparkle_data.io.regular import open_regular

__all__ = ["Source", "Where", "open_source_file", "source_size"]

Source: TypeAlias = str | os.PathLike[str] | bytes | bytearray | memoryview | IO[bytes]
"""A path, the file's bytes, or an open seekable binary file object."""

_E = TypeVar("_E", bound=SparkleError)


@dataclass(frozen=True, slots=True)
class Where:
    """Where a source came from, for error messages (``path::member (sample X)``)."""

    path: str | None = None
    member: str | None = None
    sample_id: str | None = None

    @classmethod
    def of(cls, source: object, name: str | None = None, sample_id: str | None = None) -> Where:
        """Locate ``source``: ``name`` wins; else a path, else a file object's ``name``."""
        label: str | None = name
        if label is None:
            if isinstance(source, (str, os.PathLike)):
                label = os.fsdecode(os.fspath(source))
            else:
                attr = getattr(source, "name", None)
                label = attr if isinstance(attr, str) else None
        if label is not None and "::" in label:
            path, member = label.split("::", 1)
            return cls(path or None, member or None, sample_id)
        return cls(label, None, sample_id)

    def error(
        self, cls: type[_E], what: str, value: Any, *, rule: str, hint: str | None = None
    ) -> _E:
        """Build ``cls`` with the library's message template and this location."""
        return cls.invalid(
            what,
            value,
            rule=rule,
            hint=hint,
            path=self.path,
            member=self.member,
            sample_id=self.sample_id,
        )


def _check_file_object(f: Any) -> IO[bytes]:
    if isinstance(f, io.TextIOBase):
        raise TypeError("Invalid source: a text-mode file object; open it in binary mode ('rb').")
    if not (hasattr(f, "read") and hasattr(f, "seek") and hasattr(f, "tell")):
        raise TypeError(
            f"Invalid source of type {type(f).__name__}: expected a path, bytes, memoryview "
            "or a seekable binary file object."
        )
    seekable = getattr(f, "seekable", None)
    if seekable is not None and not seekable():
        raise TypeError(
            "Invalid source: the file object is not seekable. "
            "Wrap it as io.BytesIO(f.read()) or hand in its path."
        )
    return f  # type: ignore[no-any-return]


@contextlib.contextmanager
def open_source_file(source: Source) -> Iterator[IO[bytes]]:
    """Yield a seekable binary file object positioned at 0.

    Paths are opened (and closed) here, so a missing file raises :class:`FileNotFoundError`
    before any parsing starts; bytes are wrapped without copying where Python allows it.
    """
    if isinstance(source, (str, os.PathLike)):
        with open_regular(source) as f:
            yield f
        return
    if isinstance(source, (bytes, bytearray, memoryview)):
        yield io.BytesIO(source)
        return
    fobj = _check_file_object(source)
    fobj.seek(0)
    yield fobj


def source_size(f: IO[bytes]) -> int:
    """Size in bytes of a seekable file object (seeks to the end, then back to 0)."""
    end = f.seek(0, os.SEEK_END)
    f.seek(0)
    return int(end)
