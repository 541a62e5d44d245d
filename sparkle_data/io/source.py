"""Byte sources (local, HTTP(S), fsspec, open file objects) and one-shot ranged reads.

A byte source (:class:`~sparkle_data.io.retry.ByteSource`) reads one file by ranges, one
attempt at a time; :func:`~sparkle_data.io.retry.read_exactly` retries it. :func:`open_source`
picks the source for a location:

* local files are read with ``os.pread`` and never retried;
* ``http(s)://`` URLs by :class:`~sparkle_data.io.httpsource.HTTPSource` (verified ranges);
* any other fsspec filesystem (``hf://``, memory, s3, ...) by :class:`FsspecSource`: exact
  ranges without fsspec's cache, a read returning more bytes than asked is refused (the
  server ignored the range), transient errors are retried;
* an open binary file by :class:`FileObjectSource` (seek + read; for in-memory tars).

:func:`read_range` and :func:`stat_remote` are the one-shot reads built on them.
"""

from __future__ import annotations

import contextlib
import os
from typing import IO, Any

from fsspec.implementations.local import LocalFileSystem
from fsspec.spec import AbstractFileSystem

from sparkle_data.errors import IntegrityError
from sparkle_data.io.httpsource import HTTPSource
from sparkle_data.io.location import is_http, location_of, resolve_fsspec
from sparkle_data.io.regular import open_regular_fd, read_error
from sparkle_data.io.retry import (
    ByteSource,
    RetryableError,
    RetryPolicy,
    call_with_retries,
    final_error,
    is_retriable,
    read_exactly,
)

__all__ = [
    "ByteSourceFileSystem",
    "FileObjectSource",
    "FsspecSource",
    "LocalSource",
    "open_source",
    "policy_for",
    "policy_overrides",
    "read_range",
    "stat_remote",
]


def _ends_early(start: int, location: str) -> IntegrityError:
    return IntegrityError.invalid(
        "byte range",
        start,
        rule="the file ends before the requested range (truncated or replaced?)",
        path=location,
    )


class LocalSource:
    """A local file read with ``os.pread`` (no retries: a local error is final)."""

    def __init__(self, path: str) -> None:
        self.location = path
        self._fd = open_regular_fd(path)

    def fetch(self, start: int, out: memoryview) -> int:
        try:
            if hasattr(os, "pread"):
                data = os.pread(self._fd, len(out), start)
            else:  # pragma: no cover - Windows: this fd is private to this source
                os.lseek(self._fd, start, os.SEEK_SET)
                data = os.read(self._fd, len(out))
        except OSError as e:  # EIO from a failing disk: a ReadError naming the file
            raise read_error(self.location, e) from e
        if not data:
            raise _ends_early(start, self.location)
        out[: len(data)] = data
        return len(data)

    def stat(self) -> tuple[int, str | None]:
        return os.fstat(self._fd).st_size, None

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class FileObjectSource:
    """An open seekable binary file (``seek`` + ``readinto``); closed only when ``owns``."""

    def __init__(self, fileobj: IO[bytes], *, name: str, owns: bool = False) -> None:
        self.location = name
        self._f = fileobj
        self._owns = owns

    def fetch(self, start: int, out: memoryview) -> int:
        self._f.seek(start)
        readinto = getattr(self._f, "readinto", None)
        if readinto is not None:
            n = readinto(out) or 0
        else:
            data = self._f.read(len(out))
            n = len(data)
            out[:n] = data
        if not n:
            raise IntegrityError.invalid(
                "byte range",
                start,
                rule="the file ends inside the requested range (truncated?)",
                path=self.location,
            )
        return int(n)

    def stat(self) -> tuple[int, str | None]:
        return int(self._f.seek(0, os.SEEK_END)), None

    def close(self) -> None:
        if self._owns:
            self._f.close()


class FsspecSource:
    """Any fsspec filesystem (``hf://``, memory, s3, ...): exact ranges, no fsspec cache."""

    def __init__(
        self, fs: AbstractFileSystem, path: str, location: str, *, policy: RetryPolicy
    ) -> None:
        self.fs = fs
        self.path = path
        self.location = location
        self.policy = policy
        self._file: Any = None

    def fetch(self, start: int, out: memoryview) -> int:
        want = len(out)
        try:
            if self._file is None:
                self._file = self.fs.open(self.path, "rb", cache_type="none")
            self._file.seek(start)
            data = self._file.read(want)
        except Exception as e:
            self.close()
            if is_retriable(e):
                raise RetryableError(0, e) from e
            raise
        if not isinstance(data, bytes):
            data = bytes(data)
        if len(data) > want:
            raise final_error(
                f"{self.location} returned {len(data)} bytes for a {want}-byte range at "
                f"{start}: the server ignored the Range header",
                url=self.location,
                offset=start,
            )
        if not data:
            raise _ends_early(start, self.location)
        out[: len(data)] = data
        return len(data)

    def stat(self) -> tuple[int, str | None]:
        meta = call_with_retries(
            lambda: self.fs.info(self.path), url=self.location, policy=self.policy
        )
        for key in ("ETag", "etag", "blob_id", "md5", "checksum"):
            if meta.get(key):
                return int(meta["size"]), str(meta[key])
        return int(meta["size"]), None

    def close(self) -> None:
        f, self._file = self._file, None
        if f is not None:
            with contextlib.suppress(Exception):
                f.close()


