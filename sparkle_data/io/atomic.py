"""Atomic file writes: temp sibling, fsync, ``os.replace``, fsync the directory.

A process killed at any point leaves either the old file or the new one, never half a file.
Temp files are named ``.{name}.tmp-*`` next to their target; :func:`remove_stale_temps` cleans
those a killed run left behind.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Literal, cast, overload

__all__ = [
    "atomic_write",
    "atomic_write_bytes",
    "atomic_write_text",
    "fsync_dir",
    "remove_stale_temps",
]

TEMP_MARK = ".tmp-"


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """fsync a directory so a rename inside it is durable (no-op where unsupported)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@overload
def atomic_write(
    path: str | os.PathLike[str], mode: Literal["wb"] = "wb"
) -> contextlib.AbstractContextManager[IO[bytes]]: ...
@overload
def atomic_write(
    path: str | os.PathLike[str], mode: Literal["w"]
) -> contextlib.AbstractContextManager[IO[str]]: ...
def atomic_write(
    path: str | os.PathLike[str], mode: Literal["w", "wb"] = "wb"
) -> contextlib.AbstractContextManager[IO[bytes]] | contextlib.AbstractContextManager[IO[str]]:
    """Context manager yielding a file whose content replaces ``path`` on success only.

    Parent directories are created. On an exception the temp file is removed and ``path`` is
    left untouched. Text mode writes UTF-8 with ``\\n`` newlines.
    """
    return cast("contextlib.AbstractContextManager[IO[bytes]]", _atomic_write(Path(path), mode))


@contextlib.contextmanager
def _atomic_write(path: Path, mode: str) -> Iterator[IO[bytes] | IO[str]]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}{TEMP_MARK}", dir=path.parent)
    try:
        if mode == "wb":
            f: IO[bytes] | IO[str] = os.fdopen(fd, "wb")
        else:
            f = os.fdopen(fd, "w", encoding="utf-8", newline="")
        with f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_write(path, "wb") as f:
        f.write(data)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def remove_stale_temps(root: str | os.PathLike[str]) -> int:
    """Remove ``.*.tmp-*`` files a killed writer left under ``root``; returns how many."""
    n = 0
    for p in Path(root).rglob(f".*{TEMP_MARK}*"):
        if p.is_file():
            p.unlink()
            n += 1
    return n
