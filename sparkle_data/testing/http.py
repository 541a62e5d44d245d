"""A loopback HTTP server with byte ranges and fault injection, for offline tests.

:func:`serve_directory` serves a local folder on ``127.0.0.1`` (random port, background
thread) the way the Hugging Face CDN serves shards: ``GET`` with ``Range: bytes=a-b`` answers
``206`` with ``Content-Range``, ``HEAD`` answers ``Content-Length``, ``ETag`` and
``Accept-Ranges``. :class:`~sparkle_data.testing.faults.Faults` (shared with the fake Hub:
``fail_first``, ``drop_after``, ``stall``, ``flip_first``, ``latency``, ...) breaks it on
purpose, so that retry and verification code can be tested without the internet::

    from sparkle_data.testing.http import Faults, serve_directory

    with serve_directory(tmp_path, faults=Faults(drop_after=1000, drop_first=1)) as server:
        data = read_range(server.url("location_source_video_part00.tar"), 0, 4096)
        assert server.count("GET") == 2  # dropped once, resumed once

Faults are read at each request, so a test may change ``server.faults`` between reads.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from sparkle_data.errors import RangeNotSatisfiableError
from sparkle_data.io.byteranges import parse_range
from sparkle_data.testing._loopback import (
    LoopbackHTTPServer,
    QuietHandler,
    RecordedServer,
    serving,
)
from sparkle_data.testing.faults import FaultInjector, Faults

__all__ = ["Faults", "LoopbackServer", "RequestRecord", "serve_directory"]
# ``Faults`` is :class:`sparkle_data.testing.faults.Faults`, re-exported (one mechanism).


@dataclass(frozen=True, slots=True)
class RequestRecord:
    method: str
    path: str
    range: str | None
    status: int


@dataclass
class LoopbackServer(RecordedServer[RequestRecord]):
    """Handle yielded by :func:`serve_directory`; ``faults`` may be replaced at any time."""

    base_url: str
    root: Path
    injector: FaultInjector = field(default_factory=FaultInjector, repr=False)
    """Applies :attr:`faults` (the mechanism shared with the fake Hub)."""
    requests: list[RequestRecord] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def url(self, relpath: str = "") -> str:
        """Absolute URL of ``relpath`` (relative to the served folder)."""
        return f"{self.base_url}/{quote(relpath)}"

    def count(self, method: str | None = None) -> int:
        """Requests received so far (of one method, or all)."""
        with self.lock:
            return sum(1 for r in self.requests if method is None or r.method == method)

    def __str__(self) -> str:
        return self.base_url


class _Handler(QuietHandler):
    server: _Server

    def do_HEAD(self) -> None:  # noqa: N802 - the http.server handler name
        self._serve(head=True)

    def do_GET(self) -> None:  # noqa: N802 - the http.server handler name
        self._serve(head=False)

    def _serve(self, *, head: bool) -> None:
        state = self.server.state
        injector = state.injector
        faults = injector.faults
        range_header = self.headers.get("Range")
        rel = unquote(urlsplit(self.path).path).lstrip("/")

        def record(status: int) -> None:
            state.record(RequestRecord(self.command, rel, range_header, status))

        failed = injector.before("file", rel)
        if failed is not None:
            record(failed)
            self.send_head(failed, {"Content-Length": "0"})
            return
        if faults.redirect is not None:
            record(302)
            location = f"{faults.redirect.rstrip('/')}/{quote(rel)}"
            self.send_head(302, {"Location": location, "Content-Length": "0"})
            return
        root = state.root
        target = (root / rel).resolve()
        if not target.is_relative_to(root) or not target.is_file():
            record(404)
            self.send_head(404, {"Content-Length": "0"})
            return
        st = target.stat()
        size = st.st_size
        headers = {
            "Accept-Ranges": "bytes",
            "ETag": f'"{st.st_mtime_ns:x}-{size:x}"',
            "Content-Type": "application/octet-stream",
        }
        try:
            span = (
                None
                if injector.range_ignored("file", rel)
                else parse_range(range_header, size)
            )
        except RangeNotSatisfiableError:
            record(416)
            self.send_head(
                416, {**headers, "Content-Range": f"bytes */{size}", "Content-Length": "0"}
            )
            return
        if span is not None:
            first, last = span.start, span.end
            status = 206
            headers["Content-Range"] = f"bytes {first}-{last}/{size}"
        else:
            first, last, status = 0, size - 1, 200
        length = last - first + 1
        headers["Content-Length"] = str(length)
        record(status)
        self.send_head(status, headers)
        if head:
            return
        plan = injector.plan("file", rel)
        try:
            with target.open("rb") as f:

                def read(done: int, n: int) -> bytes:
                    f.seek(first + done)
                    return f.read(n)

                if not injector.stream(self.wfile, read, length, plan, self.connection):
                    self.close_connection = True
        except OSError:
            self.close_connection = True


class _Server(LoopbackHTTPServer):
    state: LoopbackServer


@contextlib.contextmanager
def serve_directory(
    root: str | os.PathLike[str], *, faults: Faults | None = None
) -> Iterator[LoopbackServer]:
    """Serve ``root`` on ``http://127.0.0.1:{random port}`` until the block exits.

    Yields a :class:`LoopbackServer`: ``server.base_url`` (also ``str(server)``),
    ``server.url(relpath)``, the recorded ``server.requests`` and ``server.count(method)``.
    """
    httpd = _Server(("127.0.0.1", 0), _Handler)
    with serving(httpd) as base_url:
        httpd.state = LoopbackServer(base_url, Path(root).resolve(), FaultInjector(faults))
        yield httpd.state