class ByteSourceFileSystem(AbstractFileSystem):  # type: ignore[misc]
    """An fsspec filesystem whose files are read through its own byte sources.

    :func:`open_source` asks it for a source instead of wrapping it in :class:`FsspecSource`;
    ``policy`` is its default retry policy. :class:`~sparkle_data.io.httpfs.HTTPRangeFileSystem`
    is one.
    """

    policy: RetryPolicy = RetryPolicy()

    def byte_source(
        self, path: str, policy: RetryPolicy, *, total: int | None, etag: str | None
    ) -> ByteSource:
        raise NotImplementedError


def policy_overrides(policy: RetryPolicy | None) -> dict[str, Any]:
    """``policy`` as the ``retries``/``backoff``/``timeout`` keywords of :func:`read_range`;
    none without one (the filesystem's policy or the defaults then apply)."""
    if policy is None:
        return {}
    return {"retries": policy.retries, "backoff": policy.backoff, "timeout": policy.timeout}


def policy_for(
    fs: AbstractFileSystem | None,
    retries: int | None = None,
    backoff: float | None = None,
    timeout: float | None = None,
) -> RetryPolicy:
    """The filesystem's policy (or the defaults) with the given fields overridden."""
    base = fs.policy if isinstance(fs, ByteSourceFileSystem) else RetryPolicy()
    return base.override(retries, backoff, timeout)


def open_source(
    location: str,
    fs: AbstractFileSystem | None,
    policy: RetryPolicy,
    *,
    total: int | None = None,
    etag: str | None = None,
) -> ByteSource:
    """The byte source of ``location`` (a path inside ``fs``, or a location when ``fs`` is
    ``None``). ``total``/``etag``, when known, are checked by HTTP(S) sources."""
    if fs is None:
        if is_http(location):
            return HTTPSource(location.rstrip("/"), policy=policy, total=total, etag=etag)
        fs, location = resolve_fsspec(location)
    if isinstance(fs, LocalFileSystem):
        return LocalSource(location)
    if isinstance(fs, ByteSourceFileSystem):
        return fs.byte_source(location, policy, total=total, etag=etag)
    return FsspecSource(fs, location, location_of(fs, location), policy=policy)


def read_range(
    location: str | os.PathLike[str],
    offset: int,
    size: int,
    *,
    fs: AbstractFileSystem | None = None,
    retries: int | None = None,
    backoff: float | None = None,
    timeout: float | None = None,
    total: int | None = None,
) -> bytes:
    """Exactly ``size`` bytes of ``location`` starting at ``offset`` (one ranged read).

    ``location`` is a local path, an ``http(s)://`` URL or an ``hf://`` / fsspec URL; with
    ``fs`` it is a path inside that filesystem. ``total``, when known, is the file's size: an
    HTTP answer reporting another size raises :class:`IntegrityError`. Defaults:
    ``retries=5``, ``backoff=0.5`` s, ``timeout=30`` s (or the filesystem's policy).

    Raises :class:`~sparkle_data.errors.RemoteError` after the retry budget,
    :class:`IntegrityError` when the file ends before ``offset + size``,
    ``FileNotFoundError`` when it does not exist.
    """
    if offset < 0 or size < 0:
        raise ValueError(f"Invalid byte range offset={offset}, size={size}: must be >= 0.")
    policy = policy_for(fs, retries, backoff, timeout)
    source = open_source(os.fspath(location), fs, policy, total=total)
    try:
        if size == 0:
            return b""
        return read_exactly(source, offset, size, policy)
    finally:
        source.close()


def stat_remote(
    location: str,
    *,
    fs: AbstractFileSystem | None = None,
    retries: int | None = None,
    backoff: float | None = None,
    timeout: float | None = None,
) -> tuple[int, str | None]:
    """``(size, etag)`` of a file, with retries (HEAD for HTTP, ``info`` for fsspec)."""
    policy = policy_for(fs, retries, backoff, timeout)
    source = open_source(location, fs, policy)
    try:
        return source.stat()
    finally:
        source.close()
