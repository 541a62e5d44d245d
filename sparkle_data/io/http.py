"""HTTP(S) transport for ranged reads: urllib3 connection pools, one set per process.

* **Keep-alive**: every HTTP(S) read of a process goes through one urllib3 ``PoolManager``
  (thread-safe; up to :data:`POOL_SIZE` idle connections per origin, :data:`MAX_ORIGINS`
  origins), so consecutive members and shards on one host reuse a connection.
* **Fork safety**: a forked child (a DataLoader worker) inherits the parent's kept-alive
  sockets, and two processes talking over one connection read each other's answers. The
  pools are keyed by process id and forgotten in the child (``os.register_at_fork``); the
  parent keeps its own, the child opens new ones.
* **Proxies** come from the environment (``http_proxy`` / ``https_proxy`` / ``no_proxy``, as
  :func:`urllib.request.getproxies` reads them): ``http://`` URLs are forwarded through the
  proxy, ``https://`` ones tunnelled (``CONNECT``).
* **TLS** verifies certificates against the system trust store.
* **Redirects** (301, 302, 303, 307, 308; up to :data:`MAX_REDIRECTS`) are followed here,
  with the same method and headers (a ``Range`` stays a ``Range``). Where a redirect led is
  **remembered** per URL (the Hub's ``resolve`` URL -> its CDN URL) for
  :data:`REDIRECT_TTL` seconds, less when the redirect says ``Cache-Control: max-age`` or the
  target URL carries an ``Expires=`` timestamp (signed CDN URLs), never with ``no-store``.
  Later requests go straight to the target; a ``401``/``403``/``404``/``410``, another
  redirect or a transport error from it forgets the entry and resolves the original URL
  again (once). The target is remembered as soon as the redirect answers, and resolution is
  **single-flight** on hosts seen redirecting before: threads asking for a URL that another
  thread of the process is resolving wait for that answer (at most ``timeout``) instead of
  each asking the redirecting host (a read-ahead's first wave of requests would otherwise
  send one ``resolve`` per member). Hosts that never redirected are never waited on.
* **Timeouts**: ``timeout`` seconds for the connection and for each socket read.

Retrying is not done here (urllib3's own retries are off): :mod:`sparkle_data.io.retry` decides.
urllib3's exceptions are turned into built-in ones (:class:`TimeoutError`,
:class:`ConnectionError`, :class:`ssl.SSLCertVerificationError`) by :func:`transport_error`,
so error messages name no urllib3 class. One exception: a request sent on a kept-alive
connection that the server had already closed is sent again at once on a fresh connection
(that is not a failure of the server).
"""

from __future__ import annotations

import contextlib
import os
import re
import ssl
import threading
import time
import urllib.request
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import parse_qs, urljoin, urlsplit

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import HTTPError, ProtocolError
from urllib3.exceptions import TimeoutError as Urllib3Timeout

from sparkle_data._version import __version__
from sparkle_data.io.retry import final_error

__all__ = [
    "MAX_CACHED_REDIRECTS",
    "MAX_ORIGINS",
    "MAX_REDIRECTS",
    "POOL_SIZE",
    "REDIRECT_TTL",
    "USER_AGENT",
    "HTTPStatusError",
    "Response",
    "clear_redirects",
    "close_connections",
    "connections_opened",
    "finish",
    "proxy_for",
    "redirect_stats",
    "request",
    "transport_error",
]

USER_AGENT: Final = f"sparkle-data/{__version__}"
MAX_REDIRECTS: Final = 5
MAX_ORIGINS: Final = 8
"""Origins (scheme, host, port) whose pools are kept; the least recently used is dropped."""
POOL_SIZE: Final = 16
"""Idle keep-alive connections kept per origin (more may be open at once; extras are closed)."""
REDIRECT_TTL: Final = 300.0
"""Seconds a followed redirect is reused at most (the answer may ask for less)."""
MAX_CACHED_REDIRECTS: Final = 4096
"""Redirect targets remembered per process (the least recently used is dropped)."""
_REDIRECT_STATUSES: Final = frozenset({301, 302, 303, 307, 308})
_STALE_TARGET_STATUSES: Final = frozenset({401, 403, 404, 410})
_EXPIRY_MARGIN: Final = 30.0
_DRAIN_LIMIT: Final = 1 << 16

