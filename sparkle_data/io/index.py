"""Member indexes of tar shards: build once by header hops, then read any member in one range.

A :class:`ShardIndex` lists, for one shard, every member's name, data offset and size, with
the shard's total size (and etag/sha256 when known). It is built by :func:`build_index`,
which reads only 512-byte headers and seeks over member data (about 1 MB of reads for a 5 GB
shard; remotely, one ranged request per member: prefer a published index), and stored in a
compact versioned binary format (``docs/io.md`` is normative; about 4 bytes per member).

Reading: :func:`read_member` is one ranged read whose length is checked;
:func:`open_member` hands a reader a bounded seekable file over the member. A tar cut at a
member boundary reads back with no error in ``tarfile``; :func:`verify_shard` catches it by
comparing the shard with its index.

Caching: :func:`load_or_build_index` keeps indexes under the user cache dir
(:mod:`sparkle_data.io.cache`), keyed by the shard's location, name and size; a stale or
corrupt cache file is rebuilt. :func:`build_indexes` indexes many shards in parallel.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import struct
import warnings
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import IO, Any, Final

import numpy as np
import numpy.typing as npt
from fsspec.spec import AbstractFileSystem

from sparkle_data._version import __version__
from sparkle_data.errors import IntegrityError, MissingArtifactError
from sparkle_data.io.atomic import atomic_write_bytes
from sparkle_data.io.cache import IndexCacheWarning, cache_path
from sparkle_data.io.fs import FileInfo, info, is_local, resolve, unresolve
from sparkle_data.io.regular import open_regular
from sparkle_data.io.remote import DEFAULT_BLOCK_SIZE, RangeFile, RetryPolicy, read_range
from sparkle_data.io.safetar import BLOCK_SIZE, padded_size, scan_tar
from sparkle_data.io.source import FileObjectSource, LocalSource
from sparkle_data.layout import parse_member_name, parse_shard_name
from sparkle_data.policy import SkipReport

__all__ = [
    "CHECKSUM_RETRIES",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "INDEX_SUFFIX",
    "READ_VERSIONS",
    "IndexEntry",
    "ShardIndex",
    "add_checksums",
    "build_index",
    "build_indexes",
    "decode_indexes",
    "encode_indexes",
    "index_cache_path",
    "index_matches",
    "load_or_build_index",
    "open_member",
    "read_index",
    "read_indexes",
    "read_member",
    "verify_member",
    "verify_shard",
    "write_index",
    "write_indexes",
]

FORMAT_NAME: Final = "sparkle-data/tar-index"
FORMAT_VERSION: Final = 2
"""Newest container version written: 2 when any entry has a checksum, else 1 (which every
reader of version 1 understands). Readers accept 1 and 2."""
READ_VERSIONS: Final = (1, 2)
CHECKSUM_RETRIES: Final = 2
"""Re-reads of a member whose bytes do not match its checksum before :class:`IntegrityError`."""
MAGIC: Final = b"SPRKLIDX"
INDEX_SUFFIX: Final = ".sparkle-index"
"""File name suffix of index files (``{shard}.sparkle-index`` for one shard)."""
INDEX_READ_AHEAD: Final = 8 * 1024
"""Read-ahead of remote header hops: one request reads the header and a little beyond."""
_CHECKSUM_SIZE: Final = 32
_NAME_RE_DIGITS: Final = 6

ShardInput = str | os.PathLike[str] | IO[bytes]


# --------------------------------------------------------------------------- records


@dataclass(frozen=True, slots=True)
class IndexEntry:
    """Where one member's bytes are in its shard (and, optionally, their CRC-32)."""

    name: str
    offset: int
    size: int
    crc32: int | None = field(default=None, compare=False)
    """CRC-32 (``zlib.crc32``) of the member's bytes, when the index was built from local bytes
    with checksums (``sparkle-data index --checksums``); every read through the index then
    verifies it. Not part of equality (two entries at the same place are the same entry)."""

    @property
    def end(self) -> int:
        return self.offset + self.size

    @property
    def sample_id(self) -> str:
        """File stem of the member (``Sparkle_location_000000``)."""
        return self.name.rsplit("/", 1)[-1].rpartition(".")[0]


