"""Start-up of a remote root: one listing, the published index, parallel probes, a disk cache.

Every front end (:func:`~sparkle_data.catalog.build_catalog`, so ``SparkleDataset(URL)``,
``sparkle_data.hf.load_dataset`` and the CLI) finds the files of a root here, with requests
that scale with what is asked, not with the repository:

* **Hub** (``hf://datasets/{repo}[@rev]``): the revision is pinned to its commit sha (one
  call unless it is a sha already), then **one** recursive listing (the tree API,
  ``HfApi.list_repo_tree``, paginated by 1000) gives every file's size, blob id and LFS
  sha256;
* **HTTP(S)** roots cannot be listed: a published index (``indexes/sparkle.sparkle-index``)
  names the shards and their sizes; prompts and records are probed at their fixed names in
  parallel (bounded concurrency), and shards too when there is no index;
* **local** roots are listed as before (no cache: a listing is cheap).

Only the shards of the requested artifacts are listed and indexed. The published index
(``index_file`` or ``indexes/sparkle.sparkle-index`` of the root) is used for every shard
whose recorded size and sha256 agree with the listing (no request per shard); other shards
are indexed by header reads, in parallel, cached per shard.

The result (files, and the indexes of the shards asked for) is cached on disk keyed by the
location, the pinned revision (Hub) or the ETags of the index and prompt files (HTTP), and
what was asked: a warm start makes O(1) requests (Hub: none beyond pinning the revision).
"""

from __future__ import annotations

import json
import os
import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from sparkle_data.catalog.fixed_names import probe_files, probe_shards, small_files
from sparkle_data.errors import IndexCacheWarning, IntegrityError, LayoutError, StaleIndexWarning
from sparkle_data.io import fs as sfs
from sparkle_data.io.atomic import atomic_write_bytes
from sparkle_data.io.cache import cache_path
from sparkle_data.io.index import (
    ShardIndex,
    decode_indexes,
    encode_indexes,
    index_matches,
    load_or_build_index,
    read_indexes,
)
from sparkle_data.io.location import is_hf
from sparkle_data.io.remote import HTTPRangeFileSystem
from sparkle_data.layout import (
    ARTIFACTS,
    parse_shard_name,
)
from sparkle_data.policy import SkipReport

if TYPE_CHECKING:
    from fsspec.spec import AbstractFileSystem

__all__ = [
    "DEFAULT_INDEX_PATH",
    "Startup",
    "index_location",
    "start_root",
    "trusted_indexes",
    "warn_stale",
]

DEFAULT_INDEX_PATH: Final = "indexes/sparkle.sparkle-index"
"""Where a published combined index is looked for in a root when ``index_file`` is not given."""
CACHE_VERSION: Final = 1
_HUB_BASE: Final = re.compile(
    r"datasets/(?P<repo>[^/@]+/[^/@]+)(?:@(?P<rev>[^/]+))?(?:/(?P<sub>.*))?"
)
_SHA: Final = re.compile(r"[0-9a-f]{40}")


@dataclass(frozen=True)
class Startup:
    """What start-up found: the files to build the inventory from, and shard indexes."""

    files: list[str] | None
    """Relative paths (a manifest for ``scan_inventory(files=...)``); ``None``: list it."""
    indexes: dict[str, ShardIndex]
    """Index of each shard of ``files`` that needs one, by relative path."""
    base: str
    """The path inside the filesystem to read from (a Hub root pinned to its sha)."""
    cached: bool = False
    """Whether this came from the start-up cache."""
    known: dict[str, sfs.FileInfo] = field(default_factory=dict)
    """Size and ETag of the small files probed (HTTP roots), for opening them unasked."""


def _hub_parts(base: str) -> tuple[str, str | None, str] | None:
    m = _HUB_BASE.fullmatch(base.strip("/"))
    if m is None:
        return None
    return m.group("repo"), m.group("rev"), (m.group("sub") or "").strip("/")


def _wanted_shard(rel: str, edit_types: Sequence[str], artifacts: Sequence[str]) -> bool:
    try:
        shard = parse_shard_name(rel)
    except LayoutError:
        return True  # let the inventory report it as ignored
    return shard.edit_type in edit_types and shard.artifact in artifacts and shard.path == rel


# --------------------------------------------------------------------------- cache


def _cache_file(key: list[Any], cache_dir: str | os.PathLike[str] | None) -> str:
    return str(cache_path("startup", "catalog", key, suffix=".json", root=cache_dir))


def _load_cache(path: str) -> tuple[list[str], dict[str, ShardIndex]] | None:
    if not os.path.exists(path):
        return None
    try:
        with open(path, "rb") as f:
            raw = f.read()
        head, _, blob = raw.partition(b"\n")
        meta = json.loads(head)
        if meta.get("version") != CACHE_VERSION:
            return None
        files = [str(p) for p in meta["files"]]
        by_name = {ix.shard: ix for ix in decode_indexes(blob, where=path)} if blob else {}
        indexes = {rel: by_name[rel.rsplit("/", 1)[-1]] for rel in meta["shards"]}
    except (OSError, ValueError, KeyError, TypeError) as e:
        warnings.warn(
            f"Ignoring the unreadable start-up cache {path}: {e}", IndexCacheWarning, stacklevel=4
        )
        return None
    return files, indexes


