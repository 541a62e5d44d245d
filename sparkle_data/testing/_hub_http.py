"""What a fake Hub request and its answer are: routing facts, responses, the request log.

Shared by the server (``_hub_server``), its routes (``_hub_read``, ``_hub_write``) and
:class:`sparkle_data.testing.hub.FakeHub` (which records :class:`HubRequest` s and applies
:class:`HubFaults`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sparkle_data.testing._hub_store import Blob, HubError
from sparkle_data.testing.faults import Faults

__all__ = [
    "CDN_PREFIX",
    "LFS_PREFIX",
    "ApiRequest",
    "HubFaults",
    "HubRequest",
    "HubResponse",
    "JSONValue",
    "Route",
    "error_response",
    "json_response",
    "query_flag",
]

JSONValue = Any
CDN_PREFIX = "__cdn__"
"""First path segment of the "CDN" listener's blob URLs."""
LFS_PREFIX = "__lfs__"
"""First path segment of the LFS upload URLs (the "S3")."""


@dataclass
class HubFaults(Faults):
    """What the fake Hub does wrong: :class:`sparkle_data.testing.faults.Faults` (the
    mechanism shared with the plain loopback server: failures, cut bodies, stalls, flipped
    bits, latency), matching file transfers (``resolve`` and ``cdn``) by default. Read at each
    request; counters are per hub (:meth:`FakeHub.reset` clears them)."""

    kinds: tuple[str, ...] = ("resolve", "cdn")
    """Request kinds (see :attr:`HubRequest.kind`; ``fnmatch`` patterns, ``"*"`` for all)."""


@dataclass(frozen=True, slots=True)
class HubRequest:
    """One request the fake Hub answered."""

    method: str
    path: str
    """URL path as sent (percent-encoded, no query)."""
    query: str
    """Query string as sent (``recursive=true&expand=false&cursor=1000``)."""
    kind: str
    """``repo-info``, ``tree``, ``paths-info``, ``refs``, ``commits``, ``resolve``, ``cdn``,
    ``preupload``, ``lfs-batch``, ``lfs-upload``, ``lfs-part``, ``lfs-complete``, ``commit``,
    ``create-repo``, ``delete-repo``, ``branch``, ``tag``, ``whoami`` or ``unknown``."""
    repo: str | None
    """``datasets/{repo_id}`` (``{repo_id}`` for models), when the request names a repo."""
    revision: str | None
    file: str | None
    """Path in the repo (``resolve``, ``tree``), the LFS oid (uploads, ``cdn``)."""
    range: str | None
    """The ``Range`` header, if any."""
    status: int
    headers: Mapping[str, str] = field(repr=False)
    """Request headers (lower-cased names)."""


@dataclass
class ApiRequest:
    """One HTTP request, as the routes see it."""

    method: str
    path: str
    """Path part of the URL, as received (still percent-encoded)."""
    segments: list[str]
    """``path`` split on ``/`` then decoded segment by segment."""
    query: dict[str, list[str]]
    headers: dict[str, str]
    """Lower-cased names."""
    body: bytes
    on_cdn: bool


@dataclass
class HubResponse:
    """The answer to one request (a JSON or empty body, or a span of a blob)."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    blob: tuple[Blob, int, int] | None = None
    """Stream ``blob`` bytes ``first..last`` (inclusive) instead of ``body``."""


@dataclass
class Route:
    """What a request is about (filled while routing; recorded in ``hub.requests``)."""

    kind: str = "unknown"
    repo: str | None = None
    revision: str | None = None
    file: str | None = None


def json_response(status: int, payload: JSONValue, **headers: str) -> HubResponse:
    """A JSON answer."""
    body = json.dumps(payload).encode()
    return HubResponse(status, {"Content-Type": "application/json", **headers}, body)


def query_flag(values: dict[str, list[str]], name: str) -> bool:
    """Whether a query (or form) flag is on (``1``, ``true``, ``yes``)."""
    got = values.get(name) or [""]
    return got[-1].strip().lower() in ("1", "true", "yes")


def error_response(e: HubError) -> HubResponse:
    """The Hub's answer to an API error (``X-Error-Code``, ``X-Error-Message``)."""
    headers = {"X-Error-Message": e.message.replace("\n", " ")[:500], **e.headers}
    if e.code:
        headers["X-Error-Code"] = e.code
    if e.commit:
        headers["X-Repo-Commit"] = e.commit
    return json_response(e.status, {"error": e.message}, **headers)
