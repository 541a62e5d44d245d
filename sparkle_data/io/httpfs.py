""":class:`HTTPRangeFileSystem`: a read-only fsspec filesystem for ``http(s)://`` URLs."""

from __future__ import annotations

from typing import Any

from sparkle_data.io.httpsource import HTTPSource
from sparkle_data.io.rangefile import DEFAULT_BLOCK_SIZE, RangeFile
from sparkle_data.io.retry import (
    DEFAULT_BACKOFF,
    DEFAULT_RETRIES,
    DEFAULT_TIMEOUT,
    ByteSource,
    RetryPolicy,
)
from sparkle_data.io.source import ByteSourceFileSystem

__all__ = ["HTTPRangeFileSystem"]


class HTTPRangeFileSystem(ByteSourceFileSystem):
    """A read-only fsspec filesystem for ``http(s)://`` URLs built on :class:`RangeFile`.

    Paths are full URLs. Files are opened as :class:`RangeFile` (retrying range reads); HTTP
    cannot list directories, so :meth:`ls` raises ``NotImplementedError``: give readers an
    explicit file list (see :func:`sparkle_data.io.fs.glob`'s ``files=``).
    """

    protocol = ("http", "https")

    def __init__(
        self,
        retries: int = DEFAULT_RETRIES,
        backoff: float = DEFAULT_BACKOFF,
        timeout: float = DEFAULT_TIMEOUT,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.policy = RetryPolicy(retries, backoff, timeout)

    @classmethod
    def _strip_protocol(cls, path: Any) -> str:
        return str(path)

    def unstrip_protocol(self, name: str) -> str:
        return name

    def byte_source(
        self, path: str, policy: RetryPolicy, *, total: int | None, etag: str | None
    ) -> ByteSource:
        return HTTPSource(path, policy=policy, total=total, etag=etag)

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        size, etag = HTTPSource(path, policy=self.policy).stat()
        return {"name": path, "size": size, "type": "file", "ETag": etag}

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> list[Any]:
        raise NotImplementedError(
            f"Cannot list {path}: HTTP(S) servers have no directory listing. Pass an explicit "
            "file list (or read a manifest) instead, e.g. sparkle_data.io.fs.glob(root, "
            "pattern, files=[...])."
        )

    def cat_file(
        self, path: str, start: int | None = None, end: int | None = None, **kwargs: Any
    ) -> bytes:
        with RangeFile(path, fs=self, block_size=0) as f:
            begin = start or 0
            if begin < 0:
                begin += f.size
            stop = f.size if end is None else (end + f.size if end < 0 else end)
            f.seek(begin)
            return f.read(max(0, min(stop, f.size) - begin))

    def _open(
        self, path: str, mode: str = "rb", block_size: int | None = None, **kwargs: Any
    ) -> Any:
        if mode != "rb":
            raise NotImplementedError(f"HTTP files are read-only (mode {mode!r}).")
        return RangeFile(path, fs=self, block_size=block_size or DEFAULT_BLOCK_SIZE)