@dataclass(frozen=True, slots=True, repr=False)
class ShardIndex:
    """The members of one tar shard, in archive order; look up by member name or sample id."""

    shard: str
    """Shard file name (``location_source_video_part00.tar``)."""
    shard_size: int
    entries: tuple[IndexEntry, ...]
    end_offset: int | None
    """Offset of the end-of-archive blocks; ``None`` for an index of a truncated shard."""
    etag: str | None = None
    sha256: str | None = None
    source: str | None = None
    """Location the index was built from (not part of identity checks)."""
    _lookup: dict[str, IndexEntry] | None = field(
        default=None, init=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        where = self.source or self.shard
        limit = self.shard_size if self.end_offset is None else self.end_offset
        if self.end_offset is not None and self.end_offset > self.shard_size:
            raise IntegrityError.invalid(
                "end offset",
                self.end_offset,
                rule=f"beyond the shard size {self.shard_size}",
                path=where,
            )
        prev_end = 0
        for e in self.entries:
            if e.offset < prev_end + BLOCK_SIZE or e.size < 0 or e.offset % BLOCK_SIZE:
                raise IntegrityError.invalid(
                    "index entry",
                    (e.offset, e.size),
                    rule="offsets must follow a 512-byte header after the previous member",
                    path=where,
                    member=e.name,
                )
            prev_end = e.offset + padded_size(e.size)
            if e.end > limit:
                raise IntegrityError.invalid(
                    "index entry",
                    (e.offset, e.size),
                    rule=f"ends after the archive ({limit} bytes)",
                    path=where,
                    member=e.name,
                )

    @property
    def truncated(self) -> bool:
        return self.end_offset is None

    def _table(self) -> dict[str, IndexEntry]:
        table = self._lookup
        if table is None:
            table = {}
            stems: dict[str, IndexEntry | None] = {}
            for e in self.entries:
                if e.name in table:
                    raise IntegrityError.invalid(
                        "index entry", e.name, rule="duplicate name", path=self.shard
                    )
                table[e.name] = e
                stem = e.sample_id
                stems[stem] = None if stem in stems else e
            for stem, unique in stems.items():
                if unique is not None and stem not in table:
                    table[stem] = unique
            object.__setattr__(self, "_lookup", table)
        return table

    def get(self, key: str) -> IndexEntry | None:
        """The entry for a member name or a sample id, or ``None``."""
        return self._table().get(key)

    def entry(self, key: str) -> IndexEntry:
        """The entry for a member name or a sample id; :class:`MissingArtifactError` if none."""
        found = self._table().get(key)
        if found is None:
            raise MissingArtifactError.invalid(
                "member", key, rule="not in this shard's index", path=self.source or self.shard
            )
        return found

    def __getitem__(self, key: str) -> IndexEntry:
        found = self._table().get(key)
        if found is None:
            raise KeyError(key)
        return found

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key in self._table()

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self) -> Iterator[IndexEntry]:
        return iter(self.entries)

    def __repr__(self) -> str:
        state = ", truncated" if self.truncated else ""
        n = len(self.entries)
        return f"ShardIndex({self.shard!r}, {n} members, {self.shard_size} bytes{state})"


# --------------------------------------------------------------------------- building


def _shard_name(shard_name: str | None, where: str) -> str:
    name = shard_name if shard_name is not None else where.rstrip("/").rsplit("/", 1)[-1]
    parse_shard_name(name)
    return name


def _open_for_scan(
    fs: AbstractFileSystem, path: str, finfo: FileInfo, block_size: int
) -> IO[bytes]:
    if is_local(fs):
        return open_regular(path, buffering=0, what="shard")
    return RangeFile(  # type: ignore[return-value]
        path, fs=fs, file_size=finfo.size, etag=finfo.etag, block_size=block_size
    )


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
        name = _shard_name(shard_name, where)
        finfo = file_info or info(path, fs=fs)
        with _open_for_scan(fs, path, finfo, block_size) as f:
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
    name = _shard_name(shard_name, where)
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
    owned = isinstance(source, (str, os.PathLike))
    if owned:
        fs, path = resolve(source) if fs is None else (fs, os.fspath(source))  # type: ignore[arg-type]
        where = unresolve(fs, path)
        f: IO[bytes] = _open_for_scan(fs, path, info(path, fs=fs), INDEX_READ_AHEAD)
    else:
        f = source  # type: ignore[assignment]
        where = str(getattr(f, "name", index.source or index.shard))
    try:
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
    finally:
        if owned:
            f.close()


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


