"""Byte-range reads from local, HTTP(S), ``hf://`` and other fsspec files, with retries.

Retries live here, at the byte level, and nowhere else:

* every remote call has a timeout (``timeout`` seconds for the connection and for each socket
  read on HTTP(S); ``huggingface_hub``'s own ``HF_HUB_DOWNLOAD_TIMEOUT`` for ``hf://``);
* a failed call is retried with exponential backoff (``backoff * 2**k`` seconds, jittered,
  capped at 30 s); ``retries`` bounds the number of *consecutive failures that received no new
  byte*, so a connection that drops mid-body is resumed from the byte offset already received
  and the budget only runs out when the source stops making progress;
* after the budget, :class:`~sparkle_data.errors.RemoteError` carries ``url``, ``offset`` (the
  absolute byte the read was stuck at) and ``attempts`` (requests made by this read).

Verification on HTTP(S): a ranged request must be answered ``206`` with a ``Content-Range`` that
starts at the asked offset; its total size, the ``Content-Length`` and the ``ETag`` must agree
with what is already known about the file (a file that changes under a resumed read raises
:class:`~sparkle_data.errors.IntegrityError`). A server that **ignores** ``Range`` (``200`` with
the whole body) is accepted only for a read that starts at byte 0, whose first ``size`` bytes
are then exactly the asked range (the rest is not downloaded: the connection is closed).
Anywhere else a ``200`` raises :class:`~sparkle_data.errors.RemoteError` at once, without
retrying: slicing would mean downloading everything before the offset (up to 5 GB for a shard)
and a resumed read must get ``206``. For fsspec filesystems (``hf://``) a read that returns
more bytes than asked is treated the same way.

Non-retried errors: ``FileNotFoundError`` (HTTP 404/410, missing path), other HTTP 4xx, TLS
certificate failures, and :class:`~sparkle_data.errors.IntegrityError` (HTTP 416 or an
end-of-file before ``offset + size``: the file is shorter than the caller believes).

Plain HTTP(S) uses the standard library's ``http.client`` with keep-alive connections (one set
per :class:`RangeFile`, one per thread for :func:`read_range`), follows up to 5 redirects and
honours the ``http_proxy`` / ``https_proxy`` / ``no_proxy`` environment variables. ``hf://``
paths go through ``huggingface_hub.HfFileSystem`` (authentication, Xet/LFS redirects), wrapped
by the same retry and length checks. Local files are read with ``os.pread`` and are never retried.
"""

from __future__ import annotations

import atexit
import contextlib
import http.client
import io
import os
import random
import ssl
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Protocol, TypeVar
from urllib.parse import SplitResult, urljoin, urlsplit

from fsspec.implementations.local import LocalFileSystem
from fsspec.spec import AbstractFileSystem

from sparkle_data import __version__
from sparkle_data.errors import IntegrityError, RemoteError, SparkleError

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

__all__ = [
    "DEFAULT_BACKOFF",
    "DEFAULT_BLOCK_SIZE",
    "DEFAULT_RETRIES",
    "DEFAULT_TIMEOUT",
    "HTTPRangeFileSystem",
    "RangeFile",
    "RetryPolicy",
    "call_with_retries",
    "close_connections",
    "is_retriable",
    "read_range",
    "stat_remote",
]

