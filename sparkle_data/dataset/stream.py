"""Sequential reading of whole tar shards at full bandwidth, and the pairing of shard families.

Pieces of :class:`~sparkle_data.dataset.SparkleFullPass`:

* :class:`BlockStream`: a non-seekable file over a shard read front to back in large ranged
  reads, :attr:`depth` of them in flight (no per-member round trip); it counts its bytes.
* :func:`stream_members`: ``(sample id, member bytes)`` of one shard through the safe tar
  scanner (:func:`~sparkle_data.io.safetar.iter_tar_files`: regular files named for this
  shard only, links/devices/``..`` refused, no extraction), and the shard's
  :class:`~sparkle_data.io.index.ShardIndex` as a by-product once the whole shard was read.
* :class:`JoinBuffer`: pairs members of several families by id while they arrive in
  compatible (ascending) order, holding at most ``bound`` incomplete samples.
"""

from __future__ import annotations

import io
from collections import deque
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Final, cast

from sparkle_data.io.fs import FileInfo
from sparkle_data.io.index import IndexEntry, ShardIndex
from sparkle_data.io.safetar import iter_tar_files, padded_size
from sparkle_data.io.source import read_range
from sparkle_data.layout import parse_member_name
from sparkle_data.policy import SkipReport

if TYPE_CHECKING:
    from fsspec.spec import AbstractFileSystem

__all__ = [
    "STREAM_BLOCK",
    "BlockStream",
    "JoinBuffer",
    "ShardRead",
    "merge_by_id",
    "stream_members",
]

STREAM_BLOCK: Final = 4 << 20
"""Bytes per ranged read of a sequential shard read."""


class BlockStream(io.RawIOBase):
    """A shard read front to back: ``block``-byte ranged reads, ``depth`` of them in flight.

    Not seekable (the tar scanner then reads straight through). :attr:`bytes_read` counts
    the bytes fetched; :meth:`close` cancels the reads not yet needed (stopping early costs
    at most ``depth`` blocks).
    """

    def __init__(
        self,
        path: str,
        size: int,
        *,
        fs: AbstractFileSystem | None,
        block: int = STREAM_BLOCK,
        depth: int = 4,
    ) -> None:
        super().__init__()
        self.path = path
        self.size = size
        self.fs = fs
        self.block = max(1, block)
        self.bytes_read = 0
        self._pool = ThreadPoolExecutor(max_workers=max(1, depth))
        self._depth = max(1, depth)
        self._next = 0
        self._queue: deque[Future[bytes]] = deque()
        self._buf = memoryview(b"")

    @property
    def name(self) -> str:
        return self.path

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def _fill(self) -> None:
        while len(self._queue) < self._depth and self._next < self.size:
            n = min(self.block, self.size - self._next)
            fut = self._pool.submit(
                read_range, self.path, self._next, n, fs=self.fs, total=self.size
            )
            self._queue.append(fut)
            self._next += n

    def read(self, size: int | None = -1, /) -> bytes:
        if size is None or size < 0:
            size = self.size
        if not self._buf:
            self._fill()
            if not self._queue:
                return b""
            data = self._queue.popleft().result()
            self.bytes_read += len(data)
            self._buf = memoryview(data)
            self._fill()
        out = bytes(self._buf[:size])
        self._buf = self._buf[size:]
        return out

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        for fut in self._queue:
            fut.cancel()
        self._queue.clear()
        self._pool.shutdown(wait=False, cancel_futures=True)
        super().close()


@dataclass
class ShardRead:
    """What reading one shard produced (filled while :func:`stream_members` runs)."""

    shard: str
    """Shard path relative to the root."""
    bytes_read: int = 0
    index: ShardIndex | None = None
    """The member index, once the shard was read to its end (``None`` if stopped early)."""


def stream_members(
    location: str,
    rel: str,
    finfo: FileInfo,
    *,
    fs: AbstractFileSystem | None,
    read: ShardRead,
    report: SkipReport | None = None,
    block: int = STREAM_BLOCK,
) -> Generator[tuple[str, bytes], None, None]:
    """``(sample id, data)`` of every member of one shard, in archive order, read once.

    ``location`` is where to read it (a path inside ``fs``); ``rel`` its path relative to the
    root (for names). When the generator runs to the end, ``read.index`` holds the shard's
    member index (the same one :func:`~sparkle_data.io.index.build_index` would build).
    """
    shard = rel.rsplit("/", 1)[-1]
    stream = BlockStream(location, finfo.size, fs=fs, block=block)
    entries: list[IndexEntry] = []
    skips = report.total if report is not None else 0
    try:
        tar = cast("IO[bytes]", stream)
        for member, data in iter_tar_files(tar, name=rel, shard=shard, report=report):
            read.bytes_read = stream.bytes_read
            entries.append(IndexEntry(member.name, member.offset, member.size))
            yield str(parse_member_name(member.name).sample_id), data
    finally:
        read.bytes_read = stream.bytes_read
        stream.close()
    if report is not None and report.total != skips:
        return  # damaged: the members before the damage were used, nothing is cached
    end = entries[-1].offset + padded_size(entries[-1].size) if entries else 0
    read.index = ShardIndex(
        shard=shard,
        shard_size=finfo.size,
        entries=tuple(entries),
        end_offset=end,
        etag=finfo.etag,
        sha256=finfo.sha256,
        source=location,
    )


@dataclass
class JoinBuffer:
    """Members of ``families`` paired by sample id; at most ``bound`` incomplete samples."""

    families: Sequence[str]
    bound: int
    pending: dict[str, dict[str, bytes]] = field(default_factory=dict)
    peak: int = 0

    def add(self, sample_id: str, family: str, data: bytes) -> dict[str, bytes] | None:
        """Add one member; the sample's members when it is now complete, else ``None``."""
        got = self.pending.setdefault(sample_id, {})
        got[family] = data
        if len(got) == len(self.families):
            del self.pending[sample_id]
            return got
        self.peak = max(self.peak, len(self.pending))
        return None

    @property
    def overflowing(self) -> bool:
        """More incomplete samples than ``bound``: the families are not in compatible order."""
        return len(self.pending) > self.bound


def merge_by_id(
    streams: Mapping[str, Iterator[tuple[str, bytes]]],
    keep: Callable[[str], bool],
) -> Generator[tuple[str, str, bytes], None, None]:
    """``(family, sample id, data)`` from several id-ordered streams, always advancing the
    one whose last id is smallest (so compatible orders pair up with a small buffer)."""
    heads: dict[str, str] = dict.fromkeys(streams, "")
    live = dict(streams)
    while live:
        family = min(live, key=lambda f: heads[f])
        try:
            sample_id, data = next(live[family])
        except StopIteration:
            del live[family]
            continue
        heads[family] = sample_id
        if keep(sample_id):
            yield family, sample_id, data
