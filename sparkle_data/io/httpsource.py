"""Verified byte ranges of one HTTP(S) file: the :class:`HTTPSource` byte source.

Each :meth:`HTTPSource.fetch` is one ranged ``GET`` (through :mod:`sparkle_data.io.http`'s
kept-alive connections), checked before its body is used:

* the answer must be ``206`` with a ``Content-Range`` that starts at the asked offset; its
  total size, the ``Content-Length`` and the ``ETag`` must agree with what is already known
  about the file (a file that changes under a resumed read raises
  :class:`~sparkle_data.errors.IntegrityError`);
* a server that **ignores** ``Range`` (``200`` with the whole body) is accepted only for a read
  that starts at byte 0, whose first bytes are then exactly the asked range (the rest is not
  downloaded: the connection is closed). Anywhere else a ``200`` raises
  :class:`~sparkle_data.errors.RemoteError` at once: slicing would mean downloading everything
  before the offset (up to 5 GB for a shard), and a resumed read must get ``206``;
* ``416`` and a total smaller than the range raise :class:`IntegrityError`; ``404``/``410``
  ``FileNotFoundError``; 5xx, 408, 425, 429 and transport errors are retriable (a body cut
  short reports the bytes already received, so the read resumes from there).
"""

from __future__ import annotations

from typing import Final, TypeVar

from sparkle_data.errors import IntegrityError, SparkleError
from sparkle_data.io.http import (
    USER_AGENT,
    HTTPStatusError,
    Response,
    finish,
    request,
    transport_error,
)
from sparkle_data.io.retry import (
    RetryableError,
    RetryPolicy,
    final_error,
    is_retriable,
    retriable_status,
    with_retries,
)

__all__ = ["HTTPSource", "parse_content_range"]

_CHUNK: Final = 1 << 16
_T = TypeVar("_T")


def parse_content_range(value: str | None) -> tuple[int, int, int | None] | None:
    """``bytes a-b/total`` (total may be ``*``) -> ``(a, b, total)``; ``None`` if malformed."""
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


