"""A loopback HTTP server with byte ranges and fault injection, for offline tests.

:func:`serve_directory` serves a local folder on ``127.0.0.1`` (random port, background
thread) the way the Hugging Face CDN serves shards: ``GET`` with ``Range: bytes=a-b`` answers
``206`` with ``Content-Range``, ``HEAD`` answers ``Content-Length``, ``ETag`` and
``Accept-Ranges``. :class:`Faults` breaks it on purpose, so that retry and verification code
can be tested without the internet::

    from sparkle_data.testing.http import Faults, serve_directory

    with serve_directory(tmp_path, faults=Faults(drop_after=1000, drop_first=1)) as server:
        data = read_range(server.url("location_source_video_part00.tar"), 0, 4096)
        assert server.count("GET") == 2  # dropped once, resumed once

Faults are read at each request, so a test may change ``server.faults`` between reads.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

__all__ = ["Faults", "LoopbackServer", "RequestRecord", "serve_directory"]


@dataclass
class Faults:
    """What the server does wrong. Counters are per server and count requests of that kind."""

    fail_first: int = 0
    """Answer ``fail_status`` to the first ``fail_first`` requests (GET or HEAD)."""
    fail_status: int = 503
    drop_after: int | None = None
    """Close the connection after sending this many body bytes..."""
    drop_first: int = 0
    """...on the first ``drop_first`` GET requests."""
    ignore_range: bool = False
    """Answer ``200`` with the whole file even when a ``Range`` is asked."""
    delay: float = 0.0
    """Seconds to sleep before each body chunk (a slow server)."""
    chunk_size: int = 64 * 1024
    redirect: str | None = None
    """Answer ``302`` to ``{redirect}/{path}`` (a CDN behind the Hub's resolve URLs)."""


@dataclass(frozen=True, slots=True)
class RequestRecord:
    method: str
    path: str
    range: str | None
    status: int


@dataclass
class LoopbackServer:
    """Handle yielded by :func:`serve_directory`."""

    base_url: str
    root: Path
    faults: Faults
    requests: list[RequestRecord] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _seen: dict[str, int] = field(default_factory=dict, repr=False)

    def url(self, relpath: str = "") -> str:
        """Absolute URL of ``relpath`` (relative to the served folder)."""
        return f"{self.base_url}/{quote(relpath)}"

    def count(self, method: str | None = None) -> int:
        """Requests received so far (of one method, or all)."""
        with self._lock:
            return sum(1 for r in self.requests if method is None or r.method == method)

    def reset(self, faults: Faults | None = None) -> None:
        """Forget recorded requests and fault counters (and optionally replace the faults)."""
        with self._lock:
            self.requests.clear()
            self._seen.clear()
            if faults is not None:
                self.faults = faults

    def _next(self, kind: str) -> int:
        with self._lock:
            n = self._seen.get(kind, 0)
            self._seen[kind] = n + 1
            return n

    def _record(self, record: RequestRecord) -> None:
        with self._lock:
            self.requests.append(record)

    def __str__(self) -> str:
        return self.base_url


def _parse_range(header: str, size: int) -> tuple[int, int] | str | None:
    """(first, last) inclusive; None for no/ignored range; "416" when unsatisfiable."""
    unit, _, spec = header.strip().partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None  # multi-range: serve the whole file, as RFC 9110 allows
    first, _, last = spec.strip().partition("-")
    try:
        if not first:  # suffix range: the last N bytes
            n = int(last)
            if n <= 0:
                return "416"
            return max(0, size - n), size - 1
        a = int(first)
        b = int(last) if last else size - 1
    except ValueError:
        return None
    if a >= size or b < a:
        return "416"
    return a, min(b, size - 1)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_HEAD(self) -> None:
        self._serve(head=True)

    def do_GET(self) -> None:
        self._serve(head=False)

    def _finish(self, status: int, headers: dict[str, str]) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()

    def _serve(self, *, head: bool) -> None:
        state = self.server.state
        faults = state.faults
        range_header = self.headers.get("Range")
        rel = unquote(urlsplit(self.path).path).lstrip("/")

        def record(status: int) -> None:
            state._record(RequestRecord(self.command, rel, range_header, status))

        if state._next("any") < faults.fail_first:
            record(faults.fail_status)
            self._finish(faults.fail_status, {"Content-Length": "0"})
            return
        if faults.redirect is not None:
            record(302)
            location = f"{faults.redirect.rstrip('/')}/{quote(rel)}"
            self._finish(302, {"Location": location, "Content-Length": "0"})
            return
        root = state.root
        target = (root / rel).resolve()
        if not target.is_relative_to(root) or not target.is_file():
            record(404)
            self._finish(404, {"Content-Length": "0"})
            return
        st = target.stat()
        size = st.st_size
        headers = {
            "Accept-Ranges": "bytes",
            "ETag": f'"{st.st_mtime_ns:x}-{size:x}"',
            "Content-Type": "application/octet-stream",
        }
        span = (
            None
            if range_header is None or faults.ignore_range
            else _parse_range(range_header, size)
        )
        if span == "416":
            record(416)
            self._finish(
                416, {**headers, "Content-Range": f"bytes */{size}", "Content-Length": "0"}
            )
            return
        if isinstance(span, tuple):
            first, last = span
            status = 206
            headers["Content-Range"] = f"bytes {first}-{last}/{size}"
        else:
            first, last, status = 0, size - 1, 200
        length = last - first + 1
        headers["Content-Length"] = str(length)
        record(status)
        self._finish(status, headers)
        if head:
            return
        drop = faults.drop_after if state._next("GET") < faults.drop_first else None
        sent = 0
        try:
            with target.open("rb") as f:
                f.seek(first)
                while sent < length:
                    n = min(faults.chunk_size, length - sent)
                    if drop is not None:
                        n = min(n, drop - sent)
                        if n <= 0:
                            self.close_connection = True
                            with contextlib.suppress(OSError):
                                self.connection.shutdown(socket.SHUT_RDWR)
                            return
                    if faults.delay:
                        time.sleep(faults.delay)
                    chunk = f.read(n)
                    self.wfile.write(chunk)
                    sent += len(chunk)
        except (TimeoutError, BrokenPipeError, ConnectionResetError):
            self.close_connection = True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
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
    host, port = httpd.server_address[:2]
    state = LoopbackServer(
        base_url=f"http://{host!s}:{port}",
        root=Path(root).resolve(),
        faults=faults or Faults(),
    )
    httpd.state = state
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)
