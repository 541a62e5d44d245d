"""The retry policy of remote reads, and the loops that apply it.

Retries live here, at the byte level, and nowhere else:

* a failed call is retried with exponential backoff (``backoff * 2**k`` seconds, jittered,
  capped at 30 s);
* ``retries`` bounds the number of *consecutive failures that received no new byte*
  (:func:`read_exactly`), so a connection that drops mid-body is resumed from the byte offset
  already received and the budget only runs out when the source stops making progress;
* after the budget, :class:`~sparkle_data.errors.RemoteError` carries ``url``, ``offset`` (the
  absolute byte the read was stuck at) and ``attempts`` (requests made by this read).

A :class:`ByteSource` makes one attempt at a time and says which failures are worth retrying by
raising :class:`RetryableError`; everything else it raises is final.
"""

from __future__ import annotations

import http.client
import random
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Protocol, TypeVar

from sparkle_data.errors import RemoteError, SparkleError

__all__ = [
    "DEFAULT_BACKOFF",
    "DEFAULT_RETRIES",
    "DEFAULT_TIMEOUT",
    "MAX_BACKOFF",
    "ByteSource",
    "RetryPolicy",
    "RetryableError",
    "call_with_retries",
    "exhausted_error",
    "final_error",
    "is_retriable",
    "public_name",
    "read_exactly",
    "retriable_status",
    "with_retries",
]

DEFAULT_RETRIES: Final = 5
DEFAULT_BACKOFF: Final = 0.5
DEFAULT_TIMEOUT: Final = 30.0
MAX_BACKOFF: Final = 30.0
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard a remote call is tried. ``retries=0`` means one attempt and no retry.

    ``timeout`` (seconds) bounds the connection and each socket read of one HTTP(S) attempt.
    """

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

    def override(
        self,
        retries: int | None = None,
        backoff: float | None = None,
        timeout: float | None = None,
    ) -> RetryPolicy:
        """This policy with the given fields replaced (``None`` keeps the field)."""
        return RetryPolicy(
            self.retries if retries is None else retries,
            self.backoff if backoff is None else backoff,
            self.timeout if timeout is None else timeout,
        )


class RetryableError(Exception):
    """One attempt failed in a way worth retrying, after writing ``done`` bytes.

    Raised by byte sources and caught by the retry loops of this module; never reaches a
    caller (the loops raise :class:`RemoteError` with ``cause`` once the budget is spent).
    """

    def __init__(self, done: int, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.done = done
        self.cause = cause


def public_name(error: BaseException) -> str:
    """The name of the first public class of ``error`` (never ``_Private``), for messages."""
    for cls in type(error).__mro__:
        if not cls.__name__.startswith("_"):
            return cls.__name__
    return "Exception"  # pragma: no cover - object is public


def exhausted_error(url: str, offset: int, attempts: int, cause: BaseException) -> RemoteError:
    """The :class:`RemoteError` raised when the retry budget is spent."""
    name = public_name(cause)
    text = str(cause) or name
    return RemoteError(
        RemoteError.describe(url, offset, attempts, f"{name}: {text}"),
        url=url,
        offset=offset,
        attempts=attempts,
        path=url,
    )


def final_error(message: str, *, url: str, offset: int, attempts: int = 1) -> RemoteError:
    """A :class:`RemoteError` that retrying cannot fix (protocol violation, 4xx)."""
    return RemoteError(message, url=url, offset=offset, attempts=attempts, path=url)


def with_retries(call: Callable[[], _T], policy: RetryPolicy, *, url: str, offset: int) -> _T:
    """Run ``call`` until it returns; :class:`RetryableError` is retried (no progress kept)."""
    attempts = 0
    while True:
        attempts += 1
        try:
            return call()
        except RetryableError as e:
            if attempts > policy.retries:
                raise exhausted_error(url, offset, attempts, e.cause) from e.cause
            time.sleep(policy.delay(attempts))


def call_with_retries(call: Callable[[], _T], *, url: str, policy: RetryPolicy | None = None) -> _T:
    """Run a remote metadata call (``fs.info``, ...) with the retry policy of this module."""

    def attempt() -> _T:
        try:
            return call()
        except Exception as e:
            if is_retriable(e):
                raise RetryableError(0, e) from e
            raise

    return with_retries(attempt, policy or RetryPolicy(), url=url, offset=0)


class ByteSource(Protocol):
    """One file that can be read by ranges, one attempt at a time."""

    location: str

    def fetch(self, start: int, out: memoryview) -> int:
        """Write up to ``len(out)`` bytes read at ``start`` into ``out`` and return how many
        (>= 1). Raise :class:`RetryableError` for a failure worth retrying, anything else
        for a final one."""
        ...

    def stat(self) -> tuple[int, str | None]:
        """``(size, etag)`` of the file (retried where the source is remote)."""
        ...

    def close(self) -> None: ...


def read_exactly(source: ByteSource, offset: int, size: int, policy: RetryPolicy) -> bytes:
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
        except RetryableError as e:
            got += e.done
            if e.done:  # progress: resume at once, the budget starts over
                failures = 0
                continue
            failures += 1
            if failures > policy.retries:
                raise exhausted_error(source.location, offset + got, attempts, e.cause) from e.cause
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


def retriable_status(status: int) -> bool:
    """Whether an HTTP status is worth retrying (408, 425, 429, 5xx)."""
    return status in (408, 425, 429) or status >= 500


def is_retriable(error: BaseException) -> bool:
    """Whether retrying a failed remote call could help (transport errors, 5xx, 408, 429)."""
    if isinstance(error, (SparkleError, *_FINAL_OS_ERRORS)):
        return False
    status = getattr(getattr(error, "response", None), "status_code", None)
    if isinstance(status, int):
        return retriable_status(status)
    return isinstance(error, _TRANSPORT_ERRORS)
