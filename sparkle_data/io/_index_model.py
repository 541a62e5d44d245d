"""Records of a tar member index: :class:`IndexEntry` (one member) and :class:`ShardIndex`
(one shard, with lookups by member name or sample id). Documented import path:
:mod:`sparkle_data.io.index`."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO

from sparkle_data.errors import IntegrityError, MissingArtifactError
from sparkle_data.io.safetar import BLOCK_SIZE, padded_size

__all__ = ["IndexEntry", "ShardIndex", "ShardInput"]

ShardInput = str | os.PathLike[str] | IO[bytes]
"""A shard: a location (local path, URL, ``hf://...``) or a seekable binary file."""


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
