"""Open local files only when they are regular files: never block on a FIFO, never read a folder.

Every local file sparkle-data reads (shards, record files, CSVs, loose artifacts, index files)
goes through :func:`open_regular` (or :func:`open_regular_fd`). The path is checked with
``stat`` before it is opened, then opened with ``O_NONBLOCK`` (a FIFO swapped in between the
two calls still cannot block the open) and checked again with ``fstat`` on the descriptor
actually opened. Anything but a regular file (a FIFO, a folder, a device, a socket) raises
:class:`~sparkle_data.errors.LayoutError` naming the path and what it is; the layout's files
are regular files. A path that names no file still raises what ``os.stat`` raised
(:class:`FileNotFoundError`, :class:`NotADirectoryError`, ...).

Any other ``OSError`` met opening or reading such a file (``EACCES``, ``EIO``, ...) becomes a
:class:`~sparkle_data.errors.ReadError` (a ``SparkleError`` and an ``OSError``, with the
cause's ``errno``) naming the file: the files :func:`open_regular` returns wrap the errors of
their reads too. :func:`read_error` builds one for the callers that know the member or the
sample the bytes belong to.
"""

from __future__ import annotations

import errno as errnos
import io
import os
import stat
from typing import IO, Any, Final

from sparkle_data.errors import LayoutError, ReadError

__all__ = ["check_regular", "file_kind", "open_regular", "open_regular_fd", "read_error"]

_NONBLOCK: Final = getattr(os, "O_NONBLOCK", 0)
_FLAGS: Final = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)

_KINDS: Final = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def file_kind(mode: int) -> str:
    """What a ``st_mode`` describes, in words (``"a regular file"``, ``"a FIFO"``...)."""
    if stat.S_ISREG(mode):
        return "a regular file"
    for test, kind in _KINDS:
        if test(mode):
            return kind
    return "not a regular file"


def _refuse(path: str, mode: int, what: str) -> LayoutError:
    return LayoutError.invalid(
        what,
        path.replace(os.sep, "/").rsplit("/", 1)[-1],
        rule=f"is {file_kind(mode)}, not a regular file",
        hint="sparkle-data only reads regular files (a FIFO would block, a folder cannot be "
        "read); replace it with the file the layout expects.",
        path=path,
    )


def read_error(
    path: str | os.PathLike[str],
    error: OSError,
    *,
    what: str = "file",
    member: str | None = None,
    sample_id: str | None = None,
) -> ReadError:
    """The :class:`ReadError` for ``error``, met opening or reading ``path`` (``member`` and
    ``sample_id`` where the caller knows them); its ``errno`` is the cause's."""
    name = os.fsdecode(os.fspath(path))
    code = errnos.errorcode.get(error.errno or 0)
    cause = error.strerror or str(error) or type(error).__name__
    err = ReadError.invalid(
        what,
        name.replace(os.sep, "/").rsplit("/", 1)[-1],
        rule=f"cannot be read ({cause}{', ' + code if code else ''})",
        hint="Check its permissions (EACCES) and the disk or mount it is on (EIO).",
        path=name,
        member=member,
        sample_id=sample_id,
    )
    err.errno = error.errno
    return err


_LOOKUP: Final = (FileNotFoundError, NotADirectoryError, IsADirectoryError, ReadError)
"""Errors that pass unchanged: a path that names no file (the CLI's exit 2), and our own."""
_LOOKUP_ERRNOS: Final = frozenset({errnos.ENAMETOOLONG, errnos.ELOOP})


def _wrapped(path: str | os.PathLike[str], error: OSError, what: str) -> OSError:
    """``error`` as a :class:`ReadError`; errors of a path that names no file (missing, a
    file used as a folder, too long, a symlink loop) and our own errors pass unchanged."""
    if isinstance(error, _LOOKUP) or error.errno in _LOOKUP_ERRNOS:
        return error
    return read_error(path, error, what=what)


def check_regular(path: str | os.PathLike[str], *, what: str = "file") -> os.stat_result:
    """``os.stat(path)``, raising :class:`LayoutError` unless it is a regular file."""
    try:
        st = os.stat(path)
    except OSError as e:
        raise _wrapped(path, e, what) from e
    if not stat.S_ISREG(st.st_mode):
        raise _refuse(os.fsdecode(os.fspath(path)), st.st_mode, what)
    return st


def open_regular_fd(path: str | os.PathLike[str], *, what: str = "file") -> int:
    """A blocking read-only descriptor of a regular file (see the module docstring)."""
    check_regular(path, what=what)
    try:
        fd = os.open(path, _FLAGS | _NONBLOCK)
    except OSError as e:
        raise _wrapped(path, e, what) from e
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise _refuse(os.fsdecode(os.fspath(path)), mode, what)
        if _NONBLOCK:
            os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


class _ReadFile(io.FileIO):
    """A read-only ``FileIO`` whose read errors are :class:`ReadError` naming the file."""

    def __init__(self, path: str | os.PathLike[str], what: str) -> None:
        self._what = what

        def opener(name: str, flags: int) -> int:
            return open_regular_fd(name, what=what)

        super().__init__(os.fspath(path), "r", opener=opener)

    def _error(self, e: OSError) -> OSError:
        return _wrapped(str(self.name), e, self._what)

    def readinto(self, buffer: Any) -> int | None:
        try:
            return super().readinto(buffer)
        except OSError as e:
            raise self._error(e) from e

    def read(self, size: int | None = -1) -> bytes:
        try:
            return super().read(size) or b""  # None only for a non-blocking fd: not ours
        except OSError as e:
            raise self._error(e) from e

    def readall(self) -> bytes:
        try:
            return super().readall()
        except OSError as e:
            raise self._error(e) from e


def open_regular(
    path: str | os.PathLike[str], *, buffering: int = -1, what: str = "file"
) -> IO[bytes]:
    """``open(path, "rb", buffering=buffering)`` for a regular file only (see the module
    docstring: errors other than a missing file are :class:`ReadError`)."""
    raw = _ReadFile(path, what)
    if buffering == 0:
        return raw
    try:
        return io.BufferedReader(raw, buffering if buffering > 1 else io.DEFAULT_BUFFER_SIZE)
    except BaseException:
        raw.close()
        raise
