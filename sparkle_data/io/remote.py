"""Byte-range reads from local, HTTP(S), ``hf://`` and other fsspec files, with retries.

This module is the documented entry point; the work is done by one module per job:

* :mod:`sparkle_data.io.retry`: :class:`RetryPolicy`, backoff, resume-from-offset loops and
  the classification of retriable errors;
* :mod:`sparkle_data.io.http`: the HTTP(S) transport (urllib3 keep-alive pools per process,
  fork safety, proxies from the environment, TLS, redirects, timeouts);
* :mod:`sparkle_data.io.httpsource`: verified ranged ``GET`` s (``206``, ``Content-Range``,
  ``ETag`` and size consistency);
* :mod:`sparkle_data.io.source`: byte sources (local, HTTP(S), fsspec, open files),
  :func:`read_range` and :func:`stat_remote`;
* :mod:`sparkle_data.io.rangefile`: :class:`RangeFile`, a seekable window over a source;
* :mod:`sparkle_data.io.httpfs`: :class:`HTTPRangeFileSystem`, the fsspec filesystem for
  ``http(s)://`` roots.

Every remote call has a timeout and is retried with exponential backoff; a dropped
connection is resumed from the byte offset already received; after the budget,
:class:`~sparkle_data.errors.RemoteError` carries ``url``, ``offset`` and ``attempts``.
See ``docs/io.md`` for the whole contract.
"""

from __future__ import annotations

from sparkle_data.io.http import close_connections
from sparkle_data.io.httpfs import HTTPRangeFileSystem
from sparkle_data.io.rangefile import DEFAULT_BLOCK_SIZE, RangeFile
from sparkle_data.io.retry import (
    DEFAULT_BACKOFF,
    DEFAULT_RETRIES,
    DEFAULT_TIMEOUT,
    RetryPolicy,
    call_with_retries,
    is_retriable,
)
from sparkle_data.io.source import read_range, stat_remote

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