Response = urllib3.BaseHTTPResponse


class HTTPStatusError(OSError):
    """A retriable HTTP status (5xx, 408, 425, 429) answered to one request."""

    def __init__(self, status: int, reason: str, url: str) -> None:
        super().__init__(f"HTTP {status} {reason} from {url}")
        self.status = status


# --------------------------------------------------------------------------- connections


@dataclass
class _Opened:
    """Connections opened by this process, and whether the current request opened one."""

    count: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    local: threading.local = field(default_factory=threading.local)

    def note(self) -> None:
        with self.lock:
            self.count += 1
        self.local.connected = True


_OPENED = _Opened()


class _CountedHTTPConnection(HTTPConnection):
    def connect(self) -> None:
        super().connect()
        _OPENED.note()


class _CountedHTTPSConnection(HTTPSConnection):
    def connect(self) -> None:
        super().connect()
        _OPENED.note()


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _CountedHTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _CountedHTTPSConnection


@dataclass
class _Pools:
    """The pool managers of one process, by proxy URL (``""``: direct)."""

    pid: int = field(default_factory=os.getpid)
    lock: threading.Lock = field(default_factory=threading.Lock)
    managers: dict[str, urllib3.PoolManager] = field(default_factory=dict)


_POOLS = _Pools()


@dataclass
class _Redirects:
    """Where redirects led: original URL -> (target URL, monotonic expiry), and counters."""

    entries: OrderedDict[str, tuple[str, float]] = field(default_factory=OrderedDict)
    origins: set[str] = field(default_factory=set)
    """Origins (``scheme://host:port``) that answered a redirect: their URLs are resolved
    single-flight."""
    resolving: dict[str, threading.Event] = field(default_factory=dict)
    """URLs being resolved now, each with the event set once its target is known."""
    lock: threading.Lock = field(default_factory=threading.Lock)
    hits: int = 0
    resolved: int = 0
    dropped: int = 0
    waited: int = 0


_REDIRECTS = _Redirects()


def _forget_pools_in_child() -> None:
    """After ``fork``: drop (never close) the parent's connections; the child opens its own.
    Remembered redirects are kept (they are data, not sockets), under a fresh lock."""
    global _POOLS, _OPENED, _REDIRECTS
    _POOLS = _Pools()
    _OPENED = _Opened()
    _REDIRECTS = _Redirects(
        entries=OrderedDict(_REDIRECTS.entries), origins=set(_REDIRECTS.origins)
    )


os.register_at_fork(after_in_child=_forget_pools_in_child)


def _manager(proxy: str | None) -> urllib3.PoolManager:
    pools = _POOLS
    if pools.pid != os.getpid():  # a child made without the fork hook: same rule
        _forget_pools_in_child()
        pools = _POOLS
    key = proxy or ""
    with pools.lock:
        manager = pools.managers.get(key)
        if manager is None:
            manager = (
                urllib3.ProxyManager(proxy, num_pools=MAX_ORIGINS, maxsize=POOL_SIZE)
                if proxy
                else urllib3.PoolManager(num_pools=MAX_ORIGINS, maxsize=POOL_SIZE)
            )
            manager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}
            pools.managers[key] = manager
        return manager


def close_connections() -> None:
    """Close this process's idle keep-alive connections (busy ones close when released)."""
    pools = _POOLS
    with pools.lock:
        managers = list(pools.managers.values())
        pools.managers.clear()
    for manager in managers:
        manager.clear()


def connections_opened() -> int:
    """TCP connections this process has opened for HTTP(S) reads (a keep-alive measure)."""
    return _OPENED.count


def redirect_stats() -> dict[str, int]:
    """This process's redirect cache: ``hits`` (requests sent straight to a remembered
    target), ``resolved`` (redirect chains followed and remembered), ``dropped`` (targets
    forgotten after a 401/403/404/410 or a new redirect), ``waited`` (requests that waited
    for another thread resolving the same URL) and ``cached`` (entries now)."""
    r = _REDIRECTS
    with r.lock:
        return {
            "hits": r.hits,
            "resolved": r.resolved,
            "dropped": r.dropped,
            "waited": r.waited,
            "cached": len(r.entries),
        }


