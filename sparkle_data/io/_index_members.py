"""Member bytes through an index: one checked ranged read (:func:`read_member`), a bounded
seekable file (:func:`open_member`), and the members' CRC-32 checksums
(:func:`add_checksums` computes them, :func:`verify_member` checks a read against them).
Documented import path: :mod:`sparkle_data.io.index`."""

from __future__ import annotations

import io
import os
import zlib
from collections.abc import Callable
from dataclasses import replace
from typing import IO, Final

from fsspec.spec import AbstractFileSystem

from sparkle_data.errors import IntegrityError
from sparkle_data.io._index_model import IndexEntry, ShardIndex, ShardInput
from sparkle_data.io._index_scan import shard_file
from sparkle_data.io.fs import is_local, resolve, unresolve
from sparkle_data.io.rangefile import DEFAULT_BLOCK_SIZE, RangeFile
from sparkle_data.io.retry import RetryPolicy
from sparkle_data.io.source import (
    FileObjectSource,
    LocalSource,
    policy_overrides,
    read_range,
)

__all__ = ["CHECKSUM_RETRIES", "add_checksums", "open_member", "read_member", "verify_member"]

CHECKSUM_RETRIES: Final = 2
"""Re-reads of a member whose bytes do not match its checksum before :class:`IntegrityError`."""


def read_member(
    source: ShardInput,
    entry: IndexEntry,
    *,
    fs: AbstractFileSystem | None = None,
    policy: RetryPolicy | None = None,
) -> bytes:
    """The member's bytes: one ranged read (one ``pread`` locally), length checked, and
    checked against ``entry.crc32`` when the index has checksums (a mismatch is read again
    up to :data:`CHECKSUM_RETRIES` times, then :class:`IntegrityError` naming the member)."""
    if isinstance(source, (str, os.PathLike)):
        where = os.fspath(source)

        overrides = policy_overrides(policy)

        def read() -> bytes:
            try:
                return read_range(source, entry.offset, entry.size, fs=fs, **overrides)
            except IntegrityError as e:
                raise IntegrityError(
                    f"{e} (member {entry.name}: {entry.size} bytes at {entry.offset})",
                    path=e.path or where,
                    member=entry.name,
                ) from e

        return verify_member(read, entry, where=where)
    f = source
    name = str(getattr(f, "name", "<file>"))
    return verify_member(lambda: _read_at(f, entry, name), entry, where=name)


def verify_member(read: Callable[[], bytes], entry: IndexEntry, *, where: str) -> bytes:
    """``read()`` checked against ``entry.crc32`` (no check without one): a mismatch reads
    again, up to :data:`CHECKSUM_RETRIES` times, then raises :class:`IntegrityError` naming
    the member and its sample."""
    data = read()
    if entry.crc32 is None:
        return data
    attempts = 1
    got = zlib.crc32(data)
    while got != entry.crc32 and attempts <= CHECKSUM_RETRIES:
        data = read()
        attempts += 1
        got = zlib.crc32(data)
    if got != entry.crc32:
        raise IntegrityError.invalid(
            "member checksum",
            f"crc32 {got:08x}",
            rule=f"the index says crc32 {entry.crc32:08x} for these {entry.size} bytes at "
            f"{entry.offset} ({attempts} reads; the bytes were damaged on the way or the shard "
            "changed)",
            hint="Re-download the shard, or rebuild the index if the shard was replaced.",
            path=where,
            member=entry.name,
            sample_id=entry.sample_id,
        )
    return data


def _read_at(f: IO[bytes], entry: IndexEntry, where: str) -> bytes:
    """The member's bytes from an open shard; :class:`IntegrityError` when the file ends
    first (a truncated shard)."""
    f.seek(entry.offset)
    chunks = []
    n = entry.size
    while n > 0:
        chunk = f.read(n)
        if not chunk:
            break
        chunks.append(chunk)
        n -= len(chunk)
    data = b"".join(chunks)
    if len(data) != entry.size:
        raise IntegrityError.invalid(
            "member size",
            len(data),
            rule=f"the index says {entry.size} bytes at {entry.offset} (truncated shard?)",
            path=where,
            member=entry.name,
        )
    return data


def open_member(
    source: ShardInput,
    entry: IndexEntry,
    *,
    fs: AbstractFileSystem | None = None,
    block_size: int = DEFAULT_BLOCK_SIZE,
    policy: RetryPolicy | None = None,
) -> IO[bytes]:
    """A seekable binary file over one member (for video and mask readers); close it.

    A :class:`RangeFile` whose window is the member: over the local file (``pread``), the
    open file object, or ranged requests (read-ahead never crosses into the next member).
    When ``entry`` has a checksum, the member is read whole and verified first (see
    :func:`read_member`), and the file serves those verified bytes.
    """
    if entry.crc32 is not None:
        data = read_member(source, entry, fs=fs, policy=policy)
        where = f"{_where(source, fs)}::{entry.name}"
        memory = FileObjectSource(io.BytesIO(data), name=where, owns=True)
        return RangeFile.over(memory, length=len(data), name=where)  # type: ignore[return-value]
    if isinstance(source, (str, os.PathLike)):
        fs, path = resolve(source) if fs is None else (fs, os.fspath(source))
        where = f"{unresolve(fs, path)}::{entry.name}"
        if is_local(fs):
            local = LocalSource(path)
            return RangeFile.over(  # type: ignore[return-value]
                local, start=entry.offset, length=entry.size, name=where
            )
        return RangeFile(  # type: ignore[return-value]
            path,
            fs=fs,
            start=entry.offset,
            length=entry.size,
            block_size=block_size,
            **policy_overrides(policy),
        )
    where = f"{getattr(source, 'name', '<file>')}::{entry.name}"
    wrapped = FileObjectSource(source, name=where)
    return RangeFile.over(  # type: ignore[return-value]
        wrapped, start=entry.offset, length=entry.size, name=where
    )


def _where(source: ShardInput, fs: AbstractFileSystem | None) -> str:
    if isinstance(source, (str, os.PathLike)):
        if fs is None:
            fs, path = resolve(source)
        else:
            path = os.fspath(source)
        return unresolve(fs, path)
    return str(getattr(source, "name", "<file>"))


def add_checksums(
    index: ShardIndex, source: ShardInput, *, fs: AbstractFileSystem | None = None
) -> ShardIndex:
    """``index`` with the CRC-32 of every member, computed from the shard's bytes (read in
    archive order; meant for local shards: ``sparkle-data index --checksums``)."""
    where = index.source or index.shard
    with shard_file(source, fs=fs, block_size=DEFAULT_BLOCK_SIZE) as (f, _):
        entries = tuple(
            IndexEntry(e.name, e.offset, e.size, zlib.crc32(_read_at(f, e, where)))
            for e in index.entries
        )
    return replace(index, entries=entries)
