"""A loopback fake Hugging Face Hub, for testing ``hf://`` pipelines without the internet.

:class:`FakeHub` holds repositories (commits, branches, tags, LFS objects) in memory;
:func:`serve_fake_hub` serves it on ``127.0.0.1`` (random port, background threads) with the
subset of the Hub HTTP API that ``huggingface_hub`` uses to read and to push: repo info,
``tree`` (recursive, ``expand``, ``Link`` pagination), ``paths-info``, refs, commits, the
``resolve`` file URLs (``HEAD``/``GET``, byte ranges, ``ETag``/``X-Repo-Commit``/
``X-Linked-*`` headers, optional CDN redirect), ``create_repo``, branches, tags, and uploads
(``preupload``, the Git LFS batch API with basic and multipart transfers, NDJSON ``commit``).
The real client is pointed at it, so ``HfFileSystem``, ``hf_hub_download``, ``HfApi`` and
``hf://`` paths run end to end::

    from huggingface_hub import HfFileSystem
    from sparkle_data.testing import make_sample_tree
    from sparkle_data.testing.hub import FakeHub, serve_fake_hub

    summary = make_sample_tree(tmp_path, preset="tiny")
    hub = FakeHub.from_directory(summary.root, repo_id="stdKonjac/Sparkle")
    with serve_fake_hub(hub):  # also points huggingface_hub at it (see patch_endpoint)
        fs = HfFileSystem()
        fs.ls("datasets/stdKonjac/Sparkle")
        assert hub.count("resolve") == 0

Faults (:class:`HubFaults`) break file transfers on purpose; ``hub.requests`` records every
request for assertions. See ``docs/testing.md``. The parts: the repositories
(``_hub_repos``, over the git-like objects of ``_hub_store``), the server and its read and
write routes (``_hub_server``, ``_hub_read``, ``_hub_write``), the plumbing shared with
:mod:`sparkle_data.testing.http` (``_loopback``) and the client patching (``_hub_client``).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import quote

from sparkle_data.testing._hub_http import HubFaults, HubRequest, HubResponse, Route
from sparkle_data.testing._hub_repos import (
    DEFAULT_LFS_PATTERNS,
    FileContent,
    HubRepos,
    check_repo_type,
)
from sparkle_data.testing._hub_server import serve_hub
from sparkle_data.testing._hub_store import URL_PREFIXES, HubError
from sparkle_data.testing._loopback import RecordedServer
from sparkle_data.testing.faults import BodyPlan, FaultInjector

__all__ = [
    "DEFAULT_LFS_PATTERNS",
    "DEFAULT_TOKEN",
    "FakeHub",
    "FileContent",
    "HubError",
    "HubFaults",
    "HubRequest",
    "serve_fake_hub",
]

DEFAULT_TOKEN = "hf_sparkle_fake_hub_token"  # noqa: S105 - a dummy, accepted only by FakeHub
"""The token :meth:`FakeHub.patch_endpoint` hands the client (never a real one)."""


class FakeHub(HubRepos, RecordedServer[HubRequest]):
    """In-memory repositories (:class:`HubRepos`: ``add_repo``, ``commit``, ``add_directory``,
    ``create_branch``, ``tag``, ``read``, ...) served by :func:`serve_fake_hub`.

    ``lfs_threshold`` and ``lfs_patterns`` decide which files are LFS (size at least the
    threshold, or a matching name); ``token`` is the only token accepted for writes and
    private repos (``None``: no authentication at all); ``redirect_lfs`` answers LFS
    ``resolve`` requests with a ``302`` to a second loopback port (the "CDN"), like the Hub;
    ``multipart_chunk_size`` makes the LFS batch API ask for multipart uploads of larger
    objects; ``tree_page_size`` (``tree_page_size_expand`` with ``expand=True``) sets the
    listing page size (the Hub uses 1000 and 50).
    """

    def __init__(
        self,
        *,
        lfs_threshold: int = 10 * 1024 * 1024,
        lfs_patterns: Iterable[str] = DEFAULT_LFS_PATTERNS,
        token: str | None = DEFAULT_TOKEN,
        user: str = "sparkle-tester",
        redirect_lfs: bool = False,
        multipart_chunk_size: int | None = None,
        tree_page_size: int = 1000,
        tree_page_size_expand: int = 50,
        faults: HubFaults | None = None,
    ) -> None:
        if tree_page_size < 1 or tree_page_size_expand < 1:
            raise ValueError("tree page sizes must be >= 1")
        if multipart_chunk_size is not None and multipart_chunk_size < 1:
            raise ValueError("multipart_chunk_size must be >= 1")
        super().__init__(lfs_threshold=lfs_threshold, lfs_patterns=lfs_patterns)
        self.token = token
        self.user = user
        self.redirect_lfs = redirect_lfs
        self.multipart_chunk_size = multipart_chunk_size
        self.tree_page_size = tree_page_size
        self.tree_page_size_expand = tree_page_size_expand
        self.injector = FaultInjector(faults or HubFaults())
        """Applies :attr:`faults` to requests and file bodies."""
        self.requests: list[HubRequest] = []
        self._endpoint: str | None = None
        self._cdn_endpoint: str | None = None

    def __repr__(self) -> str:
        where = self._endpoint or "not serving"
        return f"FakeHub({where}, repos={sorted(r.label for r in self.repo_table.values())})"

    # ------------------------------------------------------------------ serving

    @property
    def endpoint(self) -> str:
        """Base URL (``http://127.0.0.1:{port}``) while served by :func:`serve_fake_hub`."""
        if self._endpoint is None:
            raise RuntimeError("This FakeHub is not being served: use serve_fake_hub(hub)")
        return self._endpoint

    @property
    def cdn_endpoint(self) -> str:
        """Base URL of the "CDN" listener that ``redirect_lfs`` sends LFS downloads to."""
        if self._cdn_endpoint is None:
            raise RuntimeError("This FakeHub is not being served: use serve_fake_hub(hub)")
        return self._cdn_endpoint

    def client_env(self) -> dict[str, str]:
        """Environment for a *subprocess* that must use this hub: ``HF_ENDPOINT``, offline
        mode and telemetry off, Xet off, ``HF_TOKEN`` = :attr:`token`. Merge it into
        ``os.environ`` (``{**os.environ, **hub.client_env()}``); in this process use
        :meth:`patch_endpoint`, since ``huggingface_hub`` reads these at import."""
        from sparkle_data.testing._hub_client import client_env

        return client_env(self.endpoint, self.token)

    @contextlib.contextmanager
    def patch_endpoint(self) -> Iterator[FakeHub]:
        """Point this process's ``huggingface_hub`` (and ``datasets``) at this hub.

        Sets :meth:`client_env` in ``os.environ`` and patches the values ``huggingface_hub``
        computed from it at import (``constants.ENDPOINT``, the ``resolve`` URL template,
        the trusted hosts, ``HF_HUB_OFFLINE``, telemetry, Xet, the default ``HfApi``), closes
        the shared HTTP client and clears cached ``HfFileSystem`` instances; all undone on
        exit. Process-wide: do not serve two patched hubs at once.
        """
        from sparkle_data.testing._hub_client import patched_client

        with patched_client(self.endpoint, self.token):
            yield self

    def url(
        self,
        repo_id: str,
        path: str,
        *,
        revision: str = "main",
        repo_type: str = "dataset",
    ) -> str:
        """The ``resolve`` URL of a file (what ``hf_hub_url`` builds)."""
        prefix = URL_PREFIXES[check_repo_type(repo_type)]
        return f"{self.endpoint}/{prefix}{repo_id}/resolve/{quote(revision, safe='')}/{quote(path)}"

    # ------------------------------------------------------------------ request log and faults

    def count(self, kind: str | None = None, method: str | None = None) -> int:
        """Requests received so far (of one kind and/or method, or all)."""
        with self.lock:
            return sum(
                1
                for r in self.requests
                if (kind is None or r.kind == kind) and (method is None or r.method == method)
            )

    def requests_of(self, kind: str) -> list[HubRequest]:
        """The recorded requests of one kind, oldest first."""
        with self.lock:
            return [r for r in self.requests if r.kind == kind]

    def fault_response(self, route: Route) -> HubResponse | None:
        """The injected failure answering this request (after its latency), or ``None``."""
        status = self.injector.before(route.kind, route.file)
        if status is None:
            return None
        return HubResponse(status, {"Content-Type": "text/plain"}, b"injected failure")

    def range_ignored(self, kind: str, path: str) -> bool:
        """Whether this file answer ignores the ``Range`` header."""
        return self.injector.range_ignored(kind, path)

    def body_plan(self, route: Route) -> BodyPlan:
        """What happens to this file body (cut, stall, flipped bit; counted now)."""
        return self.injector.plan(route.kind, route.file)

    # ------------------------------------------------------------------ repositories

    @classmethod
    def from_directory(
        cls,
        root: str | os.PathLike[str],
        repo_id: str = "stdKonjac/Sparkle",
        *,
        repo_type: str = "dataset",
        message: str | None = None,
        **options: Any,
    ) -> FakeHub:
        """A new hub (``options`` go to :class:`FakeHub`) holding ``root`` as one commit on
        ``main`` of ``repo_id`` (e.g. the ``summary.root`` of ``make_sample_tree``)."""
        hub = cls(**options)
        hub.add_directory(root, repo_id, message=message, repo_type=repo_type)
        return hub


@contextlib.contextmanager
def serve_fake_hub(
    hub: FakeHub | None = None,
    *,
    configure_client: bool = True,
    **options: Any,
) -> Iterator[FakeHub]:
    """Serve ``hub`` (default: a new empty ``FakeHub(**options)``) on ``127.0.0.1`` until the
    block exits, and yield it (``hub.endpoint`` is its base URL).

    With ``configure_client`` (default) the block runs inside :meth:`FakeHub.patch_endpoint`,
    so ``HfFileSystem()``, ``hf_hub_download``, ``HfApi()`` and ``hf://`` paths reach it.
    """
    if hub is None:
        hub = FakeHub(**options)
    elif options:
        raise TypeError("Pass FakeHub options to FakeHub(...), not with an existing hub")
    if hub._endpoint is not None:
        raise RuntimeError("This FakeHub is already being served")
    try:
        with contextlib.ExitStack() as stack:
            hub._endpoint = stack.enter_context(serve_hub(hub, cdn=False))
            hub._cdn_endpoint = stack.enter_context(serve_hub(hub, cdn=True))
            if configure_client:
                stack.enter_context(hub.patch_endpoint())
            yield hub
    finally:
        hub._endpoint = hub._cdn_endpoint = None
