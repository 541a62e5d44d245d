"""Output files of every export: atomic, hashed while written, tar shards with fixed headers.

* :func:`write_stream` / :func:`write_bytes` write one file atomically (temp sibling, fsync,
  ``os.replace``; see :mod:`sparkle_data.io.atomic`) and return its size and sha256, computed
  from the bytes as they are written (no second read).
* :class:`TarWriter` writes one tar the same way. Every member gets a USTAR header with
  mtime :data:`TAR_MTIME`, mode ``0o644``, uid/gid 0 and empty user/group names, and the archive
  ends as ``tarfile`` ends it (two zero blocks, padded to a 10240-byte record): equal members
  in equal order give equal bytes on any machine. It records each member's data offset, so
  the member index comes for free (no rescan).
* Member data is copied in 1 MiB chunks from a file object; a source that ends early raises
  :class:`~sparkle_data.errors.IntegrityError` and no output file appears.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final

from sparkle_data.errors import IntegrityError
from sparkle_data.io.atomic import atomic_write
from sparkle_data.io.index import IndexEntry
from sparkle_data.io.safetar import padded_size, tar_file_size, tar_header, tar_member_size

__all__ = [
    "CHUNK_SIZE",
    "TAR_MTIME",
    "FileDigest",
    "TarResult",
    "TarWriter",
    "copy_stream",
    "hash_file",
    "tar_file_size",
    "tar_member_size",
    "write_bytes",
    "write_stream",
]

CHUNK_SIZE: Final = 1 << 20
TAR_MTIME: Final = 1_735_689_600
"""2025-01-01T00:00:00Z: the mtime of every member written (fixed, so bytes are stable)."""


@dataclass(frozen=True, slots=True)
class FileDigest:
    """Size and sha256 of one written file (``sha256=None``: not hashed, e.g. a link)."""

    size: int
    sha256: str | None

    def to_json(self) -> list[Any]:
        return [self.size, self.sha256]

    @classmethod
    def from_json(cls, value: Any) -> FileDigest:
        if (
            not isinstance(value, list)
            or len(value) != 2
            or isinstance(value[0], bool)
            or not isinstance(value[0], int)
            or value[0] < 0
            or not (value[1] is None or isinstance(value[1], str))
        ):
            raise ValueError(f"invalid file digest {value!r}")
        return cls(value[0], value[1])


class _HashingFile:
    """Write-through wrapper that hashes and counts what passes."""

    def __init__(self, f: IO[bytes]) -> None:
        self._f = f
        self._sha = hashlib.sha256()
        self.count = 0

    def write(self, data: bytes | memoryview) -> int:
        self._f.write(data)
        self._sha.update(data)
        self.count += len(data)
        return len(data)

    def hexdigest(self) -> str:
        return self._sha.hexdigest()


def copy_stream(src: IO[bytes], dst: Any, size: int, *, where: str) -> None:
    """Copy exactly ``size`` bytes from ``src`` to ``dst`` (anything with ``write``)."""
    left = size
    while left > 0:
        chunk = src.read(min(CHUNK_SIZE, left))
        if not chunk:
            raise IntegrityError.invalid(
                "source size",
                size - left,
                rule=f"ended after {size - left} of the {size} bytes the catalog lists",
                hint="The source changed since the export was planned; rebuild the catalog.",
                path=where,
            )
        dst.write(chunk)
        left -= len(chunk)
    if src.read(1):
        raise IntegrityError.invalid(
            "source size",
            f"more than {size} bytes",
            rule=f"longer than the {size} bytes the catalog lists",
            hint="The source changed since the export was planned; rebuild the catalog.",
            path=where,
        )


def write_stream(
    path: str | os.PathLike[str], src: IO[bytes], size: int, *, where: str
) -> FileDigest:
    """Copy ``size`` bytes of ``src`` to ``path`` atomically; returns size and sha256."""
    with atomic_write(path, "wb") as f:
        h = _HashingFile(f)
        copy_stream(src, h, size, where=where)
    return FileDigest(h.count, h.hexdigest())


def write_bytes(path: str | os.PathLike[str], data: bytes) -> FileDigest:
    """Write ``data`` to ``path`` atomically; returns size and sha256."""
    with atomic_write(path, "wb") as f:
        f.write(data)
    return FileDigest(len(data), hashlib.sha256(data).hexdigest())


def hash_file(path: str | os.PathLike[str], *, sha256: bool = True) -> FileDigest:
    """Size (and sha256) of an existing file, read in 1 MiB chunks."""
    if not sha256:
        return FileDigest(os.stat(path).st_size, None)
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK_SIZE):
            digest.update(chunk)
            size += len(chunk)
    return FileDigest(size, digest.hexdigest())


@dataclass(frozen=True, slots=True)
class TarResult:
    """What :meth:`TarWriter.close` reports: the file, its members and its end offset."""

    digest: FileDigest
    entries: tuple[IndexEntry, ...]
    end_offset: int


class TarWriter:
    """One deterministic tar, written atomically at ``path``; use as a context manager.

    On an exception inside the ``with`` block the temp file is removed and nothing appears
    under ``path``. Leaving the block normally closes the archive (see :attr:`result`).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._stack: contextlib.ExitStack | None = None
        self._out: _HashingFile | None = None
        self._entries: list[IndexEntry] = []
        self._names: set[str] = set()
        self.result: TarResult | None = None

    def __enter__(self) -> TarWriter:
        stack = contextlib.ExitStack()
        f = stack.enter_context(atomic_write(self.path, "wb"))
        self._stack = stack
        self._out = _HashingFile(f)
        return self

    def __exit__(self, *exc: Any) -> None:  # (type, value, traceback) of an exception or Nones
        stack, self._stack = self._stack, None
        if stack is None:
            return
        if exc[0] is None:
            self._finish()
        stack.__exit__(*exc)

    def _file(self) -> _HashingFile:
        if self._out is None:
            raise RuntimeError("TarWriter is not open: use it as a context manager")
        return self._out

    def add(self, name: str, src: IO[bytes], size: int, *, where: str) -> IndexEntry:
        """Append member ``name`` with ``size`` bytes streamed from ``src``."""
        out = self._file()
        if name in self._names:
            raise ValueError(f"Invalid tar member {name!r}: added twice to {self.path}.")
        self._names.add(name)
        out.write(tar_header(name, size, mtime=TAR_MTIME))
        entry = IndexEntry(name, out.count, size)
        copy_stream(src, out, size, where=where)
        pad = padded_size(size) - size
        if pad:
            out.write(bytes(pad))
        self._entries.append(entry)
        return entry

    def add_bytes(self, name: str, data: bytes) -> IndexEntry:
        """Append member ``name`` holding ``data``."""
        return self.add(name, io.BytesIO(data), len(data), where=f"<{name}>")

    def _finish(self) -> None:
        out = self._file()
        end = out.count
        total = tar_file_size(end)
        out.write(bytes(total - end))
        self.result = TarResult(FileDigest(out.count, out.hexdigest()), tuple(self._entries), end)
        self._out = None
