"""What the two loopback servers share: the HTTP plumbing and the request log.

:func:`sparkle_data.testing.http.serve_directory` and the fake Hub
(:func:`sparkle_data.testing.hub.serve_fake_hub`) both listen on ``127.0.0.1`` (random port,
a background thread), answer HTTP/1.1 quietly, honour single byte ranges
(:func:`sparkle_data.io.byteranges.parse_range`), record every request
and break on purpose through :class:`~sparkle_data.testing.faults.FaultInjector`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Generic, TypeVar

from sparkle_data.testing.faults import FaultInjector, Faults

__all__ = [
    "LoopbackHTTPServer",
    "QuietHandler",
    "RecordedServer",
    "serving",
]

RecordT = TypeVar("RecordT")


class QuietHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive, no Nagle delay, no log lines on stderr."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: object) -> None:
        pass

    def send_head(self, status: int, headers: dict[str, str]) -> None:
        """The status line and ``headers`` (the body, if any, follows)."""
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()


class LoopbackHTTPServer(ThreadingHTTPServer):
    """A threading server whose handler threads never keep the process (or a test) alive."""

    daemon_threads = True
    block_on_close = False


@contextmanager
def serving(httpd: ThreadingHTTPServer, name: str | None = None) -> Iterator[str]:
    """Serve ``httpd`` on a background thread until the block exits; yields its base URL."""
    host, port = httpd.server_address[:2]
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True, name=name
    )
    thread.start()
    try:
        yield f"http://{host!s}:{port}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


class RecordedServer(Generic[RecordT]):
    """The faults in force and the log of answered requests (``requests``, under ``lock``)."""

    injector: FaultInjector
    requests: list[RecordT]
    lock: threading.Lock | threading.RLock

    @property
    def faults(self) -> Faults:
        """The faults in force (assign to replace them)."""
        return self.injector.faults

    @faults.setter
    def faults(self, value: Faults) -> None:
        self.injector.faults = value

    def record(self, record: RecordT) -> None:
        """Append one answered request to :attr:`requests`."""
        with self.lock:
            self.requests.append(record)

    def reset(self, faults: Faults | None = None) -> None:
        """Forget recorded requests and fault counters (and optionally replace the faults)."""
        with self.lock:
            self.requests.clear()
        self.injector.reset(faults)
