"""Dataset roots: local folders, ``http(s)://`` URLs and ``hf://`` repositories, via fsspec.

A *location* is a string naming one file or folder:

* a local path (``/data/Sparkle``, ``file:///data/Sparkle``);
* an ``http(s)://`` URL, read by :class:`~sparkle_data.io.httpfs.HTTPRangeFileSystem`
  (ranged, retried reads). **HTTP cannot list folders**: :func:`ls` and :func:`glob` raise
  ``NotImplementedError`` there unless given ``files=`` (an explicit list of relative paths,
  e.g. from a manifest or from the card's shard naming rules);
* ``hf://datasets/{repo_id}@{revision}/{path}``, read by ``huggingface_hub.HfFileSystem``
  (authentication from the usual token; ``info`` gives the LFS ``sha256``);
* any other fsspec URL (``memory://``, ``s3://``, ...).

:func:`resolve` turns a location into ``(fs, path)``; every helper also accepts an explicit
``fs=`` with a path inside it. Paths use ``/`` on every platform.
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass
from typing import IO, Any

from fsspec.implementations.local import LocalFileSystem
from fsspec.spec import AbstractFileSystem

from sparkle_data.io.httpfs import HTTPRangeFileSystem
from sparkle_data.io.location import is_hf, is_http, location_of, resolve_fsspec
from sparkle_data.io.rangefile import DEFAULT_BLOCK_SIZE, RangeFile
from sparkle_data.io.regular import check_regular, open_regular
from sparkle_data.io.retry import call_with_retries
from sparkle_data.layout import validate_member_path

__all__ = [
    "FileInfo",
    "exists",
    "glob",
    "info",
    "is_local",
    "join",
    "ls",
    "open_binary",
    "resolve",
    "resolve_once",
    "size",
    "unresolve",
]


@dataclass(frozen=True, slots=True)
class FileInfo:
    """What is known about one file without reading it."""

    location: str
    size: int
    etag: str | None = None
    """An identifier that changes when the content changes (HTTP ETag, Hub blob id, local
    mtime); ``None`` when the filesystem gives none."""
    sha256: str | None = None
    """Content sha256 when the filesystem knows it (Hub LFS files)."""


def resolve(root: str | os.PathLike[str]) -> tuple[AbstractFileSystem, str]:
    """``(filesystem, path inside it)`` for a location; trailing slashes are dropped."""
    text = os.fspath(root)
    if is_http(text):
        return HTTPRangeFileSystem(), text.rstrip("/")
    return resolve_fsspec(text)


@functools.lru_cache(maxsize=16)
def resolve_once(root: str) -> tuple[AbstractFileSystem, str]:
    """:func:`resolve`, once per process and location: for workers that open many files of
    the same few roots (exports, regeneration), so each root's filesystem is built once."""
    return resolve(root)


def unresolve(fs: AbstractFileSystem, path: str) -> str:
    """The location string of ``path`` in ``fs`` (inverse of :func:`resolve`)."""
    return location_of(fs, path)


def _fs_path(location: str | os.PathLike[str], fs: AbstractFileSystem | None) -> tuple[Any, str]:
    if fs is None:
        return resolve(location)
    return fs, os.fspath(location)


def is_local(fs: AbstractFileSystem) -> bool:
    return isinstance(fs, LocalFileSystem)


def join(base: str, *parts: str) -> str:
    """``base/part/...`` with ``/``; each part must be a safe relative path (no ``..``)."""
    out = base.rstrip("/")
    for part in parts:
        if part:
            out = f"{out}/{validate_member_path(part.strip('/'))}"
    return out


def open_binary(
    location: str | os.PathLike[str],
    *,
    fs: AbstractFileSystem | None = None,
    block_size: int = DEFAULT_BLOCK_SIZE,
    known: FileInfo | None = None,
) -> IO[bytes]:
    """A seekable binary file: ``open(path, "rb")`` locally, a :class:`RangeFile` elsewhere
    (``known``: the file's size and ETag from an earlier :func:`info`, so that opening it
    asks nothing)."""
    fs, path = _fs_path(location, fs)
    if is_local(fs):
        return open_regular(path)
    size, etag = (known.size, known.etag) if known is not None else (None, None)
    return RangeFile(  # type: ignore[return-value]
        path, fs=fs, block_size=block_size, file_size=size, etag=etag
    )