DEFAULT_RETRIES: Final = 5
DEFAULT_BACKOFF: Final = 0.5
DEFAULT_TIMEOUT: Final = 30.0
MAX_BACKOFF: Final = 30.0
DEFAULT_BLOCK_SIZE: Final = 1 << 20
"""Read-ahead of :class:`RangeFile`: reads smaller than this fetch a whole block."""
MAX_REDIRECTS: Final = 5
_CHUNK: Final = 1 << 16
_USER_AGENT: Final = f"sparkle-data/{__version__}"
_REDIRECT_STATUSES: Final = frozenset({301, 302, 303, 307, 308})
_MAX_ORIGINS: Final = 8
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard a remote call is tried. ``retries=0`` means one attempt and no retry."""

    retries: int = DEFAULT_RETRIES
    backoff: float = DEFAULT_BACKOFF
    timeout: float = DEFAULT_TIMEOUT

    def __post_init__(self) -> None:
        if isinstance(self.retries, bool) or not isinstance(self.retries, int) or self.retries < 0:
            raise ValueError(f"Invalid retries {self.retries!r}: must be an int >= 0.")
        if not self.backoff >= 0:
            raise ValueError(f"Invalid backoff {self.backoff!r}: must be >= 0 seconds.")
        if not self.timeout > 0:
            raise ValueError(f"Invalid timeout {self.timeout!r}: must be > 0 seconds.")

    def delay(self, failures: int) -> float:
        """Seconds to sleep after the ``failures``-th consecutive failure (jittered)."""
        if self.backoff == 0:
            return 0.0
        base = min(MAX_BACKOFF, self.backoff * 2.0 ** (failures - 1))
        return base * (0.5 + 0.5 * random.random())  # noqa: S311 (jitter, not crypto)


class _RetryableError(Exception):
    """One attempt failed in a way worth retrying, after writing ``done`` bytes."""

    def __init__(self, done: int, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.done = done
        self.cause = cause


def _fail_message(cause: BaseException) -> str:
    text = str(cause) or type(cause).__name__
    return f"{type(cause).__name__}: {text}"


def _remote_error(url: str, offset: int, attempts: int, cause: BaseException) -> RemoteError:
    return RemoteError(
        f"Remote read of {url} failed at byte {offset} after {attempts} attempt"
        f"{'s' if attempts != 1 else ''}: {_fail_message(cause)}",
        url=url,
        offset=offset,
        attempts=attempts,
        path=url,
    )


def _final(message: str, *, url: str, offset: int, attempts: int = 1) -> RemoteError:
    """A RemoteError that retrying cannot fix (protocol violation, 4xx)."""
    return RemoteError(message, url=url, offset=offset, attempts=attempts, path=url)


def _with_retries(call: Callable[[], _T], policy: RetryPolicy, *, url: str, offset: int) -> _T:
    """Run ``call`` until it returns; ``_RetryableError`` is retried (no progress to track)."""
    attempts = 0
    while True:
        attempts += 1
        try:
            return call()
        except _RetryableError as e:
            if attempts > policy.retries:
                raise _remote_error(url, offset, attempts, e.cause) from e.cause
            time.sleep(policy.delay(attempts))


def call_with_retries(call: Callable[[], _T], *, url: str, policy: RetryPolicy | None = None) -> _T:
    """Run a remote metadata call (``fs.info``, ...) with the retry policy of this module."""

    def attempt() -> _T:
        try:
            return call()
        except Exception as e:
            if is_retriable(e):
                raise _RetryableError(0, e) from e
            raise

    return _with_retries(attempt, policy or RetryPolicy(), url=url, offset=0)


class _Source(Protocol):
    """One file that can be read by ranges, one attempt at a time."""

    location: str

    def fetch(self, start: int, out: memoryview) -> int:
        """Write up to ``len(out)`` bytes read at ``start`` into ``out`` and return how many
        (>= 1). Raise :class:`_RetryableError` for a failure worth retrying, anything else for a
        final one."""
        ...

    def close(self) -> None: ...


def _read_with_retries(source: _Source, offset: int, size: int, policy: RetryPolicy) -> bytes:
    """Exactly ``size`` bytes at ``offset``, resuming from the last byte received."""
    buf = bytearray(size)
    view = memoryview(buf)
    got = 0
    attempts = 0
    failures = 0
    while got < size:
        attempts += 1
        try:
            got += source.fetch(offset + got, view[got:])
            failures = 0
        except _RetryableError as e:
            got += e.done
            if e.done:  # progress: resume at once, the budget starts over
                failures = 0
                continue
            failures += 1
            if failures > policy.retries:
                raise _remote_error(source.location, offset + got, attempts, e.cause) from e.cause
            time.sleep(policy.delay(failures))
    return bytes(buf)


# --------------------------------------------------------------------------- classification


def _transport_errors() -> tuple[type[BaseException], ...]:
    types: list[type[BaseException]] = [OSError, TimeoutError, http.client.HTTPException]
    try:  # huggingface_hub's HTTP client; its transport errors are not OSErrors
        import httpx2

        types.append(httpx2.TransportError)
    except ImportError:  # pragma: no cover - huggingface_hub always brings it
        pass
    return tuple(types)


_TRANSPORT_ERRORS: Final = _transport_errors()
_FINAL_OS_ERRORS: Final = (
    FileNotFoundError,
    PermissionError,
    IsADirectoryError,
    NotADirectoryError,
    ssl.SSLCertVerificationError,
)


def _retriable_status(status: int) -> bool:
    return status in (408, 425, 429) or status >= 500


def is_retriable(error: BaseException) -> bool:
    """Whether retrying a failed remote call could help (transport errors, 5xx, 408, 429)."""
    if isinstance(error, (SparkleError, *_FINAL_OS_ERRORS)):
        return False
    status = getattr(getattr(error, "response", None), "status_code", None)
    if isinstance(status, int):
        return _retriable_status(status)
    return isinstance(error, _TRANSPORT_ERRORS)


# --------------------------------------------------------------------------- local files


class _LocalSource:
    def __init__(self, path: str) -> None:
        self.location = path
        self._fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))

    def fetch(self, start: int, out: memoryview) -> int:
        if hasattr(os, "pread"):
            data = os.pread(self._fd, len(out), start)
        else:  # pragma: no cover - Windows: this fd is private to this source
            os.lseek(self._fd, start, os.SEEK_SET)
            data = os.read(self._fd, len(out))
        if not data:
            raise IntegrityError.invalid(
                "byte range",
                start,
                rule="the file ends before the requested range (truncated or replaced?)",
                path=self.location,
            )
        out[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


# --------------------------------------------------------------------------- HTTP(S)


class _HTTPStatusError(OSError):
    def __init__(self, status: int, reason: str, url: str) -> None:
        super().__init__(f"HTTP {status} {reason} from {url}")
        self.status = status


def _proxy_for(parts: SplitResult) -> SplitResult | None:
    proxies = urllib.request.getproxies()
    proxy = proxies.get(parts.scheme)
    if not proxy or urllib.request.proxy_bypass(parts.netloc):
        return None
    if "://" not in proxy:
        proxy = "http://" + proxy
    return urlsplit(proxy)


class _HTTPSession:
    """Keep-alive ``http.client`` connections by origin; not thread-safe (one per file)."""

    def __init__(self) -> None:
        self._conns: dict[tuple[str, str, int], http.client.HTTPConnection] = {}
        self._ssl: ssl.SSLContext | None = None
        self._pid = os.getpid()

    def _after_fork(self) -> None:
        """A forked child (a DataLoader worker) inherits the parent's kept-alive sockets: two
        processes talking over one connection read each other's answers. Forget them here
        (the parent keeps its own); the child opens its own connections."""
        if self._pid != os.getpid():
            self._conns = {}
            self._pid = os.getpid()

    def _connection(
        self, parts: SplitResult, url: str, timeout: float
    ) -> tuple[http.client.HTTPConnection, str]:
        self._after_fork()
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"Invalid URL {url!r}: only http:// and https:// are supported.")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        key = (parts.scheme, parts.hostname, port)
        proxy = _proxy_for(parts)
        if proxy is not None and parts.scheme == "http":
            target = url  # absolute-form request line through an HTTP proxy
        conn = self._conns.get(key)
        if conn is None:
            if parts.scheme == "https":
                if self._ssl is None:
                    self._ssl = ssl.create_default_context()
                if proxy is not None and proxy.hostname:
                    conn = http.client.HTTPSConnection(
                        proxy.hostname, proxy.port or 80, timeout=timeout, context=self._ssl
                    )
                    conn.set_tunnel(parts.hostname, port)
                else:
                    conn = http.client.HTTPSConnection(
                        parts.hostname, port, timeout=timeout, context=self._ssl
                    )
            elif proxy is not None and proxy.hostname:
                conn = http.client.HTTPConnection(proxy.hostname, proxy.port or 80, timeout=timeout)
            else:
                conn = http.client.HTTPConnection(parts.hostname, port, timeout=timeout)
            if len(self._conns) >= _MAX_ORIGINS:  # forget the oldest origin
                self._conns.pop(next(iter(self._conns))).close()
            self._conns[key] = conn
        conn.timeout = timeout
        if conn.sock is not None:
            conn.sock.settimeout(timeout)
        return conn, target

    def request(
        self, method: str, url: str, headers: dict[str, str], timeout: float
    ) -> tuple[http.client.HTTPResponse, http.client.HTTPConnection, str]:
        """Send one request, following redirects; returns (response, connection, final url)."""
        for _ in range(MAX_REDIRECTS + 1):
            parts = urlsplit(url)
            conn, target = self._connection(parts, url, timeout)
            reused = conn.sock is not None
            try:
                try:
                    conn.request(method, target, headers=headers)
                    resp = conn.getresponse()
                except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                    if not reused:
                        raise
                    # a kept-alive connection the server had closed: one fresh try, no attempt
                    conn.close()
                    conn.request(method, target, headers=headers)
                    resp = conn.getresponse()
            except BaseException:
                conn.close()  # never reuse a connection in an unknown state
                raise
            if resp.status in _REDIRECT_STATUSES:
                location = resp.getheader("Location")
                resp.read(_CHUNK)
                conn.close()
                if not location:
                    return resp, conn, url
                url = urljoin(url, location)
                continue
            return resp, conn, url
        raise _final(f"Too many redirects (> {MAX_REDIRECTS}) for {url}", url=url, offset=0)

    def close(self) -> None:
        for conn in self._conns.values():
            conn.close()
        self._conns.clear()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()


def _parse_content_range(value: str | None) -> tuple[int, int, int | None] | None:
    """``bytes a-b/total`` (total may be ``*``) -> (a, b, total)."""
    if not value:
        return None
    unit, _, rest = value.strip().partition(" ")
    span, _, total = rest.partition("/")
    first, _, last = span.partition("-")
    if unit.lower() != "bytes" or not first.isdigit() or not last.isdigit():
        return None
    a, b = int(first), int(last)
    if b < a:
        return None
    if total == "*":
        return a, b, None
    if not total.isdigit():
        return None
    return a, b, int(total)


class _HTTPSource:
    def __init__(
        self,
        url: str,
        *,
        policy: RetryPolicy,
        total: int | None = None,
        etag: str | None = None,
        session: _HTTPSession | None = None,
    ) -> None:
        self.location = url
        self.policy = policy
        self.total = total
        self.etag = etag
        self._owns_session = session is None
        self._session = session or _HTTPSession()

    def _check_etag(self, resp: http.client.HTTPResponse, start: int) -> None:
        etag = resp.getheader("ETag")
        if etag is None:
            return
        if self.etag is None:
            self.etag = etag
        elif etag != self.etag:
            raise IntegrityError.invalid(
                "ETag",
                etag,
                rule=f"the remote file changed while it was read (expected ETag {self.etag})",
                hint=f"Failed at byte {start}; rebuild indexes for the new file.",
                path=self.location,
            )

    def _check_total(self, total: int | None, start: int) -> None:
        if total is None:
            return
        if self.total is None:
            self.total = total
        elif total != self.total:
            raise IntegrityError.invalid(
                "remote size",
                total,
                rule=f"the remote file has changed size (expected {self.total} bytes)",
                hint=f"Failed at byte {start}; rebuild indexes for the new file.",
                path=self.location,
            )

    def _short(self, start: int, want: int, total: int) -> IntegrityError:
        return IntegrityError.invalid(
            "byte range",
            f"{start}-{start + want - 1}",
            rule=f"the remote file has only {total} bytes (truncated or replaced?)",
            path=self.location,
        )

    def fetch(self, start: int, out: memoryview) -> int:
        want = len(out)
        headers = {
            "Range": f"bytes={start}-{start + want - 1}",
            "Accept-Encoding": "identity",
            "User-Agent": _USER_AGENT,
        }
        try:
            resp, conn, url = self._session.request(
                "GET", self.location, headers, self.policy.timeout
            )
        except SparkleError:
            raise
        except Exception as e:
            if is_retriable(e):
                raise _RetryableError(0, e) from e
            raise
        done = 0
        keep = False
        try:
            status = resp.status
            if status == 206:
                span = _parse_content_range(resp.getheader("Content-Range"))
                if span is None or span[0] != start or span[1] >= start + want:
                    raise _final(
                        f"Server answered bytes {resp.getheader('Content-Range')!r} to "
                        f"'Range: bytes={start}-{start + want - 1}' for {url}",
                        url=self.location,
                        offset=start,
                    )
                n = span[1] - span[0] + 1
                self._check_total(span[2], start)
                if span[2] is not None and span[2] < start + want:
                    raise self._short(start, want, span[2])
                length = resp.getheader("Content-Length")
                if length is not None and length.strip() != str(n):
                    raise _final(
                        f"Content-Length {length} disagrees with Content-Range "
                        f"{resp.getheader('Content-Range')} from {url}",
                        url=self.location,
                        offset=start,
                    )
                keep = not resp.will_close
            elif status == 200:
                length = resp.getheader("Content-Length")
                full = int(length) if length and length.strip().isdigit() else None
                if start != 0:
                    raise _final(
                        f"Server ignored 'Range: bytes={start}-' (answered 200 with the whole "
                        f"file instead of 206) for {url}; refusing to download {start} bytes "
                        "to skip them. Use a server that supports range requests.",
                        url=self.location,
                        offset=start,
                    )
                self._check_total(full, start)
                if full is not None and full < want:
                    raise self._short(start, want, full)
                n = want
            elif status == 416:
                raise IntegrityError.invalid(
                    "byte range",
                    f"{start}-{start + want - 1}",
                    rule="not satisfiable: the remote file is shorter than the range "
                    f"({resp.getheader('Content-Range') or 'size unknown'})",
                    path=self.location,
                )
            elif status in (404, 410):
                raise FileNotFoundError(f"HTTP {status} {resp.reason}: {url}")
            elif _retriable_status(status):
                raise _RetryableError(0, _HTTPStatusError(status, resp.reason, url))
            else:
                raise _final(
                    f"HTTP {status} {resp.reason} for {url}", url=self.location, offset=start
                )
            encoding = resp.getheader("Content-Encoding")
            if encoding and encoding.lower() != "identity":
                raise _final(
                    f"Server sent Content-Encoding {encoding!r} for a byte range of {url}",
                    url=self.location,
                    offset=start,
                )
            self._check_etag(resp, start)
            while done < n:
                k = resp.readinto(out[done : min(n, done + _CHUNK)])
                if not k:
                    raise _RetryableError(
                        done,
                        ConnectionError(
                            f"connection closed after {done} of {n} body bytes from {url}"
                        ),
                    )
                done += k
            return done
        except (SparkleError, FileNotFoundError, _RetryableError):
            keep = False
            raise
        except Exception as e:
            keep = False
            if is_retriable(e):
                raise _RetryableError(done, e) from e
            raise
        finally:
            if not keep:
                conn.close()

    def stat(self) -> tuple[int, str | None]:
        """(size, etag) by HEAD, falling back to ``GET bytes=0-0``."""

        def head() -> tuple[int, str | None]:
            headers = {"Accept-Encoding": "identity", "User-Agent": _USER_AGENT}
            try:
                resp, conn, url = self._session.request(
                    "HEAD", self.location, headers, self.policy.timeout
                )
                resp.read()
            except SparkleError:
                raise
            except Exception as e:
                if is_retriable(e):
                    raise _RetryableError(0, e) from e
                raise
            if resp.will_close:
                conn.close()
            length = resp.getheader("Content-Length")
            if resp.status == 200 and length and length.strip().isdigit():
                return int(length), resp.getheader("ETag")
            if resp.status in (404, 410):
                raise FileNotFoundError(f"HTTP {resp.status} {resp.reason}: {url}")
            if _retriable_status(resp.status):
                raise _RetryableError(0, _HTTPStatusError(resp.status, resp.reason, url))
            return -1, None

        size, etag = _with_retries(head, self.policy, url=self.location, offset=0)
        if size < 0:  # HEAD refused or without length: ask for one byte
            one = bytearray(1)
            _with_retries(
                lambda: self.fetch(0, memoryview(one)), self.policy, url=self.location, offset=0
            )
            if self.total is None:
                raise _final(
                    f"Cannot determine the size of {self.location}: no Content-Length or "
                    "Content-Range total",
                    url=self.location,
                    offset=0,
                )
            size, etag = self.total, self.etag
        self.total, self.etag = size, etag
        return size, etag

    def close(self) -> None:
        if self._owns_session:
            self._session.close()


_THREAD = threading.local()


def _thread_session() -> _HTTPSession:
    """Keep-alive connections shared by the one-shot reads of one thread."""
    session: _HTTPSession | None = getattr(_THREAD, "session", None)
    if session is None:
        session = _THREAD.session = _HTTPSession()
    return session


def close_connections() -> None:
    """Close the keep-alive connections :func:`read_range` keeps for the calling thread."""
    session: _HTTPSession | None = getattr(_THREAD, "session", None)
    if session is not None:
        session.close()


atexit.register(close_connections)


# --------------------------------------------------------------------------- other fsspec


class _FsspecSource:
    """Any fsspec filesystem (``hf://``, memory, s3, ...): exact ranges, no fsspec cache."""

    def __init__(self, fs: AbstractFileSystem, path: str, location: str) -> None:
        self.fs = fs
        self.path = path
        self.location = location
        self._file: Any = None

    def fetch(self, start: int, out: memoryview) -> int:
        want = len(out)
        try:
            if self._file is None:
                self._file = self.fs.open(self.path, "rb", cache_type="none")
            self._file.seek(start)
            data = self._file.read(want)
        except Exception as e:
            self.close()
            if is_retriable(e):
                raise _RetryableError(0, e) from e
            raise
        if not isinstance(data, bytes):
            data = bytes(data)
        if len(data) > want:
            raise _final(
                f"{self.location} returned {len(data)} bytes for a {want}-byte range at "
                f"{start}: the server ignored the Range header",
                url=self.location,
                offset=start,
            )
        if not data:
            raise IntegrityError.invalid(
                "byte range",
                start,
                rule="the file ends before the requested range (truncated or replaced?)",
                path=self.location,
            )
        out[: len(data)] = data
        return len(data)

    def stat(self, policy: RetryPolicy) -> tuple[int, str | None]:
        meta = call_with_retries(lambda: self.fs.info(self.path), url=self.location, policy=policy)
        return int(meta["size"]), _etag_of(meta)

    def close(self) -> None:
        f, self._file = self._file, None
        if f is not None:
            with contextlib.suppress(Exception):
                f.close()


def _etag_of(meta: dict[str, Any]) -> str | None:
    for key in ("ETag", "etag", "blob_id", "md5", "checksum"):
        value = meta.get(key)
        if value:
            return str(value)
    return None


# --------------------------------------------------------------------------- public API


class HTTPRangeFileSystem(AbstractFileSystem):  # type: ignore[misc]
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

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        source = _HTTPSource(path, policy=self.policy)
        try:
            size, etag = source.stat()
        finally:
            source.close()
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


def _policy(
    fs: AbstractFileSystem | None,
    retries: int | None,
    backoff: float | None,
    timeout: float | None,
) -> RetryPolicy:
    base = fs.policy if isinstance(fs, HTTPRangeFileSystem) else RetryPolicy()
    return RetryPolicy(
        base.retries if retries is None else retries,
        base.backoff if backoff is None else backoff,
        base.timeout if timeout is None else timeout,
    )


def _open_source(
    location: str,
    fs: AbstractFileSystem | None,
    policy: RetryPolicy,
    *,
    total: int | None = None,
    etag: str | None = None,
    shared: bool = False,
) -> _LocalSource | _HTTPSource | _FsspecSource:
    if fs is None:
        from sparkle_data.io.fs import resolve

        fs, location = resolve(location)
    if isinstance(fs, LocalFileSystem):
        return _LocalSource(location)
    if isinstance(fs, HTTPRangeFileSystem):
        session = _thread_session() if shared else None
        return _HTTPSource(location, policy=policy, total=total, etag=etag, session=session)
    from sparkle_data.io.fs import unresolve

    return _FsspecSource(fs, location, unresolve(fs, location))


def read_range(
    location: str | os.PathLike[str],
    offset: int,
    size: int,
    *,
    fs: AbstractFileSystem | None = None,
    retries: int | None = None,
    backoff: float | None = None,
    timeout: float | None = None,
    total: int | None = None,
) -> bytes:
    """Exactly ``size`` bytes of ``location`` starting at ``offset`` (one ranged read).

    ``location`` is a local path, an ``http(s)://`` URL or an ``hf://`` / fsspec URL; with
    ``fs`` it is a path inside that filesystem. ``total``, when known, is the file's size: an
    HTTP answer reporting another size raises :class:`IntegrityError`. Defaults:
    ``retries=5``, ``backoff=0.5`` s, ``timeout=30`` s (or the :class:`HTTPRangeFileSystem`'s).

    Raises :class:`RemoteError` after the retry budget, :class:`IntegrityError` when the file
    ends before ``offset + size``, ``FileNotFoundError`` when it does not exist.
    """
    if offset < 0 or size < 0:
        raise ValueError(f"Invalid byte range offset={offset}, size={size}: must be >= 0.")
    policy = _policy(fs, retries, backoff, timeout)
    source = _open_source(os.fspath(location), fs, policy, total=total, shared=True)
    try:
        if size == 0:
            return b""
        return _read_with_retries(source, offset, size, policy)
    finally:
        source.close()


def stat_remote(
    location: str,
    *,
    fs: AbstractFileSystem | None = None,
    retries: int | None = None,
    backoff: float | None = None,
    timeout: float | None = None,
) -> tuple[int, str | None]:
    """``(size, etag)`` of a file, with retries (HEAD for HTTP, ``info`` for fsspec)."""
    policy = _policy(fs, retries, backoff, timeout)
    source = _open_source(location, fs, policy)
    try:
        if isinstance(source, _HTTPSource):
            return source.stat()
        if isinstance(source, _FsspecSource):
            return source.stat(policy)
        st = os.fstat(source._fd)
        return st.st_size, None
    finally:
        source.close()


class RangeFile(io.RawIOBase):
    """A seekable, read-only file over a remote (or local) byte range, read by ranged requests.

    ``start``/``length`` restrict the file to a window of the underlying object (positions
    are relative to ``start``), which is how a tar member is handed to a reader without
    reading past it. Reads smaller than ``block_size`` fetch a whole block (read-ahead, never
    past the window); larger reads fetch exactly what is asked. Every fetch retries as
    :func:`read_range` does, so a reader never sees a transient network error, and a short
    answer raises :class:`IntegrityError` rather than returning fewer bytes than the window
    promises. Not thread-safe (like every file object): open one per thread.
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
        if start < 0 or (length is not None and length < 0) or block_size < 0:
            raise ValueError(
                f"Invalid window start={start}, length={length}, block_size={block_size}."
            )
        self._policy = _policy(fs, retries, backoff, timeout)
        self.location = os.fspath(location)
        self._source = _open_source(self.location, fs, self._policy, total=file_size, etag=etag)
        if length is None:
            if file_size is None:
                try:
                    file_size, etag = self._stat()
                except BaseException:
                    self._source.close()
                    raise
            length = max(0, file_size - start)
        self.start = start
        self.size = length
        self.file_size = file_size
        self.etag = etag
        self.block_size = block_size
        self._pos = 0
        self._buf = b""
        self._buf_start = 0

    def _stat(self) -> tuple[int, str | None]:
        src = self._source
        if isinstance(src, _HTTPSource):
            return src.stat()
        if isinstance(src, _FsspecSource):
            return src.stat(self._policy)
        return os.fstat(src._fd).st_size, None

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
            return _read_with_retries(self._source, self.start + pos, n, self._policy)
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
