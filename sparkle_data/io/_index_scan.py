"""Building a shard's index from a scan of its tar headers (:func:`build_index`) and checking
a shard against its index by the same scan (:func:`verify_shard`). Documented import path:
:mod:`sparkle_data.io.index`."""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO, Final

from fsspec.spec import AbstractFileSystem

from sparkle_data.errors import IntegrityError
from sparkle_data.io._index_model import IndexEntry, ShardIndex, ShardInput
from sparkle_data.io.fs import FileInfo, info, is_local, resolve, unresolve
from sparkle_data.io.rangefile import DEFAULT_BLOCK_SIZE, RangeFile
from sparkle_data.io.regular import open_regular
from sparkle_data.io.safetar import scan_tar
from sparkle_data.layout import parse_member_name, parse_shard_name
from sparkle_data.policy import SkipReport

__all__ = [
    "INDEX_READ_AHEAD",
    "build_index",
    "open_shard",
    "shard_file",
    "shard_name_of",
    "verify_shard",
]

INDEX_READ_AHEAD: Final = 8 * 1024
"""Read-ahead of remote header hops: one request reads the header and a little beyond."""


def shard_name_of(shard_name: str | None, where: str) -> str:
    """``shard_name``, or the file name of ``where``; checked against the card's shard naming."""
    name = shard_name if shard_name is not None else where.rstrip("/").rsplit("/", 1)[-1]
    parse_shard_name(name)
    return name


def open_shard(
    fs: AbstractFileSystem, path: str, finfo: FileInfo, block_size: int
) -> IO[bytes]:
    """The shard open for a sequential scan: unbuffered locally, else a :class:`RangeFile`
    reading ``block_size`` ahead (pinned to ``finfo``'s size and etag)."""
    if is_local(fs):
        return open_regular(path, buffering=0, what="shard")
    return RangeFile(  # type: ignore[return-value]
        path, fs=fs, file_size=finfo.size, etag=finfo.etag, block_size=block_size
    )


@contextmanager
def shard_file(
    source: ShardInput, *, fs: AbstractFileSystem | None, block_size: int
) -> Iterator[tuple[IO[bytes], str | None]]:
    """``(file, name)`` of a shard to scan: a location is opened with :func:`open_shard` (and
    closed afterwards), named by its location; an open file is used as it is, named by its
    ``.name`` when it has one."""
    if isinstance(source, (str, os.PathLike)):
        fs, path = resolve(source) if fs is None else (fs, os.fspath(source))
        with open_shard(fs, path, info(path, fs=fs), block_size) as f:
            yield f, unresolve(fs, path)
    else:
        name = getattr(source, "name", None)
        yield source, None if name is None else str(name)


def build_index(
    source: ShardInput,
    *,
    shard_name: str | None = None,
    fs: AbstractFileSystem | None = None,
    file_info: FileInfo | None = None,
    validate: Callable[[str], object] = parse_member_name,
    report: SkipReport | None = None,
    block_size: int = INDEX_READ_AHEAD,
) -> ShardIndex:
    """Index a shard by reading its headers only (member data is seeked over, never read).

    ``source`` is a location (local path, URL, ``hf://...``; or a path inside ``fs``) or a
    seekable binary file. ``shard_name`` defaults to the location's file name (required for a
    file object without ``.name``) and must follow the card's shard naming; every member must
    belong to it. A truncated shard or one without end-of-archive blocks raises
    :class:`IntegrityError`; under a lenient ``report`` the damage is counted and the index
    holds the complete members before it, with ``end_offset=None`` (``index.truncated``).
    Unsafe members always raise :class:`UnsafeArchiveError`.
    """
    if isinstance(source, (str, os.PathLike)):
        fs, path = resolve(source) if fs is None else (fs, os.fspath(source))
        where = unresolve(fs, path)
        name = shard_name_of(shard_name, where)
        finfo = file_info or info(path, fs=fs)
        with open_shard(fs, path, finfo, block_size) as f:
            members, end = scan_tar(f, name=where, shard=name, validate=validate, report=report)
        return ShardIndex(
            shard=name,
            shard_size=finfo.size,
            entries=tuple(IndexEntry(m.name, m.offset, m.size) for m in members),
            end_offset=end,
            etag=finfo.etag,
            sha256=finfo.sha256,
            source=where,
        )
    f = source
    where = str(getattr(f, "name", shard_name or "<tar stream>"))
    if shard_name is None and not hasattr(f, "name"):
        raise TypeError("build_index(fileobj) needs shard_name= when the file has no .name")
    name = shard_name_of(shard_name, where)
    start = f.tell()
    total = f.seek(0, io.SEEK_END)
    f.seek(start)
    members, end = scan_tar(f, name=where, shard=name, validate=validate, report=report)
    return ShardIndex(
        shard=name,
        shard_size=total,
        entries=tuple(IndexEntry(m.name, m.offset, m.size) for m in members),
        end_offset=end,
        etag=file_info.etag if file_info else None,
        sha256=file_info.sha256 if file_info else None,
        source=file_info.location if file_info else None,
    )


def verify_shard(
    source: ShardInput,
    index: ShardIndex,
    *,
    fs: AbstractFileSystem | None = None,
    check_sha256: bool = False,
) -> None:
    """Raise :class:`IntegrityError` unless the shard matches its index.

    Checks the total size (catches truncation at a member boundary and replaced shards), then
    rescans the headers and compares every member's name, offset and size and the end of the
    archive. ``check_sha256`` also hashes the whole shard against ``index.sha256`` (reads
    everything: 5 GB per shard).
    """
    with shard_file(source, fs=fs, block_size=INDEX_READ_AHEAD) as (f, name):
        where = name or index.source or index.shard
        total = f.seek(0, io.SEEK_END)
        if total != index.shard_size:
            raise IntegrityError.invalid(
                "shard size",
                total,
                rule=f"the index says {index.shard_size} bytes (truncated, partial or replaced "
                "shard)",
                path=where,
            )
        f.seek(0)
        try:
            members, end = scan_tar(f, name=where, shard=index.shard)
        except IntegrityError as e:
            raise IntegrityError(f"{e} (the index lists {len(index)} members)", path=where) from e
        _compare(where, index, [IndexEntry(m.name, m.offset, m.size) for m in members], end)
        if check_sha256:
            if index.sha256 is None:
                raise IntegrityError.invalid(
                    "index", index.shard, rule="has no sha256 to check against", path=where
                )
            digest = hashlib.sha256()
            f.seek(0)
            while chunk := f.read(DEFAULT_BLOCK_SIZE * 8):
                digest.update(chunk)
            if digest.hexdigest() != index.sha256:
                raise IntegrityError.invalid(
                    "shard sha256",
                    digest.hexdigest(),
                    rule=f"the index says {index.sha256}",
                    path=where,
                )


def _compare(where: str, index: ShardIndex, found: list[IndexEntry], end: int | None) -> None:
    for expected, got in zip(index.entries, found, strict=False):
        if expected != got:
            raise IntegrityError.invalid(
                "tar member",
                (got.name, got.offset, got.size),
                rule=f"the index says {(expected.name, expected.offset, expected.size)}",
                path=where,
                member=expected.name,
            )
    if len(found) != len(index.entries) or end != index.end_offset:
        raise IntegrityError.invalid(
            "member count",
            len(found),
            rule=f"the index lists {len(index.entries)} members ending at {index.end_offset}, "
            f"the shard ends at {end}",
            path=where,
        )
