"""One fault-injection mechanism for the loopback servers (plain HTTP and the fake Hub).

:class:`Faults` says what a server does wrong; :class:`FaultInjector` applies it, with the
per-server counters ("the first N matching requests"), to requests and to the bytes of file
bodies. Both :func:`sparkle_data.testing.http.serve_directory` and
:func:`sparkle_data.testing.hub.serve_fake_hub` use it, so a test breaks either the same way::

    Faults(fail_first=2)                    # 503 to the first two matching requests
    Faults(drop_after=1000, drop_first=1)   # cut the first body after 1000 bytes
    Faults(stall=5.0, stall_first=1)        # stall before the first body (a timeout)
    Faults(flip_first=1, flip_at=100)       # flip one bit of body byte 100, once
    Faults(latency=0.05)                    # 50 ms before every answer

Faults are read at each request, so a test may change them between reads.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Protocol

__all__ = ["BodyPlan", "FaultInjector", "Faults", "Writer"]


class Writer(Protocol):
    def write(self, data: bytes, /) -> object: ...


@dataclass
class Faults:
    """What a loopback server does wrong. Counters are per server and count the requests
    that match ``kinds`` and ``paths``; ``-1`` for a ``*_first`` count means every one."""

    fail_first: int = 0
    """Answer ``fail_status`` to the first ``fail_first`` matching requests (GET or HEAD)."""
    fail_status: int = 503
    drop_after: int | None = None
    """Close the connection after sending this many body bytes..."""
    drop_first: int = 0
    """...on the first ``drop_first`` matching ``GET`` requests (a cut body)."""
    ignore_range: bool = False
    """Answer ``200`` with the whole file even when a ``Range`` is asked."""
    delay: float = 0.0
    """Seconds to sleep before each body chunk (a slow link)."""
    chunk_size: int = 64 * 1024
    latency: float = 0.0
    """Seconds to sleep before answering every matching request (round-trip latency)."""
    stall: float = 0.0
    """Seconds to sleep before the body of the first ``stall_first`` matching ``GET`` s."""
    stall_first: int = 0
    flip_first: int = 0
    """Flip the lowest bit of body byte ``flip_at`` of the first ``flip_first`` matching
    ``GET`` bodies (a bit flipped on the way; the status and lengths stay right)."""
    flip_at: int = 0
    redirect: str | None = None
    """Plain server only: answer ``302`` to ``{redirect}/{path}`` (a CDN behind the Hub)."""
    kinds: tuple[str, ...] = ("*",)
    """Request kinds that match (``fnmatch`` patterns; the fake Hub's kinds are ``resolve``,
    ``cdn``, ``tree``, ...; every request of the plain server is ``file``)."""
    paths: str = "*"
    """``fnmatch`` pattern on the file path (the sha256 for the Hub's ``cdn``)."""


@dataclass(frozen=True, slots=True)
class BodyPlan:
    """What happens to one body: cut after ``drop`` bytes, ``stall`` seconds first, one bit
    flipped at ``flip``."""

    drop: int | None = None
    stall: float = 0.0
    flip: int | None = None


class FaultInjector:
    """Applies :class:`Faults` (thread-safe counters; :meth:`reset` clears them)."""

    def __init__(self, faults: Faults | None = None) -> None:
        self.faults = faults or Faults()
        self._lock = threading.Lock()
        self._seen: dict[str, int] = {}

    def reset(self, faults: Faults | None = None) -> None:
        with self._lock:
            self._seen.clear()
            if faults is not None:
                self.faults = faults

    def _take(self, counter: str, limit: int) -> bool:
        if limit == 0:
            return False
        with self._lock:
            n = self._seen.get(counter, 0)
            self._seen[counter] = n + 1
        return limit < 0 or n < limit

    def matches(self, kind: str, path: str | None) -> bool:
        f = self.faults
        return any(fnmatchcase(kind, k) for k in f.kinds) and fnmatchcase(path or "", f.paths)

    def before(self, kind: str, path: str | None) -> int | None:
        """Sleep the latency; the status to fail this request with, or ``None``."""
        f = self.faults
        if not self.matches(kind, path):
            return None
        if f.latency:
            time.sleep(f.latency)
        if self._take("fail", f.fail_first):
            return f.fail_status
        return None

    def range_ignored(self, kind: str, path: str | None) -> bool:
        return self.faults.ignore_range and self.matches(kind, path)

    def plan(self, kind: str, path: str | None) -> BodyPlan:
        """The faults of one ``GET`` body (counted now)."""
        f = self.faults
        if not self.matches(kind, path):
            return BodyPlan()
        cut = f.drop_after is not None and self._take("drop", f.drop_first)
        drop = f.drop_after if cut else None
        stall = f.stall if f.stall and self._take("stall", f.stall_first) else 0.0
        flip = f.flip_at if self._take("flip", f.flip_first) else None
        return BodyPlan(drop, stall, flip)

    def stream(
        self,
        out: Writer,
        read: Callable[[int, int], bytes],
        length: int,
        plan: BodyPlan,
        connection: socket.socket,
    ) -> bool:
        """Write ``length`` bytes from ``read(offset, n)`` under ``plan``; ``False`` when the
        body was cut (the connection is shut down: the handler must close it)."""
        f = self.faults
        if plan.stall:
            time.sleep(plan.stall)
        sent = 0
        while sent < length:
            n = min(f.chunk_size, length - sent)
            if plan.drop is not None:
                n = min(n, plan.drop - sent)
                if n <= 0:
                    with contextlib.suppress(OSError):
                        connection.shutdown(socket.SHUT_RDWR)
                    return False
            if f.delay:
                time.sleep(f.delay)
            chunk = read(sent, n)
            if not chunk:
                raise OSError("the file ended early")
            if plan.flip is not None and sent <= plan.flip < sent + len(chunk):
                data = bytearray(chunk)
                data[plan.flip - sent] ^= 1
                chunk = bytes(data)
            out.write(chunk)
            sent += len(chunk)
        return True