def clear_redirects() -> None:
    """Forget every remembered redirect target (and reset :func:`redirect_stats`)."""
    global _REDIRECTS
    _REDIRECTS = _Redirects()


def _cached_target(url: str) -> str | None:
    r = _REDIRECTS
    now = time.monotonic()
    with r.lock:
        found = r.entries.get(url)
        if found is None:
            return None
        if found[1] <= now:
            del r.entries[url]
            return None
        r.entries.move_to_end(url)
        r.hits += 1
        return found[0]


def _forget_target(url: str) -> None:
    r = _REDIRECTS
    with r.lock:
        if r.entries.pop(url, None) is not None:
            r.dropped += 1


def _redirect_lifetime(response: Response, target: str) -> float:
    """Seconds the redirect to ``target`` may be reused (0: not at all)."""
    ttl = REDIRECT_TTL
    control = (response.headers.get("Cache-Control") or "").lower()
    if "no-store" in control or "no-cache" in control or "private=" in control:
        return 0.0
    age = re.search(r"max-age\s*=\s*(\d+)", control)
    if age:
        ttl = min(ttl, float(age.group(1)))
    query = parse_qs(urlsplit(target).query)
    expires = (query.get("Expires") or query.get("expires") or [""])[0]
    if expires.isdigit():  # a signed CDN URL valid until this Unix time
        ttl = min(ttl, float(expires) - time.time() - _EXPIRY_MARGIN)
    return max(0.0, ttl)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _remember(url: str, target: str, lifetime: float, *, first_hop: bool) -> None:
    """Remember that ``url`` leads to ``target`` (each hop of a chain overwrites the last)
    and wake the threads waiting for ``url``."""
    r = _REDIRECTS
    with r.lock:
        if first_hop:
            r.origins.add(_origin(url))
        if lifetime > 0:
            r.entries[url] = (target, time.monotonic() + lifetime)
            r.entries.move_to_end(url)
            while len(r.entries) > MAX_CACHED_REDIRECTS:
                r.entries.popitem(last=False)
        event = r.resolving.get(url)
    if event is not None:
        event.set()


def _lead(url: str) -> threading.Event | None:
    """Claim the resolution of ``url`` when its host is known to redirect and no other
    thread is resolving it; the caller must pass the event to :func:`_done`."""
    r = _REDIRECTS
    with r.lock:
        if _origin(url) not in r.origins or url in r.resolving:
            return None
        event = r.resolving[url] = threading.Event()
        return event


def _done(url: str, event: threading.Event | None, *, redirected: bool, failed: bool) -> None:
    r = _REDIRECTS
    with r.lock:
        if failed:  # a chain that ended in an error is not reused
            r.entries.pop(url, None)
        elif redirected:
            r.resolved += 1
        if event is not None and r.resolving.get(url) is event:
            del r.resolving[url]
    if event is not None:
        event.set()


def _wait_for_other(url: str, timeout: float) -> None:
    """Wait (at most ``timeout``) while another thread resolves ``url``."""
    r = _REDIRECTS
    with r.lock:
        event = r.resolving.get(url)
        if event is None:
            return
        r.waited += 1
    event.wait(timeout)


def proxy_for(url: str) -> str | None:
    """The proxy URL the environment asks for ``url`` (``None``: connect directly)."""
    parts = urlsplit(url)
    proxy = urllib.request.getproxies().get(parts.scheme)
    if not proxy or urllib.request.proxy_bypass(parts.netloc):
        return None
    if "://" not in proxy:
        proxy = "http://" + proxy
    return proxy


# --------------------------------------------------------------------------- requests

_POOL_PREFIX: Final = re.compile(r"^\w+\(host=[^)]*\): ")


def transport_error(error: BaseException, url: str) -> BaseException:
    """A built-in exception for a urllib3 one (others are returned as they are).

    TLS certificate failures become :class:`ssl.SSLCertVerificationError` (final), timeouts
    :class:`TimeoutError`, everything else :class:`ConnectionError` (retriable).
    """
    if not isinstance(error, HTTPError):
        return error
    seen: BaseException | None = error
    for _ in range(8):  # urllib3 wraps: SSLError(SSLCertVerificationError), ProxyError(...)
        if seen is None:
            break
        if isinstance(seen, ssl.SSLCertVerificationError):
            return seen
        inner = [a for a in seen.args if isinstance(a, BaseException)]
        seen = inner[0] if inner else (seen.__cause__ or seen.__context__)
    text = _POOL_PREFIX.sub("", str(error)) or type(error).__name__
    if isinstance(error, Urllib3Timeout):
        return TimeoutError(f"{text} ({url})")
    return ConnectionError(f"{text} ({url})")


