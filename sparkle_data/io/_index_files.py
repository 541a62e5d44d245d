"""Index files: write one shard's index or many (a combined file) atomically, and read them
back from any location (local, URL or ``hf://``). Documented import path:
:mod:`sparkle_data.io.index`."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Final

from fsspec.spec import AbstractFileSystem

from sparkle_data.errors import MissingArtifactError
from sparkle_data.io._index_format import decode_indexes, encode_indexes
from sparkle_data.io._index_model import ShardIndex
from sparkle_data.io.atomic import atomic_write_bytes
from sparkle_data.io.fs import is_local, resolve
from sparkle_data.io.rangefile import RangeFile
from sparkle_data.io.regular import open_regular

__all__ = ["INDEX_SUFFIX", "read_index", "read_indexes", "write_index", "write_indexes"]

INDEX_SUFFIX: Final = ".sparkle-index"
"""File name suffix of index files (``{shard}.sparkle-index`` for one shard)."""


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
