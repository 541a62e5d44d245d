"""Where a regen run keeps its bookkeeping inside an output folder: ``OUT/.regen/``.

The manifest, run reports, pack staging and record parts all live under :data:`REGEN_DIR`,
and so do the locks (:func:`regen_lock`); this module imports nothing of the package, so
every regen module may use it.
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path
from typing import Final

__all__ = ["REGEN_DIR", "regen_lock"]

REGEN_DIR: Final = ".regen"


@contextlib.contextmanager
def regen_lock(out: str | Path, name: str, *, busy: str | None = None) -> Iterator[None]:
    """An exclusive lock on ``OUT/.regen/{name}`` for the ``with`` block. It waits for another
    process that holds it; with ``busy``, it raises ``RuntimeError("{busy} (lock PATH).")``
    instead."""
    lock = Path(out) / REGEN_DIR / name
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("a") as f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | (0 if busy is None else fcntl.LOCK_NB))
        except BlockingIOError:
            raise RuntimeError(f"{busy} (lock {lock}).") from None
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)