def _aborted_before_answer(error: ProtocolError) -> bool:
    causes = [a for a in error.args if isinstance(a, BaseException)]
    return any(
        isinstance(c, (ConnectionResetError, BrokenPipeError, ConnectionAbortedError))
        or type(c).__name__ == "RemoteDisconnected"
        for c in causes
    )


def _send(method: str, url: str, headers: dict[str, str], timeout: float) -> Response:
    manager = _manager(proxy_for(url))
    limits = urllib3.Timeout(connect=timeout, read=timeout)
    for fresh_try in (False, True):
        _OPENED.local.connected = False
        try:
            return manager.urlopen(
                method,
                url,
                headers=headers,
                redirect=False,
                retries=False,
                preload_content=False,
                decode_content=False,
                timeout=limits,
            )
        except ProtocolError as e:
            reused = not getattr(_OPENED.local, "connected", False)
            if reused and not fresh_try and _aborted_before_answer(e):
                continue  # a kept-alive connection the server had closed: one fresh try
            raise transport_error(e, url) from e
        except HTTPError as e:
            raise transport_error(e, url) from e
    raise AssertionError("unreachable")  # pragma: no cover


def finish(response: Response) -> None:
    """Done with ``response``: keep its connection alive when its rest is short, else close."""
    remaining = response.length_remaining
    if remaining is not None and remaining <= _DRAIN_LIMIT:
        try:
            response.drain_conn()
            response.release_conn()
            return
        except Exception:  # noqa: S110 (an unusable connection is closed below)
            pass
    with contextlib.suppress(Exception):
        response.close()
    with contextlib.suppress(Exception):
        response.release_conn()


def request(method: str, url: str, headers: dict[str, str], timeout: float) -> tuple[Response, str]:
    """Send one request, following redirects; returns ``(response, final url)``.

    A URL whose redirect was followed before is sent straight to the remembered target
    while it is valid (see the module docstring). The body is not read: the caller reads it
    (``response.read(n, decode_content=False)``) and then calls :func:`finish`.
    """
    target = _cached_target(url)
    if target is None:
        _wait_for_other(url, timeout)
        target = _cached_target(url)
    if target is not None:
        try:
            response = _send(method, target, headers, timeout)
        except OSError:  # the target host is gone or stalls: ask the original URL again
            _forget_target(url)
            return _follow(method, url, headers, timeout)
        status = response.status
        if status not in _STALE_TARGET_STATUSES and status not in _REDIRECT_STATUSES:
            return response, target
        finish(response)  # expired signature, moved file, ...: resolve the original again
        _forget_target(url)
    return _follow(method, url, headers, timeout)


def _follow(method: str, url: str, headers: dict[str, str], timeout: float) -> tuple[Response, str]:
    event = _lead(url)
    final, failed = url, True
    try:
        response, final = _follow_chain(method, url, headers, timeout)
        failed = response.status >= 300
        return response, final
    finally:
        _done(url, event, redirected=final != url, failed=failed)


def _follow_chain(
    method: str, url: str, headers: dict[str, str], timeout: float
) -> tuple[Response, str]:
    first = url
    lifetime = REDIRECT_TTL
    for _ in range(MAX_REDIRECTS + 1):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"Invalid URL {url!r}: only http:// and https:// are supported.")
        response = _send(method, url, headers, timeout)
        if response.status in _REDIRECT_STATUSES:
            location = response.headers.get("Location")
            if not location:
                return response, url
            finish(response)
            hop = url == first
            url = urljoin(url, location)
            lifetime = min(lifetime, _redirect_lifetime(response, url))
            _remember(first, url, lifetime, first_hop=hop)
            continue
        return response, url
    raise final_error(f"Too many redirects (> {MAX_REDIRECTS}) for {url}", url=url, offset=0)
