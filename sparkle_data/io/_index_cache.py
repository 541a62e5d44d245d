"""The user-cache of shard indexes: :func:`load_or_build_index` reuses a cached index while it
still matches the shard (:func:`index_matches`), else builds and caches it;
:func:`build_indexes` does that for many shards in parallel. Documented import path:
:mod:`sparkle_data.io.index`."""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed

from fsspec.spec import AbstractFileSystem

from sparkle_data.errors import IntegrityError, MissingArtifactError
from sparkle_data.io._index_files import INDEX_SUFFIX, read_index, write_index
from sparkle_data.io._index_format import FORMAT_VERSION
from sparkle_data.io._index_model import ShardIndex
from sparkle_data.io._index_scan import build_index, shard_name_of
from sparkle_data.io.cache import IndexCacheWarning, cache_path
from sparkle_data.io.fs import FileInfo, info, resolve, unresolve
from sparkle_data.policy import SkipReport

__all__ = ["build_indexes", "index_cache_path", "index_matches", "load_or_build_index"]


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
    name = shard_name_of(shard_name, where)
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