def _save_cache(path: str, files: list[str], indexes: Mapping[str, ShardIndex]) -> None:
    if any(ix.truncated for ix in indexes.values()):
        return  # a damaged shard is reported again on the next start, never cached
    meta = {"version": CACHE_VERSION, "files": files, "shards": sorted(indexes)}
    blob = encode_indexes(indexes[rel] for rel in sorted(indexes)) if indexes else b""
    try:
        atomic_write_bytes(path, json.dumps(meta).encode("utf-8") + b"\n" + blob)
    except OSError as e:
        warnings.warn(
            f"Could not write the start-up cache {path}: {e}", IndexCacheWarning, stacklevel=4
        )


# --------------------------------------------------------------------------- listings


def _hub_listing(fs: AbstractFileSystem, repo: str, sha: str, sub: str) -> dict[str, sfs.FileInfo]:
    """Every file under ``sub`` at commit ``sha``: one recursive listing through the Hub's
    tree API (``HfFileSystem.find``, which also fills the filesystem's listing cache, so the
    files opened afterwards need no metadata request)."""
    base = f"datasets/{repo}@{sha}" + (f"/{sub}" if sub else "")
    try:
        found = fs.find(base, detail=True)
    except FileNotFoundError:
        return {}
    prefix = base.rstrip("/") + "/"
    out: dict[str, sfs.FileInfo] = {}
    for name, entry in found.items():
        if entry.get("type") != "file" or not str(name).startswith(prefix):
            continue
        rel = str(name)[len(prefix) :]
        lfs = entry.get("lfs")
        sha256 = None
        if lfs is not None:
            sha256 = lfs.get("sha256") if isinstance(lfs, dict) else getattr(lfs, "sha256", None)
        out[rel] = sfs.FileInfo(
            f"hf://{name}",
            int(entry["size"]),
            str(entry.get("blob_id") or "") or None,
            str(sha256) if sha256 else None,
        )
    return out


def _pin_hub(fs: AbstractFileSystem, repo: str, rev: str | None) -> str:
    if rev is not None and _SHA.fullmatch(rev):
        return rev
    from urllib.parse import unquote

    from huggingface_hub import HfApi

    api = HfApi(token=getattr(fs, "token", None))
    return str(api.dataset_info(repo, revision=unquote(rev) if rev else "main").sha)


# --------------------------------------------------------------------------- published index


def index_location(
    index_file: str, base: str, fs: AbstractFileSystem, revision: str | None
) -> tuple[str, AbstractFileSystem | None]:
    """``(location, fs)`` of an ``index_file`` argument: ``{revision}`` is replaced by the
    pinned commit; a relative path is relative to the root; ``fs`` ``None``: resolve it."""
    text = index_file.replace("{revision}", revision or "")
    if text.startswith("hf://") and is_hf(fs):
        return text[len("hf://") :], fs  # same client, same token
    if "://" in text or os.path.isabs(text) or os.path.exists(text):
        return text, None
    return sfs.join(base, text), fs


def trusted_indexes(
    published: Mapping[str, ShardIndex],
    infos: Mapping[str, sfs.FileInfo],
    shards: Sequence[str],
) -> tuple[dict[str, ShardIndex], list[str]]:
    """Published entries whose size (and sha256, when both know it) match the listing's
    info of their shard: ``(trusted by relative path, stale shard names)``."""
    out: dict[str, ShardIndex] = {}
    stale: list[str] = []
    for rel in shards:
        name = rel.rsplit("/", 1)[-1]
        pub = published.get(name)
        if pub is None:
            continue
        if index_matches(pub, infos[rel], shard=name, use_etag=False):
            out[rel] = pub
        else:
            stale.append(name)
    return out, stale


def warn_stale(stale: Sequence[str], *, stacklevel: int = 4) -> None:
    """Warn (:class:`StaleIndexWarning`) that published entries of ``stale`` shards do not
    match them and are rebuilt."""
    if stale:
        more = "..." if len(stale) > 5 else ""
        warnings.warn(
            f"{len(stale)} published index entries do not match their shards (size or sha256) "
            f"and are rebuilt: {', '.join(stale[:5])}{more}",
            StaleIndexWarning,
            stacklevel=stacklevel,
        )


# --------------------------------------------------------------------------- start-up


