""":class:`RangeFile`: a seekable, read-only file over a byte window of any byte source."""

from __future__ import annotations

import io
import os
from typing import TYPE_CHECKING, Final

from fsspec.spec import AbstractFileSystem

from sparkle_data.errors import IntegrityError
from sparkle_data.io.retry import ByteSource, RetryPolicy, read_exactly
from sparkle_data.io.source import open_source, policy_for

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

__all__ = ["DEFAULT_BLOCK_SIZE", "RangeFile"]

DEFAULT_BLOCK_SIZE: Final = 1 << 20
"""Read-ahead of :class:`RangeFile`: reads smaller than this fetch a whole block."""


class RangeFile(io.RawIOBase):
    """A seekable, read-only file over a remote (or local) byte range, read by ranged requests.

    ``start``/``length`` restrict the file to a window of the underlying object (positions
    are relative to ``start``), which is how a tar member is handed to a reader without
    reading past it. Reads smaller than ``block_size`` fetch a whole block (read-ahead, never
    past the window); larger reads fetch exactly what is asked. Every fetch retries as
    :func:`~sparkle_data.io.source.read_range` does, so a reader never sees a transient network
    error, and a short answer raises :class:`IntegrityError` rather than returning fewer bytes
    than the window promises. Not thread-safe (like every file object): open one per thread.

    :meth:`over` opens the same kind of window over an already open byte source (an open
    file object through :class:`~sparkle_data.io.source.FileObjectSource`, for example).
    """

    def __init__(
        self,
        location: str | os.PathLike[str],
        *,
        fs: AbstractFileSystem | None = None,
        start: int = 0,
        length: int | None = None,
        file_size: int | None = None,
        etag: str | None = None,
        block_size: int = DEFAULT_BLOCK_SIZE,
        retries: int | None = None,
        backoff: float | None = None,
        timeout: float | None = None,
    ) -> None:
        super().__init__()
        _check_window(start, length, block_size)
        policy = policy_for(fs, retries, backoff, timeout)
        where = os.fspath(location)
        source = open_source(where, fs, policy, total=file_size, etag=etag)
        if length is None and file_size is None:
            try:
                file_size, etag = source.stat()
            except BaseException:
                source.close()
                raise
        self._setup(source, policy, where, start, length, file_size, etag, block_size)

    @classmethod
    def over(
        cls,
        source: ByteSource,
        *,
        start: int = 0,
        length: int | None = None,
        block_size: int = 0,
        policy: RetryPolicy | None = None,
        name: str | None = None,
    ) -> RangeFile:
        """A window over an open ``source`` (closed with the file); ``name`` names it in
        errors (default: the source's location)."""
        _check_window(start, length, block_size)
        self = cls.__new__(cls)
        io.RawIOBase.__init__(self)
        file_size = None
        if length is None:
            file_size, _ = source.stat()
        self._setup(
            source,
            policy or RetryPolicy(),
            name or source.location,
            start,
            length,
            file_size,
            None,
            block_size,
        )
        return self

    def _setup(
        self,
        source: ByteSource,
        policy: RetryPolicy,
        location: str,
        start: int,
        length: int | None,
        file_size: int | None,
        etag: str | None,
        block_size: int,
    ) -> None:
        self._source = source
        self._policy = policy
        self.location = location
        self.start = start
        self.size = max(0, (file_size or 0) - start) if length is None else length
        self.file_size = file_size
        self.etag = etag
        self.block_size = block_size
        self._pos = 0
        self._buf = b""
        self._buf_start = 0

    @property
    def name(self) -> str:
        return self.location

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if self.closed:
            raise ValueError("I/O operation on closed file.")
        if whence == io.SEEK_SET:
            pos = offset
        elif whence == io.SEEK_CUR:
            pos = self._pos + offset
        elif whence == io.SEEK_END:
            pos = self.size + offset
        else:
            raise ValueError(f"Invalid whence {whence!r}.")
        if pos < 0:
            raise ValueError(f"Negative seek position {pos}.")
        self._pos = pos
        return pos

    def _fetch(self, pos: int, n: int) -> bytes:
        try:
            return read_exactly(self._source, self.start + pos, n, self._policy)
        except IntegrityError as e:
            raise IntegrityError(
                f"{e} (reading {n} bytes at {pos} of a {self.size}-byte window starting at "
                f"{self.start})",
                path=self.location,
            ) from e

    def read(self, size: int | None = -1, /) -> bytes:
        if self.closed:
            raise ValueError("I/O operation on closed file.")
        pos = self._pos
        avail = max(0, self.size - pos)
        n = avail if size is None or size < 0 else min(size, avail)
        if n == 0:
            return b""
        buf, bstart = self._buf, self._buf_start
        if bstart <= pos and pos + n <= bstart + len(buf):
            out = buf[pos - bstart : pos - bstart + n]
        else:
            head = buf[pos - bstart :] if bstart <= pos < bstart + len(buf) else b""
            at = pos + len(head)
            need = n - len(head)
            if need >= self.block_size:
                out = head + self._fetch(at, need)
            else:
                block = self._fetch(at, min(self.block_size, self.size - at))
                self._buf, self._buf_start = block, at
                out = head + block[:need]
        self._pos = pos + len(out)
        return out

    def readall(self) -> bytes:
        return self.read(-1)

    def readinto(self, buffer: WriteableBuffer, /) -> int:
        view = memoryview(buffer).cast("B")
        data = self.read(len(view))
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        source = getattr(self, "_source", None)  # absent if __init__ failed
        if not self.closed and source is not None:
            source.close()
            self._buf = b""
        super().close()

    def __repr__(self) -> str:
        window = f", start={self.start}" if self.start else ""
        return f"RangeFile({self.location!r}{window}, size={self.size})"


def _check_window(start: int, length: int | None, block_size: int) -> None:
    if start < 0 or (length is not None and length < 0) or block_size < 0:
        raise ValueError(f"Invalid window start={start}, length={length}, block_size={block_size}.")
