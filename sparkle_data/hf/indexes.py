"""Dataset roots for the 🤗 front end, and member indexes pinned to a revision.

A *root* is a Hub dataset repo (``stdKonjac/Sparkle``, ``hf://datasets/{repo}@{rev}[/sub]``)
pinned to a commit sha, a local folder, or any other fsspec/HTTP(S) location.
:func:`fetch_indexes` gives the member index of every shard of a root: entries of a published
combined index (``indexes/sparkle.sparkle-index`` in the repo when present, or any location,
``{revision}`` standing for the pinned commit) are used only when they match the shard's size
and sha256 (``index_matches(..., use_etag=False)``); the other shards are indexed by parallel
ranged header reads (:func:`sparkle_data.io.index.build_indexes`, cached, with a progress bar).
:func:`publish_indexes` writes such a combined file for a root.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Final, Literal
from urllib.parse import unquote

from sparkle_data.catalog.fixed_names import probe_root
from sparkle_data.catalog.startup import (
    DEFAULT_INDEX_PATH,
    index_location,
    trusted_indexes,
    warn_stale,
)
from sparkle_data.errors import MissingArtifactError, StaleIndexWarning
from sparkle_data.io import fs as sfs
from sparkle_data.io.index import (
    ShardIndex,
    build_indexes,
    read_indexes,
    write_indexes,
)
from sparkle_data.io.remote import HTTPRangeFileSystem, RetryPolicy
from sparkle_data.layout import (
    ARTIFACTS,
    EDIT_TYPES,
    INTERMEDIATE_DIR,
    PROMPTS_DIR,
    artifact_relpath,
    parse_edit_type,
    parse_shard_name,
)

if TYPE_CHECKING:
    from fsspec.spec import AbstractFileSystem

    from sparkle_data.catalog import Catalog
    from sparkle_data.catalog.duplicates import DuplicateRule
    from sparkle_data.policy import OnError

__all__ = [
    "DEFAULT_INDEX_PATH",
    "DEFAULT_REPO",
    "Root",
    "StaleIndexWarning",
    "fetch_indexes",
    "open_root",
    "publish_indexes",
    "root_catalog",
]

DEFAULT_REPO: Final = "stdKonjac/Sparkle"
_REPO_ID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*/[A-Za-z0-9_.\-]+")
_HF_URL: Final = re.compile(
    r"hf://datasets/(?P<repo>[^/@]+/[^/@]+)(?:@(?P<rev>[^/]+))?(?:/(?P<sub>.*))?"
)


@dataclass(frozen=True)
class Root:
    """A dataset root, pinned: ``location`` is what the catalog reports as its root."""

    kind: Literal["hub", "local", "remote"]
    location: str
    fs: AbstractFileSystem
    base: str
    repo_id: str | None = None
    revision: str | None = None
    """The commit sha (Hub roots)."""
    subdir: str = ""
    token: str | bool | None = None

    def join(self, rel: str) -> str:
        return sfs.join(self.base, rel)

    @property
    def listable(self) -> bool:
        return not isinstance(self.fs, HTTPRangeFileSystem)


def _hub_fs(token: str | bool | None) -> AbstractFileSystem:
    from huggingface_hub import HfFileSystem

    fs: AbstractFileSystem = HfFileSystem(token=token)
    return fs


def open_root(
    path: str | os.PathLike[str] = DEFAULT_REPO,
    *,
    revision: str | None = None,
    token: str | bool | None = None,
) -> Root:
    """Resolve ``path`` to a :class:`Root`; Hub revisions are resolved to a commit sha (one API
    call), so everything read afterwards comes from that one commit."""
    text = os.fspath(path)
    if text.startswith("~"):
        text = os.path.expanduser(text)
    m = _HF_URL.fullmatch(text.rstrip("/"))
    repo_id: str | None = None
    subdir = ""
    if m is not None:
        repo_id, subdir = m.group("repo"), (m.group("sub") or "").strip("/")
        in_path = unquote(m.group("rev")) if m.group("rev") else None
        if in_path is not None and revision is not None and in_path != revision:
            raise ValueError(
                f"Invalid revision {revision!r}: the path already names revision {in_path!r}."
            )
        revision = revision or in_path
    elif text.startswith("hf://"):
        raise ValueError(
            f"Invalid path {text!r}: only dataset repos are supported "
            "(hf://datasets/{namespace}/{name}[@revision][/folder])."
        )
    elif "://" in text:
        if revision is not None:
            raise ValueError(f"Invalid revision {revision!r}: {text} is not a Hub repo.")
        fs, base = sfs.resolve(text)
        return Root("local" if sfs.is_local(fs) else "remote", sfs.unresolve(fs, base), fs, base)
    elif os.path.exists(text) or not _REPO_ID.fullmatch(text):
        if revision is not None:
            raise ValueError(f"Invalid revision {revision!r}: {text} is a local folder.")
        if not os.path.isdir(text):
            raise FileNotFoundError(
                f"Invalid path {text!r}: no such folder, and not a Hub repo id ('namespace/name')."
            )
        fs, base = sfs.resolve(text)
        return Root("local", base, fs, base)
    else:
        repo_id = text
    from huggingface_hub import HfApi

    info = HfApi(token=token).dataset_info(repo_id, revision=revision or "main")
    sha = str(info.sha)
    base = f"datasets/{repo_id}@{sha}" + (f"/{subdir}" if subdir else "")
    return Root("hub", f"hf://{base}", _hub_fs(token), base, repo_id, sha, subdir, token)


# --------------------------------------------------------------------------- listing


def _check_types(edit_types: Sequence[str] | None) -> tuple[str, ...]:
    return tuple(parse_edit_type(e) for e in (edit_types or EDIT_TYPES))


def _check_artifacts(artifacts: Sequence[str] | None) -> tuple[str, ...]:
    out = tuple(artifacts) if artifacts is not None else tuple(ARTIFACTS)
    for a in out:
        if a not in ARTIFACTS:
            raise ValueError(f"Invalid artifact {a!r}: must be one of {', '.join(ARTIFACTS)}.")
    return out


def _folder(edit_type: str, artifact: str) -> str:
    return artifact_relpath(f"Sparkle_{edit_type}_000000", artifact).rsplit("/", 1)[0]


def list_files(
    root: Root,
    *,
    edit_types: Sequence[str] | None = None,
    artifacts: Sequence[str] | None = None,
    loose: bool = True,
) -> list[str]:
    """Relative paths of the prompts, records, shards and (``loose``) loose files of
    ``artifacts`` for ``edit_types``: a manifest for ``scan_inventory(files=...)``.

    Listable roots are listed; HTTP roots are probed at the card's fixed names (shards
    ``part00``, ``part01``, ... until the first missing one; loose files are not probed)."""
    ets = _check_types(edit_types)
    arts = _check_artifacts(artifacts)
    if not root.listable:
        return sorted(probe_root(root.fs, root.base, ets, arts))
    patterns = [f"{PROMPTS_DIR}/*", "*.tar", f"{INTERMEDIATE_DIR}/*.tar"]
    patterns += [f"{INTERMEDIATE_DIR}/{et}/*.jsonl" for et in ets]
    if loose:
        patterns += [f"{_folder(et, a)}/*" for et in ets for a in arts]
    found: set[str] = set()
    for pattern in patterns:
        try:
            found.update(sfs.glob(root.base, pattern, fs=root.fs))
        except FileNotFoundError:
            continue
    out = []
    for rel in sorted(found):
        if rel.endswith(".tar"):
            try:
                shard = parse_shard_name(rel)
            except ValueError:
                continue
            if shard.edit_type not in ets or shard.artifact not in arts or shard.path != rel:
                continue
        out.append(rel)
    return out


def shards_in(files: Sequence[str]) -> list[str]:
    """The shard paths of a manifest."""
    return [rel for rel in files if rel.endswith(".tar")]


# --------------------------------------------------------------------------- indexes


def _published(root: Root, index_file: str | None) -> dict[str, ShardIndex]:
    if index_file is None:
        location, fs = root.join(DEFAULT_INDEX_PATH), root.fs
        if not sfs.exists(location, fs=fs):
            return {}
    else:
        location, fs = index_location(index_file, root.base, root.fs, root.revision)
    return read_indexes(location, fs=fs)


def resolve_indexes(
    root: Root,
    shards: Sequence[str],
    *,
    index_file: str | None = None,
    build_missing: bool = True,
    max_workers: int = 8,
    progress: bool = True,
    cache: bool = True,
    cache_dir: str | os.PathLike[str] | None = None,
) -> dict[str, ShardIndex]:
    """Index of every shard in ``shards`` (relative paths), by relative path: published
    entries that match the shard (size + sha256), else built (see the module docstring)."""
    if not shards:
        return {}
    published = _published(root, index_file)
    infos: dict[str, sfs.FileInfo] = {}
    if published:
        with ThreadPoolExecutor(max_workers=1 if sfs.is_local(root.fs) else 16) as pool:
            found = pool.map(lambda rel: sfs.info(root.join(rel), fs=root.fs), shards)
            infos = dict(zip(shards, found, strict=True))
    out, stale = trusted_indexes(published, infos, shards)
    warn_stale(stale)
    todo = [rel for rel in shards if rel not in out]
    if todo and not build_missing:
        raise MissingArtifactError.invalid(
            "shard index",
            todo[:5],
            rule=f"{len(todo)} shards have no matching published index",
            path=root.location,
            hint="Pass build_missing=True to index them by header reads.",
        )
    if todo:
        built = build_indexes(
            [root.join(rel) for rel in todo],
            fs=root.fs,
            max_workers=1 if sfs.is_local(root.fs) else max_workers,
            progress=progress,
            cache=cache,
            cache_dir=cache_dir,
        )
        out.update(zip(todo, built, strict=True))
    return {rel: out[rel] for rel in shards}


def fetch_indexes(
    repo_or_location: str | os.PathLike[str] = DEFAULT_REPO,
    *,
    revision: str | None = None,
    index_file: str | None = None,
    edit_types: Sequence[str] | None = None,
    artifacts: Sequence[str] | None = None,
    token: str | bool | None = None,
    build_missing: bool = True,
    out: str | os.PathLike[str] | None = None,
    max_workers: int = 8,
    progress: bool = True,
    cache_dir: str | os.PathLike[str] | None = None,
) -> dict[str, ShardIndex]:
    """Member indexes of the shards of a root at a pinned revision, by shard path.

    ``index_file`` is a published combined index (any location: ``hf://datasets/...``, URL,
    local path, or a path relative to the root; ``{revision}`` is replaced by the commit sha,
    e.g. ``hf://datasets/me/sparkle-indexes/{revision}/sparkle.sparkle-index``); by default
    ``indexes/sparkle.sparkle-index`` of the root is used when present. Each entry is used only
    if it matches its shard's size and sha256; the rest are built by ranged header reads in
    ``max_workers`` threads (cached, tqdm progress), or raise with ``build_missing=False``.
    ``out`` also writes the result as one combined index file (to pass as ``index_file=``).
    """
    root = open_root(repo_or_location, revision=revision, token=token)
    shards = shards_in(list_files(root, edit_types=edit_types, artifacts=artifacts, loose=False))
    found = resolve_indexes(
        root,
        shards,
        index_file=index_file,
        build_missing=build_missing,
        max_workers=max_workers,
        progress=progress,
        cache_dir=cache_dir,
    )
    if out is not None:
        write_indexes(out, found.values())
    return found


def _sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def publish_indexes(
    root: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    *,
    revision: str | None = None,
    edit_types: Sequence[str] | None = None,
    sha256: bool = True,
    token: str | bool | None = None,
    max_workers: int = 8,
    progress: bool = True,
) -> list[ShardIndex]:
    """Index every shard of ``root`` and write one combined index file at ``out_path``
    (atomically), for readers to pass as ``index_file=`` (or to upload as
    ``indexes/sparkle.sparkle-index``). Local shards are hashed (``sha256``; Hub shards carry
    their LFS sha256 already) so that readers can check an entry against the shard's content,
    not only its size. Returns the indexes, in shard order."""
    r = open_root(root, revision=revision, token=token)
    shards = shards_in(list_files(r, edit_types=edit_types, loose=False))
    indexes = build_indexes(
        [r.join(rel) for rel in shards],
        fs=r.fs,
        max_workers=max_workers,
        progress=progress,
        refresh=True,
        cache=False,
    )
    if sha256 and sfs.is_local(r.fs):
        with ThreadPoolExecutor(max_workers=max(1, min(max_workers, os.cpu_count() or 1))) as pool:
            digests = list(pool.map(_sha256_file, [r.join(rel) for rel in shards]))
        indexes = [replace(ix, sha256=d) for ix, d in zip(indexes, digests, strict=True)]
    write_indexes(out_path, indexes)
    return indexes


# --------------------------------------------------------------------------- catalog


def root_catalog(
    root: Root,
    *,
    edit_types: Sequence[str] | None = None,
    artifacts: Sequence[str] = (),
    index_file: str | None = None,
    index_shards: bool = True,
    max_workers: int = 8,
    progress: bool = True,
    cache_dir: str | os.PathLike[str] | None = None,
    on_error: OnError = "error",
    max_skips: int | None = None,
    duplicates: DuplicateRule = "error",
    retry: RetryPolicy | None = None,
) -> Catalog:
    """The catalog of ``root`` restricted to the prompts, records and ``artifacts`` (shards
    and loose files) of ``edit_types``: shards of other artifacts are neither listed nor
    indexed. The start-up path of :func:`sparkle_data.catalog.build_catalog` (one listing,
    the published index, the start-up cache); reads go through the root's filesystem (its
    token). ``on_error``/``max_skips``/``duplicates`` as in ``build_catalog``."""
    from sparkle_data.catalog import build_catalog

    return build_catalog(
        root.base,
        fs=root.fs,
        edit_types=_check_types(edit_types),
        artifacts=_check_artifacts(artifacts),
        index_file=index_file,
        index_shards=index_shards,
        max_workers=max_workers,
        progress=progress,
        cache_dir=cache_dir,
        on_error=on_error,
        max_skips=max_skips,
        duplicates=duplicates,
        retry=retry,
    )