# --------------------------------------------------------------------------- reading members


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

        def read() -> bytes:
            try:
                if policy is None:
                    return read_range(source, entry.offset, entry.size, fs=fs)
                return read_range(
                    source,
                    entry.offset,
                    entry.size,
                    fs=fs,
                    retries=policy.retries,
                    backoff=policy.backoff,
                    timeout=policy.timeout,
                )
            except IntegrityError as e:
                raise IntegrityError(
                    f"{e} (member {entry.name}: {entry.size} bytes at {entry.offset})",
                    path=e.path or where,
                    member=entry.name,
                ) from e

        return verify_member(read, entry, where=where)
    f = source
    name = str(getattr(f, "name", "<file>"))

    def read_open() -> bytes:
        f.seek(entry.offset)
        data = _read_exact(f, entry.size)
        if len(data) != entry.size:
            raise IntegrityError.invalid(
                "member size",
                len(data),
                rule=f"the index says {entry.size} bytes at {entry.offset} (truncated shard?)",
                path=name,
                member=entry.name,
            )
        return data

    return verify_member(read_open, entry, where=name)


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


def _read_exact(f: IO[bytes], n: int) -> bytes:
    chunks = []
    while n > 0:
        chunk = f.read(n)
        if not chunk:
            break
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


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
        if policy is None:
            return RangeFile(  # type: ignore[return-value]
                path, fs=fs, start=entry.offset, length=entry.size, block_size=block_size
            )
        return RangeFile(  # type: ignore[return-value]
            path,
            fs=fs,
            start=entry.offset,
            length=entry.size,
            block_size=block_size,
            retries=policy.retries,
            backoff=policy.backoff,
            timeout=policy.timeout,
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
    from dataclasses import replace

    entries = []
    owned = isinstance(source, (str, os.PathLike))
    if owned:
        fs, path = resolve(source) if fs is None else (fs, os.fspath(source))  # type: ignore[arg-type]
        f: IO[bytes] = _open_for_scan(fs, path, info(path, fs=fs), DEFAULT_BLOCK_SIZE)
    else:
        f = source  # type: ignore[assignment]
    try:
        for e in index.entries:
            f.seek(e.offset)
            data = _read_exact(f, e.size)
            if len(data) != e.size:
                raise IntegrityError.invalid(
                    "member size",
                    len(data),
                    rule=f"the index says {e.size} bytes at {e.offset} (truncated shard?)",
                    path=index.source or index.shard,
                    member=e.name,
                )
            entries.append(IndexEntry(e.name, e.offset, e.size, zlib.crc32(data)))
    finally:
        if owned:
            f.close()
    return replace(index, entries=tuple(entries))


# --------------------------------------------------------------------------- on-disk format


def _shuffle(values: npt.NDArray[np.uint64]) -> bytes:
    """uint64 column -> its 8 byte planes, least significant first (compresses well)."""
    planes: npt.NDArray[np.uint8] = np.ascontiguousarray(values, dtype="<u8").view(np.uint8)
    return bytes(planes.reshape(-1, 8).T.tobytes())


def _unshuffle(raw: bytes, count: int) -> npt.NDArray[np.int64]:
    planes = np.frombuffer(raw, dtype=np.uint8).reshape(8, count)
    values: npt.NDArray[np.uint64] = np.ascontiguousarray(planes.T).view("<u8").reshape(count)
    return values.astype(np.int64)


def _zigzag(values: npt.NDArray[np.int64]) -> npt.NDArray[np.uint64]:
    return ((values << 1) ^ (values >> 63)).astype(np.uint64)


def _unzigzag(values: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    u = values.astype(np.uint64)
    half: npt.NDArray[np.int64] = (u >> np.uint64(1)).astype(np.int64)
    sign: npt.NDArray[np.int64] = (u & np.uint64(1)).astype(np.int64)
    return half ^ -sign


def _name_pattern(names: Sequence[str]) -> tuple[str, str] | None:
    """(prefix, suffix) when every name is ``prefix + 6 digits + suffix``."""
    if not names:
        return None
    first = names[0]
    stem, dot, ext = first.rpartition(".")
    suffix = dot + ext if dot else ""
    prefix = stem[:-_NAME_RE_DIGITS]
    n = len(prefix)
    for name in names:
        digits = name[n : n + _NAME_RE_DIGITS]
        if (
            len(name) != n + _NAME_RE_DIGITS + len(suffix)
            or not name.startswith(prefix)
            or not name.endswith(suffix)
            or not (digits.isascii() and digits.isdigit())
        ):
            return None
    return prefix, suffix


def _encode_shard(index: ShardIndex) -> tuple[dict[str, Any], bytes]:
    names = [e.name for e in index.entries]
    count = len(names)
    sizes = np.fromiter((e.size for e in index.entries), dtype=np.int64, count=count)
    offsets = np.fromiter((e.offset for e in index.entries), dtype=np.int64, count=count)
    base = _base_offsets(sizes)
    gaps = np.diff(offsets - base, prepend=0)
    if (gaps < 0).any():  # ShardIndex.__post_init__ already forbids this
        raise ValueError("member offsets must increase with a header before each member")
    columns = [sizes.astype(np.uint64), gaps.astype(np.uint64)]
    crcs = [e.crc32 for e in index.entries]
    checksummed = bool(crcs) and all(c is not None for c in crcs)
    if not checksummed and any(c is not None for c in crcs):
        raise ValueError(f"Shard {index.shard!r}: either every entry has a checksum or none.")
    if checksummed:
        columns.append(np.fromiter((int(c or 0) for c in crcs), dtype=np.uint64, count=count))
    pattern = _name_pattern(names)
    if pattern is not None:
        prefix, suffix = pattern
        start = len(prefix)
        ids = np.fromiter(
            (int(n[start : start + _NAME_RE_DIGITS]) for n in names), dtype=np.int64, count=count
        )
        columns.insert(0, _zigzag(np.diff(ids, prepend=0)))
        names_meta: dict[str, Any] = {"mode": "pattern", "prefix": prefix, "suffix": suffix}
        tail = b""
    else:
        if any("\0" in n for n in names):
            raise ValueError("member names must not contain NUL")
        names_meta = {"mode": "list"}
        tail = "\0".join(names).encode("utf-8")
    raw = b"".join(_shuffle(c) for c in columns) + tail
    payload = zlib.compress(raw, 9)
    meta = {
        "shard": index.shard,
        "source": index.source,
        "size": index.shard_size,
        "etag": index.etag,
        "sha256": index.sha256,
        "end": index.end_offset,
        "count": count,
        "names": names_meta,
        "columns": (["id_delta"] if pattern else [])
        + ["size", "gap"]
        + (["crc32"] if checksummed else []),
        "codec": "zlib",
        "raw_length": len(raw),
    }
    return meta, payload


def _base_offsets(sizes: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Data offsets if every member had exactly one 512-byte header and no gap."""
    padded = (sizes + (BLOCK_SIZE - 1)) // BLOCK_SIZE * BLOCK_SIZE
    before = np.concatenate(([0], np.cumsum(padded)[:-1])).astype(np.int64)
    return BLOCK_SIZE * (np.arange(len(sizes), dtype=np.int64) + 1) + before


def encode_indexes(indexes: Iterable[ShardIndex]) -> bytes:
    """Serialise one or more shard indexes into the container of ``docs/io.md``: version 1,
    or version 2 when entries carry checksums."""
    metas = []
    payloads = []
    offset = 0
    seen = set()
    version = 1
    for index in indexes:
        if index.shard in seen:
            raise ValueError(f"Shard {index.shard!r} appears twice in one index file.")
        seen.add(index.shard)
        meta, payload = _encode_shard(index)
        if "crc32" in meta["columns"]:
            version = 2
        meta["payload"] = [offset, len(payload)]
        offset += len(payload)
        metas.append(meta)
        payloads.append(payload)
    header = {
        "format": FORMAT_NAME,
        "version": version,
        "created_by": f"sparkle-data {__version__}",
        "shards": metas,
    }
    hjson = json.dumps(header, separators=(",", ":"), sort_keys=True).encode("utf-8")
    body = MAGIC + struct.pack("<I", len(hjson)) + hjson + b"".join(payloads)
    return body + hashlib.sha256(body).digest()


def _bad(where: str, rule: str, value: object = None) -> IntegrityError:
    shown = value if value is not None else where
    return IntegrityError.invalid("index file", shown, rule=rule, path=where)


def decode_indexes(data: bytes, *, where: str = "<index>") -> list[ShardIndex]:
    """Parse a version-1 or -2 index container; :class:`IntegrityError` on any damage."""
    head = len(MAGIC) + 4
    if len(data) < head + _CHECKSUM_SIZE or not data.startswith(MAGIC):
        raise _bad(where, "not a sparkle-data index (bad magic or too short)")
    (hlen,) = struct.unpack_from("<I", data, len(MAGIC))
    if head + hlen + _CHECKSUM_SIZE > len(data):
        raise _bad(where, "header length beyond the end of the file (truncated?)")
    try:
        header = json.loads(data[head : head + hlen].decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise _bad(where, f"header is not valid JSON ({e})") from e
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        raise _bad(where, f"header does not declare format {FORMAT_NAME!r}")
    version = header.get("version")
    if version not in READ_VERSIONS:
        raise IntegrityError.invalid(
            "index format version",
            version,
            rule=f"this sparkle-data ({__version__}) reads versions "
            f"{', '.join(map(str, READ_VERSIONS))} only",
            hint="Upgrade sparkle-data to read it, or rebuild the index with this version.",
            path=where,
        )
    body, checksum = data[:-_CHECKSUM_SIZE], data[-_CHECKSUM_SIZE:]
    if hashlib.sha256(body).digest() != checksum:
        raise _bad(where, "checksum mismatch (corrupt or truncated file)")
    payload = memoryview(data)[head + hlen : len(data) - _CHECKSUM_SIZE]
    shards = header.get("shards")
    if not isinstance(shards, list):
        raise _bad(where, "header has no shard list")
    try:
        return [_decode_shard(meta, payload, where) for meta in shards]
    except (KeyError, TypeError, ValueError) as e:
        if isinstance(e, IntegrityError):
            raise
        raise _bad(where, f"malformed shard entry ({type(e).__name__}: {e})") from e


def _decode_shard(meta: dict[str, Any], payload: memoryview, where: str) -> ShardIndex:
    count = int(meta["count"])
    start, length = (int(x) for x in meta["payload"])
    if count < 0 or start < 0 or length < 0 or start + length > len(payload):
        raise _bad(where, "payload range out of bounds", meta.get("shard"))
    if meta.get("codec") != "zlib":
        raise _bad(where, f"unknown codec {meta.get('codec')!r}", meta.get("shard"))
    names_meta = meta["names"]
    mode = names_meta["mode"]
    columns = list(meta["columns"])
    expected = (["id_delta"] if mode == "pattern" else []) + ["size", "gap"]
    checksummed = columns[-1:] == ["crc32"]
    if checksummed:
        expected.append("crc32")
    if columns != expected or mode not in ("pattern", "list"):
        raise _bad(where, f"unknown column layout {columns!r} / {mode!r}", meta.get("shard"))
    raw_length = int(meta["raw_length"])
    numeric = 8 * count * len(columns)
    if raw_length < numeric or (mode == "pattern" and raw_length != numeric):
        raise _bad(where, "raw length disagrees with the member count", meta.get("shard"))
    inflater = zlib.decompressobj()
    raw = inflater.decompress(payload[start : start + length], raw_length + 1)
    if len(raw) != raw_length or not inflater.eof:
        raise _bad(where, "payload does not inflate to its declared length", meta.get("shard"))
    cols = [
        _unshuffle(raw[i * 8 * count : (i + 1) * 8 * count], count) for i in range(len(columns))
    ]
    crcs: list[int | None] = [None] * count
    if checksummed:
        crcs = cols.pop().tolist()
    sizes, gaps = cols[-2], cols[-1]
    if count and ((sizes < 0).any() or (gaps < 0).any()):
        raise _bad(where, "negative size or gap", meta.get("shard"))
    offsets = _base_offsets(sizes) + np.cumsum(gaps)
    if mode == "pattern":
        ids = np.cumsum(_unzigzag(cols[0]))
        if count and (ids.min() < 0 or ids.max() >= 10**_NAME_RE_DIGITS):
            raise _bad(where, "sample index out of range", meta.get("shard"))
        prefix, suffix = str(names_meta["prefix"]), str(names_meta["suffix"])
        names = [f"{prefix}{i:06d}{suffix}" for i in ids.tolist()]
    else:
        text = raw[numeric:].decode("utf-8")
        names = text.split("\0") if count else []
        if len(names) != count:
            raise _bad(where, "name list disagrees with the member count", meta.get("shard"))
    entries = tuple(
        IndexEntry(n, o, s, c)
        for n, o, s, c in zip(names, offsets.tolist(), sizes.tolist(), crcs, strict=True)
    )
    end = meta.get("end")
    index = ShardIndex(
        shard=str(meta["shard"]),
        shard_size=int(meta["size"]),
        entries=entries,
        end_offset=None if end is None else int(end),
        etag=meta.get("etag"),
        sha256=meta.get("sha256"),
        source=meta.get("source"),
    )
    if len(index._table()) < count:
        raise _bad(where, "duplicate member names", index.shard)
    return index


def _read_bytes(location: str | os.PathLike[str], fs: AbstractFileSystem | None) -> bytes:
    fs, path = resolve(location) if fs is None else (fs, os.fspath(location))
    if is_local(fs):
        with open_regular(path, what="index file") as f:
            return f.read()
    with RangeFile(path, fs=fs) as rf:
        return rf.read()


def write_index(path: str | os.PathLike[str], index: ShardIndex) -> None:
    """Write one shard's index atomically (conventionally ``{shard}.sparkle-index``)."""
    atomic_write_bytes(path, encode_indexes([index]))


def write_indexes(path: str | os.PathLike[str], indexes: Iterable[ShardIndex]) -> None:
    """Write many shards' indexes into one file, atomically (a combined index)."""
    atomic_write_bytes(path, encode_indexes(indexes))


def read_indexes(
    location: str | os.PathLike[str], *, fs: AbstractFileSystem | None = None
) -> dict[str, ShardIndex]:
    """Every shard index in an index file (local, URL or ``hf://``), by shard name."""
    data = _read_bytes(location, fs)
    return {ix.shard: ix for ix in decode_indexes(data, where=os.fspath(location))}


def read_index(
    location: str | os.PathLike[str],
    *,
    shard: str | None = None,
    fs: AbstractFileSystem | None = None,
) -> ShardIndex:
    """One shard's index from an index file; ``shard`` picks it from a combined file."""
    indexes = read_indexes(location, fs=fs)
    where = os.fspath(location)
    if shard is None:
        if len(indexes) != 1:
            raise MissingArtifactError.invalid(
                "shard",
                None,
                rule=f"the file holds {len(indexes)} shard indexes; pass shard=",
                path=where,
            )
        return next(iter(indexes.values()))
    if shard not in indexes:
        raise MissingArtifactError.invalid(
            "shard", shard, rule="not in this index file", path=where
        )
    return indexes[shard]


# --------------------------------------------------------------------------- cache


def index_cache_path(
    source: str, shard: str, size: int, *, cache_dir: str | os.PathLike[str] | None = None
) -> str:
    """Cache file of a shard's index, keyed by (format version, location, shard, size)."""
    key = [FORMAT_VERSION, source, shard, size]
    return str(cache_path("indexes", shard, key, suffix=INDEX_SUFFIX, root=cache_dir))


def index_matches(
    index: ShardIndex, file_info: FileInfo, *, shard: str | None = None, use_etag: bool = True
) -> bool:
    """Whether ``index`` describes the shard ``file_info`` describes (no I/O).

    Same shard file name (``shard``, default: the file name of ``file_info.location``) and
    size, not truncated, and the same sha256 when both sides know one; with ``use_etag`` also
    the same etag when both know one (right for a cache built from this very location; an
    index published elsewhere should rely on size and sha256: ``use_etag=False``).
    """
    if shard is None:
        shard = file_info.location.rstrip("/").rsplit("/", 1)[-1]
    if index.shard != shard or index.shard_size != file_info.size or index.truncated:
        return False
    if use_etag and index.etag and file_info.etag and index.etag != file_info.etag:
        return False
    return not (index.sha256 and file_info.sha256 and index.sha256 != file_info.sha256)


def load_or_build_index(
    location: str | os.PathLike[str],
    *,
    fs: AbstractFileSystem | None = None,
    shard_name: str | None = None,
    cache: bool = True,
    cache_dir: str | os.PathLike[str] | None = None,
    refresh: bool = False,
    report: SkipReport | None = None,
    file_info: FileInfo | None = None,
) -> ShardIndex:
    """The shard's index from the cache when it is still valid, else built and cached.

    Valid means: same shard name and size, and same etag/sha256 when both sides know one
    (one metadata call per shard, none when ``file_info`` comes from a listing). A corrupt
    cache file is rebuilt with an :class:`IndexCacheWarning`; a stale one silently. Indexes
    of truncated shards (lenient ``report``) are returned but never cached.
    """
    fs, path = resolve(location) if fs is None else (fs, os.fspath(location))
    where = unresolve(fs, path)
    name = _shard_name(shard_name, where)
    finfo = file_info if file_info is not None else info(path, fs=fs)
    cpath = index_cache_path(where, name, finfo.size, cache_dir=cache_dir) if cache else None
    if cpath is not None and not refresh and os.path.exists(cpath):
        try:
            cached = read_index(cpath)
        except (IntegrityError, OSError, MissingArtifactError) as e:
            warnings.warn(
                f"Rebuilding the cached index of {where}: {cpath} is unreadable ({e})",
                IndexCacheWarning,
                stacklevel=2,
            )
        else:
            if index_matches(cached, finfo, shard=name):
                return cached
    index = build_index(path, fs=fs, shard_name=name, file_info=finfo, report=report)
    if cpath is not None and not index.truncated:
        try:
            write_index(cpath, index)
        except OSError as e:
            warnings.warn(
                f"Could not cache the index of {where} at {cpath}: {e}",
                IndexCacheWarning,
                stacklevel=2,
            )
    return index


def build_indexes(
    locations: Sequence[str | os.PathLike[str]],
    *,
    fs: AbstractFileSystem | None = None,
    max_workers: int = 8,
    progress: bool = True,
    cache: bool = True,
    cache_dir: str | os.PathLike[str] | None = None,
    refresh: bool = False,
) -> list[ShardIndex]:
    """Indexes of many shards (cached, see :func:`load_or_build_index`), built in parallel
    threads, in the order of ``locations``, with a tqdm progress bar. The first error
    raises (pending shards are cancelled)."""
    from tqdm.auto import tqdm

    def one(loc: str | os.PathLike[str]) -> ShardIndex:
        return load_or_build_index(loc, fs=fs, cache=cache, cache_dir=cache_dir, refresh=refresh)

    with (
        ThreadPoolExecutor(max_workers=max(1, max_workers)) as pool,
        tqdm(total=len(locations), disable=not progress, unit="shard", desc="index") as bar,
    ):
        futures = [pool.submit(one, loc) for loc in locations]
        try:
            for fut in as_completed(futures):
                fut.result()
                bar.update(1)
        except BaseException:
            for fut in futures:
                fut.cancel()
            raise
        return [fut.result() for fut in futures]