class HTTPSource:
    """One ``http(s)://`` file read by verified ranged requests (see the module docstring).

    ``total`` and ``etag``, when known (from an index), are checked against every answer;
    when unknown, the first answer's are remembered and later answers must agree.
    """

    def __init__(
        self,
        url: str,
        *,
        policy: RetryPolicy,
        total: int | None = None,
        etag: str | None = None,
    ) -> None:
        self.location = url
        self.policy = policy
        self.total = total
        self.etag = etag

    def _send(self, method: str, headers: dict[str, str]) -> tuple[Response, str]:
        try:
            return request(method, self.location, headers, self.policy.timeout)
        except SparkleError:
            raise
        except Exception as e:
            if is_retriable(e):
                raise RetryableError(0, e) from e
            raise

    def _check_etag(self, etag: str | None, start: int) -> None:
        self.etag = self._same(self.etag, etag, "ETag", "changed while it was read", start)

    def _check_total(self, total: int | None, start: int) -> None:
        self.total = self._same(self.total, total, "remote size", "has changed size", start)

    def _same(
        self, known: _T | None, found: _T | None, what: str, change: str, start: int
    ) -> _T | None:
        """``what`` after an answer that says ``found``: the first value seen (or the one
        given) is kept, and a later answer must agree."""
        if known is None or found is None:
            return found if known is None else known
        if found != known:
            raise IntegrityError.invalid(
                what,
                found,
                rule=f"the remote file {change} (expected {what} {known})",
                hint=f"Failed at byte {start}; rebuild indexes for the new file.",
                path=self.location,
            )
        return known

    def _short(self, start: int, want: int, total: int) -> IntegrityError:
        return IntegrityError.invalid(
            "byte range",
            f"{start}-{start + want - 1}",
            rule=f"the remote file has only {total} bytes (truncated or replaced?)",
            path=self.location,
        )

    def _body_length(self, resp: Response, url: str, start: int, want: int) -> int:
        """How many body bytes of ``resp`` are the asked range (raises if none are)."""
        status = resp.status
        headers = resp.headers
        asked = f"bytes={start}-{start + want - 1}"
        if status == 206:
            span = parse_content_range(headers.get("Content-Range"))
            if span is None or span[0] != start or span[1] >= start + want:
                raise final_error(
                    f"Server answered bytes {headers.get('Content-Range')!r} to "
                    f"'Range: {asked}' for {url}",
                    url=self.location,
                    offset=start,
                )
            n = span[1] - span[0] + 1
            self._check_total(span[2], start)
            if span[2] is not None and span[2] < start + want:
                raise self._short(start, want, span[2])
            length = headers.get("Content-Length")
            if length is not None and length.strip() != str(n):
                raise final_error(
                    f"Content-Length {length} disagrees with Content-Range "
                    f"{headers.get('Content-Range')} from {url}",
                    url=self.location,
                    offset=start,
                )
            return n
        if status == 200:
            length = headers.get("Content-Length")
            full = int(length) if length and length.strip().isdigit() else None
            if start != 0:
                raise final_error(
                    f"Server ignored 'Range: bytes={start}-' (answered 200 with the whole "
                    f"file instead of 206) for {url}; refusing to download {start} bytes "
                    "to skip them. Use a server that supports range requests.",
                    url=self.location,
                    offset=start,
                )
            self._check_total(full, start)
            if full is not None and full < want:
                raise self._short(start, want, full)
            return want
        if status == 416:
            raise IntegrityError.invalid(
                "byte range",
                f"{start}-{start + want - 1}",
                rule="not satisfiable: the remote file is shorter than the range "
                f"({headers.get('Content-Range') or 'size unknown'})",
                path=self.location,
            )
        if status in (404, 410):
            raise FileNotFoundError(f"HTTP {status} {resp.reason}: {url}")
        if retriable_status(status):
            raise RetryableError(0, HTTPStatusError(status, resp.reason or "", url))
        raise final_error(f"HTTP {status} {resp.reason} for {url}", url=self.location, offset=start)

    def fetch(self, start: int, out: memoryview) -> int:
        """One ranged ``GET`` of ``len(out)`` bytes at ``start`` into ``out``."""
        want = len(out)
        headers = {
            "Range": f"bytes={start}-{start + want - 1}",
            "Accept-Encoding": "identity",
            "User-Agent": USER_AGENT,
        }
        resp, url = self._send("GET", headers)
        done = 0
        complete = False
        try:
            n = self._body_length(resp, url, start, want)
            encoding = resp.headers.get("Content-Encoding")
            if encoding and encoding.lower() != "identity":
                raise final_error(
                    f"Server sent Content-Encoding {encoding!r} for a byte range of {url}",
                    url=self.location,
                    offset=start,
                )
            self._check_etag(resp.headers.get("ETag"), start)
            while done < n:
                try:
                    chunk = resp.read(min(_CHUNK, n - done), decode_content=False)
                except Exception as e:
                    raise transport_error(e, url) from e
                if not chunk:
                    raise RetryableError(
                        done,
                        ConnectionError(
                            f"connection closed after {done} of {n} body bytes from {url}"
                        ),
                    )
                out[done : done + len(chunk)] = chunk
                done += len(chunk)
            complete = resp.status == 206
            return done
        except (SparkleError, FileNotFoundError, RetryableError):
            raise
        except Exception as e:
            if is_retriable(e):
                raise RetryableError(done, e) from e
            raise
        finally:
            if complete:
                finish(resp)  # the body was read whole: keep the connection alive
            else:
                resp.close()  # never reuse a connection in an unknown state
                resp.release_conn()

    def stat(self) -> tuple[int, str | None]:
        """``(size, etag)`` by ``HEAD``, falling back to ``GET bytes=0-0``; retried."""

        def head() -> tuple[int, str | None]:
            headers = {"Accept-Encoding": "identity", "User-Agent": USER_AGENT}
            resp, url = self._send("HEAD", headers)
            finish(resp)
            length = resp.headers.get("Content-Length")
            if resp.status == 200 and length and length.strip().isdigit():
                return int(length), resp.headers.get("ETag")
            if resp.status in (404, 410):
                raise FileNotFoundError(f"HTTP {resp.status} {resp.reason}: {url}")
            if retriable_status(resp.status):
                raise RetryableError(0, HTTPStatusError(resp.status, resp.reason or "", url))
            return -1, None

        size, etag = with_retries(head, self.policy, url=self.location, offset=0)
        if size < 0:  # HEAD refused or without length: ask for one byte
            one = bytearray(1)
            with_retries(
                lambda: self.fetch(0, memoryview(one)), self.policy, url=self.location, offset=0
            )
            if self.total is None:
                raise final_error(
                    f"Cannot determine the size of {self.location}: no Content-Length or "
                    "Content-Range total",
                    url=self.location,
                    offset=0,
                )
            size, etag = self.total, self.etag
        self.total, self.etag = size, etag
        return size, etag

    def close(self) -> None:
        """Nothing to close: connections belong to the process's pool."""
