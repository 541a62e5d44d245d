"""Open local files only when they are regular files: never block on a FIFO, never read a folder.

Every local file sparkle-data reads (shards, record files, CSVs, loose artifacts, index files)
goes through :func:`open_regular` (or :func:`open_regular_fd`). The path is checked with
``stat`` before it is opened, then opened with ``O_NONBLOCK`` (a FIFO swapped in between the
two calls still cannot block the open) and checked again with ``fstat`` on the descriptor
actually opened. Anything but a regular file (a FIFO, a folder, a device, a socket) raises
:class:`~sparkle_data.errors.LayoutError` naming the path and what it is; the layout's files
are regular files. A missing file still raises :class:`FileNotFoundError`.
"""

from __future__ import annotations

import os
import stat
from typing import IO, Final

from sparkle_data.errors import LayoutError

__all__ = ["check_regular", "file_kind", "open_regular", "open_regular_fd"]

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


def check_regular(path: str | os.PathLike[str], *, what: str = "file") -> os.stat_result:
    """``os.stat(path)``, raising :class:`LayoutError` unless it is a regular file."""
    st = os.stat(path)
    if not stat.S_ISREG(st.st_mode):
        raise _refuse(os.fsdecode(os.fspath(path)), st.st_mode, what)
    return st


def open_regular_fd(path: str | os.PathLike[str], *, what: str = "file") -> int:
    """A blocking read-only descriptor of a regular file (see the module docstring)."""
    check_regular(path, what=what)
    fd = os.open(path, _FLAGS | _NONBLOCK)
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


def open_regular(
    path: str | os.PathLike[str], *, buffering: int = -1, what: str = "file"
) -> IO[bytes]:
    """``open(path, "rb", buffering=buffering)`` for a regular file only."""

    def opener(name: str, flags: int) -> int:
        return open_regular_fd(name, what=what)

    f: IO[bytes] = open(path, "rb", buffering=buffering, opener=opener)  # noqa: SIM115
    return f