def start_root(
    fs: AbstractFileSystem,
    base: str,
    *,
    edit_types: Sequence[str],
    artifacts: Sequence[str] | None = None,
    index_file: str | None = None,
    index_shards: bool = True,
    cache: bool = True,
    cache_dir: str | os.PathLike[str] | None = None,
    max_workers: int = 8,
    progress: bool = False,
    report: SkipReport | None = None,
) -> Startup:
    """Find the files and shard indexes of a root (see the module doc)."""
    arts = tuple(artifacts) if artifacts is not None else tuple(ARTIFACTS)
    ets = tuple(edit_types)
    hub = _hub_parts(base) if is_hf(fs) else None
    if hub is not None:
        repo, rev, sub = hub
        sha = _pin_hub(fs, repo, rev)
        base = f"datasets/{repo}@{sha}" + (f"/{sub}" if sub else "")
        key: list[Any] = [CACHE_VERSION, "hub", repo, sha, sub, ets, arts, index_file]
        cpath = _cache_file(key, cache_dir) if cache and index_shards else None
        if cpath is not None and (hit := _load_cache(cpath)) is not None:
            return Startup(hit[0], hit[1], base, cached=True)
        infos = _hub_listing(fs, repo, sha, sub)
        files = [
            rel
            for rel in sorted(infos)
            if not rel.endswith(".tar") or _wanted_shard(rel, ets, arts)
        ]
        revision: str | None = sha
    elif isinstance(fs, HTTPRangeFileSystem):
        revision = None
        index_rel = DEFAULT_INDEX_PATH if index_file is None else None
        small = probe_files(fs, base, small_files(ets) + ([index_rel] if index_rel else []))
        cpath = None
        if cache and index_shards:
            tags = sorted((rel, i.etag, i.size) for rel, i in small.items())
            key = [CACHE_VERSION, "http", base, ets, arts, index_file, tags]
            cpath = _cache_file(key, cache_dir)
            if (hit := _load_cache(cpath)) is not None:
                return Startup(hit[0], hit[1], base, cached=True, known=dict(small))
        infos = dict(small)
        published_http = _published(fs, base, index_file, revision, index_rel in small)
        if published_http:
            for ix in published_http.values():
                try:
                    rel = parse_shard_name(ix.shard).path
                except LayoutError:
                    continue
                if _wanted_shard(rel, ets, arts):
                    where = sfs.join(base, rel)
                    infos[rel] = sfs.FileInfo(where, ix.shard_size, ix.etag, ix.sha256)
        else:
            infos.update(probe_shards(fs, base, [(et, a) for et in ets for a in arts]))
        files = sorted(infos)
        shards = [rel for rel in files if rel.endswith(".tar")]
        indexes = (
            _resolve(
                fs,
                base,
                shards,
                infos,
                published_http,
                cache,
                cache_dir,
                max_workers,
                progress,
                report,
            )
            if index_shards
            else {}
        )
        if cpath is not None:
            _save_cache(cpath, files, indexes)
        return Startup(files, indexes, base, known=dict(small))
    else:
        return Startup(None, {}, base)  # listed by scan_inventory; indexed by the caller
    shards = [rel for rel in files if rel.endswith(".tar") and _wanted_shard(rel, ets, arts)]
    indexes = {}
    if index_shards and shards:
        has_default = DEFAULT_INDEX_PATH in infos
        published = _published(fs, base, index_file, revision, has_default)
        indexes = _resolve(
            fs, base, shards, infos, published, cache, cache_dir, max_workers, progress, report
        )
    if cpath is not None:
        _save_cache(cpath, files, indexes)
    return Startup(files, indexes, base)


def _published(
    fs: AbstractFileSystem,
    base: str,
    index_file: str | None,
    revision: str | None,
    has_default: bool,
) -> dict[str, ShardIndex]:
    location: str
    where: AbstractFileSystem | None
    if index_file is None:
        if not has_default:
            return {}
        location, where = sfs.join(base, DEFAULT_INDEX_PATH), fs
    else:
        location, where = index_location(index_file, base, fs, revision)
    try:
        return read_indexes(location, fs=where)
    except IntegrityError as e:
        if index_file is not None:
            raise
        warnings.warn(
            f"Ignoring the published index {location}: {e}", StaleIndexWarning, stacklevel=4
        )
        return {}


def _resolve(
    fs: AbstractFileSystem,
    base: str,
    shards: Sequence[str],
    infos: Mapping[str, sfs.FileInfo],
    published: Mapping[str, ShardIndex],
    cache: bool,
    cache_dir: str | os.PathLike[str] | None,
    max_workers: int,
    progress: bool,
    report: SkipReport | None,
) -> dict[str, ShardIndex]:
    """Trusted published entries, the rest built by header reads in parallel (cached per
    shard; the listing's info spares a metadata request per shard)."""
    from tqdm.auto import tqdm

    out, stale = trusted_indexes(published, infos, shards)
    warn_stale(stale)
    todo = [rel for rel in shards if rel not in out]

    def one(rel: str) -> ShardIndex:
        return load_or_build_index(
            sfs.join(base, rel),
            fs=fs,
            cache=cache,
            cache_dir=cache_dir,
            report=report,
            file_info=infos.get(rel),
        )

    build: Callable[[str], ShardIndex] = one
    with (
        ThreadPoolExecutor(max_workers=max(1, max_workers)) as pool,
        tqdm(total=len(todo), disable=not progress or not todo, unit="shard", desc="index") as bar,
    ):
        for rel, ix in zip(todo, pool.map(build, todo), strict=True):
            out[rel] = ix
            bar.update(1)
    return {rel: out[rel] for rel in shards}