def info(location: str | os.PathLike[str], *, fs: AbstractFileSystem | None = None) -> FileInfo:
    """Size and, when available, etag and sha256 of one file (one metadata call, retried)."""
    fs, path = _fs_path(location, fs)
    where = unresolve(fs, path)
    if is_local(fs):
        st = check_regular(path)
        return FileInfo(where, st.st_size, etag=f"mtime-ns:{st.st_mtime_ns}")
    if isinstance(fs, HTTPRangeFileSystem):
        meta = fs.info(path)
        return FileInfo(where, int(meta["size"]), etag=meta.get("ETag"))
    if is_hf(fs):
        meta = call_with_retries(lambda: _hf_entry(fs, path), url=where)
    else:
        meta = call_with_retries(lambda: dict(fs.info(path)), url=where)
    return _file_info(where, meta)


def _hf_entry(fs: AbstractFileSystem, path: str) -> dict[str, Any]:
    """The Hub's listing entry of a file (``blob_id``, ``lfs``), from one cached tree call.

    ``HfFileSystem.info`` keeps only name/size/type unless asked for ``expand_info`` (which
    also computes last commits, slowly); the parent folder's listing has everything.
    """
    parent, _, base = path.rstrip("/").rpartition("/")
    for entry in fs.ls(parent, detail=True):
        if entry.get("type") == "file" and str(entry["name"]).rsplit("/", 1)[-1] == base:
            return dict(entry)
    return dict(fs.info(path))


def _file_info(where: str, meta: dict[str, Any]) -> FileInfo:
    """Map an fsspec ``info`` dict (Hub: ``blob_id``, ``lfs.sha256``) to :class:`FileInfo`."""
    lfs = meta.get("lfs")
    sha = None
    if lfs is not None:
        sha = lfs.get("sha256") if isinstance(lfs, dict) else getattr(lfs, "sha256", None)
    sha = sha or meta.get("sha256")
    etag = None
    for key in ("blob_id", "ETag", "etag", "md5", "checksum"):
        if meta.get(key):
            etag = str(meta[key])
            break
    return FileInfo(where, int(meta["size"]), etag=etag, sha256=str(sha) if sha else None)


def size(location: str | os.PathLike[str], *, fs: AbstractFileSystem | None = None) -> int:
    """Size in bytes of one file."""
    fs, path = _fs_path(location, fs)
    if is_local(fs):
        return os.stat(path).st_size
    return info(path, fs=fs).size


def exists(location: str | os.PathLike[str], *, fs: AbstractFileSystem | None = None) -> bool:
    """Whether a file or folder exists. Network failures raise; only "not found" is False."""
    fs, path = _fs_path(location, fs)
    if is_local(fs):
        return os.path.exists(path)
    try:
        if isinstance(fs, HTTPRangeFileSystem):
            fs.info(path)
            return True
        return bool(fs.exists(path))
    except FileNotFoundError:
        return False


def ls(
    root: str | os.PathLike[str],
    *,
    fs: AbstractFileSystem | None = None,
    files: list[str] | None = None,
) -> list[str]:
    """Names directly under ``root`` (relative, sorted). HTTP roots need ``files=``."""
    return glob(root, "*", fs=fs, files=files)


def _glob_regex(pattern: str) -> re.Pattern[str]:
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out))


def glob(
    root: str | os.PathLike[str],
    pattern: str,
    *,
    fs: AbstractFileSystem | None = None,
    files: list[str] | None = None,
) -> list[str]:
    """Paths relative to ``root`` matching ``pattern`` (``*``, ``?``, ``**``), sorted.

    ``*`` does not cross ``/``. With ``files`` (relative paths, e.g. from a manifest) the
    pattern filters that list and nothing is listed remotely: the only way on HTTP roots.
    """
    regex = _glob_regex(pattern.strip("/"))
    if files is not None:
        return sorted(f for f in (p.strip("/") for p in files) if regex.fullmatch(f))
    fs, base = _fs_path(root, fs)
    if isinstance(fs, HTTPRangeFileSystem):
        fs.ls(base)  # raises NotImplementedError with the explanation
    found = fs.glob(f"{base}/{pattern.strip('/')}")
    prefix = _base_for_matching(fs, base)
    out = []
    for p in found:
        rel = _relative(fs, prefix, str(p))
        if rel is not None and regex.fullmatch(rel):
            out.append(rel)
    return sorted(out)


def _base_for_matching(fs: AbstractFileSystem, base: str) -> str:
    if is_hf(fs):
        return str(fs.resolve_path(base).path_in_repo).strip("/")
    return base.rstrip("/")


def _relative(fs: AbstractFileSystem, prefix: str, path: str) -> str | None:
    if is_hf(fs):
        path = str(fs.resolve_path(path).path_in_repo)
        if not prefix:
            return path.strip("/")
    path = path.replace(os.sep, "/") if is_local(fs) else path
    if path.startswith(prefix + "/"):
        return path[len(prefix) + 1 :]
    return None
