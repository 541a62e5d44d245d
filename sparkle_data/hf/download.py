"""Download selected files of a Hub dataset repo, verified against the Hub's metadata.

:func:`download_files` fetches each file with ``huggingface_hub.hf_hub_download`` (the Hub
cache: resumable, shared with ``datasets`` and ``hf download``) pinned to a commit sha, then
checks it against ``HfApi().get_paths_info``: the LFS sha256 for LFS files (shards, videos),
the git blob id for small files (CSV, JSONL). A file that was already in the cache and fails
the check is removed and downloaded once more (with a warning); a fresh download that fails
raises :class:`~sparkle_data.errors.IntegrityError` and is removed from the cache, so that a
retry starts clean. Successful checks are remembered under the sparkle-data cache, keyed by
the blob's path, size and mtime, so a 5 GB shard is hashed once, not at every load.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sparkle_data.errors import CorruptDownloadWarning, IntegrityError, MissingArtifactError
from sparkle_data.io.cache import cache_path

__all__ = ["CorruptDownloadWarning", "Expected", "download_files", "expected_files", "verify_file"]

_PATHS_INFO_BATCH = 200
_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class Expected:
    """What the Hub says one file is."""

    path: str
    size: int
    sha256: str | None
    """LFS sha256 (LFS files)."""
    git_oid: str | None
    """Git blob id: sha1 of ``b"blob {size}\\0" + content`` (non-LFS files)."""


def expected_files(
    repo_id: str, paths: Sequence[str], *, revision: str, token: str | bool | None = None
) -> dict[str, Expected]:
    """The Hub's size and hash of each path at ``revision`` (batched ``paths-info`` calls)."""
    from huggingface_hub import HfApi
    from huggingface_hub.hf_api import RepoFile

    api = HfApi(token=token)
    out: dict[str, Expected] = {}
    for i in range(0, len(paths), _PATHS_INFO_BATCH):
        batch = list(paths[i : i + _PATHS_INFO_BATCH])
        for entry in api.get_paths_info(repo_id, batch, repo_type="dataset", revision=revision):
            if not isinstance(entry, RepoFile):
                continue  # a folder
            lfs = entry.lfs
            out[entry.path] = Expected(
                entry.path,
                int(entry.size),
                str(lfs.sha256) if lfs is not None else None,
                None if lfs is not None else str(entry.blob_id),
            )
    missing = [p for p in paths if p not in out]
    if missing:
        raise MissingArtifactError.invalid(
            "file",
            missing[:5],
            rule=f"{len(missing)} files are not in {repo_id}@{revision}",
            path=f"hf://datasets/{repo_id}@{revision}",
        )
    return out


def _digest(path: str, expected: Expected) -> str:
    if expected.sha256 is not None:
        h = hashlib.sha256()
    else:
        h = hashlib.sha1(usedforsecurity=False)
        h.update(b"blob %d\0" % os.path.getsize(path))
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _marker(path: str, expected: Expected) -> Path:
    real = os.path.realpath(path)
    st = os.stat(real)
    key = [real, st.st_size, st.st_mtime_ns, expected.sha256 or expected.git_oid]
    return cache_path("verified", os.path.basename(real), key, suffix=".ok")


def verify_file(path: str, expected: Expected, *, remember: bool = True) -> None:
    """Raise :class:`IntegrityError` unless the file at ``path`` has the expected size and
    hash. With ``remember``, a success is recorded (see the module docstring)."""
    marker = _marker(path, expected)
    if remember and marker.exists():
        return
    size = os.path.getsize(path)
    want = expected.sha256 or expected.git_oid
    kind = "sha256" if expected.sha256 is not None else "git blob id"
    if size != expected.size:
        raise IntegrityError.invalid(
            "file size",
            size,
            rule=f"the Hub says {expected.size} bytes for {expected.path} (truncated or "
            "tampered download)",
            path=path,
        )
    got = _digest(path, expected)
    if got != want:
        raise IntegrityError.invalid(
            kind,
            got,
            rule=f"the Hub says {want} for {expected.path} (corrupt or tampered download)",
            path=path,
        )
    if remember:
        with contextlib.suppress(OSError):
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.write_text(want or "")


def _discard(path: str) -> None:
    real = os.path.realpath(path)
    for p in {real, path}:
        with contextlib.suppress(OSError):
            os.remove(p)


def _fetch(
    repo_id: str,
    path: str,
    expected: Expected,
    *,
    revision: str,
    token: str | bool | None,
    cache_dir: str | os.PathLike[str] | None,
) -> str:
    from huggingface_hub import hf_hub_download, try_to_load_from_cache

    kwargs: dict[str, Any] = {
        "repo_type": "dataset",
        "revision": revision,
        "cache_dir": cache_dir,
        "token": token,
    }
    cached = try_to_load_from_cache(
        repo_id,
        path,
        cache_dir=os.fspath(cache_dir) if cache_dir is not None else None,
        revision=revision,
        repo_type="dataset",
    )
    local = str(hf_hub_download(repo_id, path, **kwargs))
    try:
        verify_file(local, expected)
    except IntegrityError as e:
        _discard(local)
        if not isinstance(cached, str):
            raise IntegrityError(
                f"{e} The file was removed from the cache; retry to download it again.",
                path=e.path,
            ) from e
        warnings.warn(
            f"Cached {path} of {repo_id}@{revision[:8]} failed its integrity check ({e}); "
            "downloading it again.",
            CorruptDownloadWarning,
            stacklevel=2,
        )
        local = str(hf_hub_download(repo_id, path, force_download=True, **kwargs))
        try:
            verify_file(local, expected)
        except IntegrityError:
            _discard(local)
            raise
    return local


def download_files(
    repo_id: str,
    paths: Sequence[str],
    *,
    revision: str,
    token: str | bool | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    max_workers: int = 8,
    progress: bool = True,
) -> Path:
    """Download ``paths`` (repo paths) of a dataset repo at commit ``revision`` into the Hub
    cache, verify each (see the module docstring), and return the snapshot folder (the repo
    root at that commit, holding exactly the files downloaded so far)."""
    from tqdm.auto import tqdm

    paths = sorted(set(paths))
    expected = expected_files(repo_id, paths, revision=revision, token=token)
    snapshot: Path | None = None

    def one(path: str) -> str:
        return _fetch(
            repo_id, path, expected[path], revision=revision, token=token, cache_dir=cache_dir
        )

    with (
        ThreadPoolExecutor(max_workers=max(1, max_workers)) as pool,
        tqdm(total=len(paths), disable=not progress, unit="file", desc="download") as bar,
    ):
        for path, local in zip(paths, pool.map(one, paths), strict=True):
            bar.update(1)
            if snapshot is None:
                snapshot = Path(local[: len(local) - len(path)].rstrip("/\\"))
    if snapshot is None:
        raise ValueError("download_files() needs at least one path.")
    return snapshot
