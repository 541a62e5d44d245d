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
request for assertions. See ``docs/testing.md``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias
from urllib.parse import quote

from sparkle_data.testing._hub_store import (
    URL_PREFIXES,
    Blob,
    Commit,
    FileEntry,
    HubError,
    Repo,
    validate_repo_path,
)
from sparkle_data.testing.faults import BodyPlan, FaultInjector, Faults

if TYPE_CHECKING:
    from sparkle_data.testing._hub_server import HubHTTPServer, HubResponse, Route

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

DEFAULT_LFS_PATTERNS: tuple[str, ...] = (
    "*.tar",
    "*.tar.*",
    "*.tgz",
    "*.zip",
    "*.gz",
    "*.zst",
    "*.xz",
    "*.7z",
    "*.npz",
    "*.npy",
    "*.parquet",
    "*.arrow",
    "*.bin",
    "*.pt",
    "*.pth",
    "*.safetensors",
    "*.pkl",
    "*.pickle",
    "*.h5",
    "*.mp4",
    "*.webm",
    "*.mkv",
    "*.avi",
    "*.mov",
    "*.png",
    "*.jpg",
    "*.jpeg",
    "*.webp",
    "*.gif",
    "*.wav",
    "*.mp3",
)
"""Paths stored through Git LFS whatever their size (as a Hub ``.gitattributes`` would)."""

FileContent: TypeAlias = "bytes | bytearray | memoryview | os.PathLike[str]"
"""A file to commit: bytes (kept in memory) or a local path (hashed now, read when served)."""


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


class FakeHub:
    """In-memory repositories served by :func:`serve_fake_hub`.

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
        self.lfs_threshold = lfs_threshold
        self.lfs_patterns = tuple(lfs_patterns)
        self.token = token
        self.user = user
        self.redirect_lfs = redirect_lfs
        self.multipart_chunk_size = multipart_chunk_size
        self.tree_page_size = tree_page_size
        self.tree_page_size_expand = tree_page_size_expand
        self.injector = FaultInjector(faults or HubFaults())
        """Applies :attr:`faults` to requests and file bodies."""
        self.requests: list[HubRequest] = []
        self.lock = threading.RLock()
        """Guards the repositories, LFS objects and request log (the server takes it)."""
        self.repo_table: dict[tuple[str, str], Repo] = {}
        """Repositories by ``(repo type, repo id)``; read and changed under :attr:`lock`."""
        self._lfs: dict[str, Blob] = {}
        self.upload_parts: dict[tuple[str, int], bytes] = {}
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
        prefix = URL_PREFIXES[_check_type(repo_type)]
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

    def reset(self, faults: HubFaults | None = None) -> None:
        """Forget recorded requests and fault counters (and optionally replace the faults)."""
        with self.lock:
            self.requests.clear()
        self.injector.reset(faults)

    @property
    def faults(self) -> Faults:
        """The faults in force (assign to replace them)."""
        return self.injector.faults

    @faults.setter
    def faults(self, value: Faults) -> None:
        self.injector.faults = value

    def fault_response(self, route: Route) -> HubResponse | None:
        """The injected failure answering this request (after its latency), or ``None``."""
        status = self.injector.before(route.kind, route.file)
        if status is None:
            return None
        from sparkle_data.testing._hub_server import HubResponse

        return HubResponse(status, {"Content-Type": "text/plain"}, b"injected failure")

    def range_ignored(self, kind: str, path: str) -> bool:
        """Whether this file answer ignores the ``Range`` header."""
        return self.injector.range_ignored(kind, path)

    def body_plan(self, route: Route) -> BodyPlan:
        """What happens to this file body (cut, stall, flipped bit; counted now)."""
        return self.injector.plan(route.kind, route.file)

    def record(
        self,
        method: str,
        path: str,
        query: str,
        route: Route,
        headers: Mapping[str, str],
        status: int,
    ) -> None:
        rec = HubRequest(
            method,
            path,
            query,
            route.kind,
            route.repo,
            route.revision,
            route.file,
            headers.get("range"),
            status,
            dict(headers),
        )
        with self.lock:
            self.requests.append(rec)

    # ------------------------------------------------------------------ repositories

    def is_lfs(self, path: str, size: int) -> bool:
        """Whether a file of this path and size is stored through LFS (empty files never)."""
        if size <= 0:
            return False
        if size >= self.lfs_threshold:
            return True
        name = path.rsplit("/", 1)[-1]
        return any(fnmatchcase(path if "/" in p else name, p) for p in self.lfs_patterns)

    def _repo(self, repo_id: str, repo_type: str) -> Repo:
        repo = self.repo_table.get((_check_type(repo_type), repo_id))
        if repo is None:
            raise KeyError(f"No {repo_type} repo {repo_id!r} on this FakeHub")
        return repo

    def add_repo(
        self,
        repo_id: str,
        repo_type: str = "dataset",
        *,
        private: bool = False,
        exist_ok: bool = False,
    ) -> str:
        """Create a repo with an empty ``initial commit`` on ``main``; returns its sha.

        (The real Hub's first commit adds a ``.gitattributes``; this one adds nothing, so
        listings hold only what you commit.)
        """
        _check_type(repo_type)
        if repo_id.count("/") != 1 or not all(repo_id.split("/")):
            raise ValueError(f"repo_id must be 'namespace/name', got {repo_id!r}")
        with self.lock:
            existing = self.repo_table.get((repo_type, repo_id))
            if existing is not None:
                if not exist_ok:
                    raise ValueError(f"{existing.label} already exists")
                return existing.branches.get("main") or next(iter(existing.commits))
            repo = Repo(repo_type, repo_id, private=private)
            first = repo.add(Commit.create({}, parent=None, title="initial commit"))
            repo.branches["main"] = first.oid
            self.repo_table[(repo_type, repo_id)] = repo
            return first.oid

    def repos(self) -> list[str]:
        """``datasets/{id}`` (``{id}`` for models) of every repo."""
        with self.lock:
            return sorted(r.label for r in self.repo_table.values())

    def commit(
        self,
        repo_id: str,
        files: Mapping[str, FileContent] | None = None,
        *,
        message: str = "Upload files",
        description: str = "",
        revision: str = "main",
        delete: Iterable[str] = (),
        repo_type: str = "dataset",
        lfs: bool | None = None,
        create_repo: bool = True,
    ) -> str:
        """Commit ``files`` (path in repo -> content) and ``delete`` (files or folders) on
        branch ``revision``; returns the new commit sha (40 hex, deterministic).

        ``lfs`` forces every added file in or out of LFS (default: :meth:`is_lfs`). The repo
        is created first if missing (``create_repo``).
        """
        if create_repo:
            self.add_repo(repo_id, repo_type, exist_ok=True)
        changes: dict[str, FileEntry | None] = {}
        for path, content in (files or {}).items():
            validate_repo_path(path)
            blob = _blob(content)
            use_lfs = self.is_lfs(path, blob.size) if lfs is None else lfs and blob.size > 0
            changes[path] = FileEntry(blob, use_lfs)
        folders = []
        with self.lock:
            repo = self._repo(repo_id, repo_type)
            head = repo.resolve(revision)
            for path in delete:
                path = path.strip("/")
                if path in head.files:
                    changes[path] = None
                elif path in head.trees:
                    folders.append(path)
                else:
                    raise KeyError(f"Cannot delete {path!r}: not in {repo.label}@{revision}")
            commit, _ = self.apply_commit(
                repo, revision, changes, folders, title=message, description=description
            )
            return commit.oid

    def add_directory(
        self,
        root: str | os.PathLike[str],
        repo_id: str = "stdKonjac/Sparkle",
        *,
        path_in_repo: str = "",
        message: str | None = None,
        revision: str = "main",
        repo_type: str = "dataset",
    ) -> str:
        """Commit every file under ``root`` (hidden files included) as one commit; returns
        its sha. Files are hashed now and read from disk when served: keep them unchanged."""
        base = Path(root)
        if not base.is_dir():
            raise NotADirectoryError(f"{base} is not a directory")
        prefix = path_in_repo.strip("/")
        files: dict[str, FileContent] = {}
        for p in sorted(base.rglob("*")):
            if p.is_file():
                rel = p.relative_to(base).as_posix()
                files[f"{prefix}/{rel}" if prefix else rel] = p
        return self.commit(
            repo_id,
            files,
            message=message or f"Upload {base.name}",
            revision=revision,
            repo_type=repo_type,
        )

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

    def create_branch(
        self, repo_id: str, branch: str, *, revision: str = "main", repo_type: str = "dataset"
    ) -> str:
        """Create ``branch`` at ``revision``; returns the commit sha it points to."""
        with self.lock:
            repo = self._repo(repo_id, repo_type)
            if branch in repo.branches:
                raise ValueError(f"Branch {branch!r} already exists in {repo.label}")
            repo.branches[branch] = repo.resolve(revision).oid
            return repo.branches[branch]

    def tag(
        self, repo_id: str, tag: str, *, revision: str = "main", repo_type: str = "dataset"
    ) -> str:
        """Tag ``revision`` as ``tag``; returns the tagged commit sha."""
        with self.lock:
            repo = self._repo(repo_id, repo_type)
            if tag in repo.tags:
                raise ValueError(f"Tag {tag!r} already exists in {repo.label}")
            repo.tags[tag] = repo.resolve(revision).oid
            return repo.tags[tag]

    def resolve(self, repo_id: str, revision: str = "main", *, repo_type: str = "dataset") -> str:
        """The commit sha a branch, tag or (short) sha names."""
        with self.lock:
            return self._repo(repo_id, repo_type).resolve(revision).oid

    def list_files(
        self, repo_id: str, revision: str = "main", *, repo_type: str = "dataset"
    ) -> list[str]:
        """Paths of the files at ``revision``, sorted."""
        with self.lock:
            return list(self._repo(repo_id, repo_type).resolve(revision).files)

    def read(
        self, repo_id: str, path: str, revision: str = "main", *, repo_type: str = "dataset"
    ) -> bytes:
        """The content of one file at ``revision``."""
        with self.lock:
            entry = self._repo(repo_id, repo_type).resolve(revision).files.get(path)
        if entry is None:
            raise FileNotFoundError(f"{path} not in {repo_id}@{revision}")
        return entry.blob.read()

    def file_info(
        self, repo_id: str, path: str, revision: str = "main", *, repo_type: str = "dataset"
    ) -> dict[str, Any]:
        """``{"size", "sha256", "blob_id", "lfs"}`` of one file at ``revision``."""
        with self.lock:
            entry = self._repo(repo_id, repo_type).resolve(revision).files.get(path)
        if entry is None:
            raise FileNotFoundError(f"{path} not in {repo_id}@{revision}")
        return {
            "size": entry.blob.size,
            "sha256": entry.blob.sha256,
            "blob_id": entry.oid,
            "lfs": entry.lfs,
        }

    # ------------------------------------------------------------------ internals

    def apply_commit(
        self,
        repo: Repo,
        revision: str,
        changes: Mapping[str, FileEntry | None],
        folders: Iterable[str],
        *,
        title: str,
        description: str = "",
        parent_commit: Any = None,
        create_pr: bool = False,
        strict_deletes: bool = False,
    ) -> tuple[Commit, int | None]:
        """Commit on top of branch ``revision`` (or a new ``refs/pr/N``); call under the lock."""
        pr: int | None = None
        if create_pr:
            base = repo.resolve(revision)
            pr = max(repo.pull_requests, default=0) + 1
            repo.pull_requests[pr] = base.oid
            branch = f"refs/pr/{pr}"
        else:
            found = repo.branch_name(revision)
            if found is None:
                repo.resolve(revision)  # 404 RevisionNotFound when it names nothing
                raise HubError(400, f"Cannot commit to {revision}: not a branch")
            branch = found
        head = repo.commits[repo.head(branch)]
        if parent_commit and not head.oid.startswith(str(parent_commit).lower()):
            raise HubError(
                412, f"A commit has happened since {parent_commit}: head is now {head.oid}"
            )
        files = dict(head.files)
        for folder in folders:
            below = [p for p in files if p.startswith(folder + "/")]
            if not below and strict_deletes:
                raise HubError(404, f"Folder {folder} not found", "EntryNotFound", commit=head.oid)
            for p in below:
                del files[p]
        for path, entry in changes.items():
            if entry is None:
                if path not in files and strict_deletes:
                    raise HubError(404, f"File {path} not found", "EntryNotFound", commit=head.oid)
                files.pop(path, None)
            else:
                parent_dir = path
                while "/" in parent_dir:
                    parent_dir = parent_dir.rsplit("/", 1)[0]
                    if parent_dir in files:
                        raise HubError(400, f"{path}: {parent_dir} is a file")
                if any(p.startswith(path + "/") for p in files):
                    raise HubError(400, f"{path} is a folder")
                files[path] = entry
        commit = repo.add(Commit.create(files, parent=head, title=title, description=description))
        repo.set_head(branch, commit.oid)
        for entry in changes.values():
            if entry is not None and entry.lfs:
                self._lfs.setdefault(entry.blob.sha256, entry.blob)
        return commit, pr

    def find_blob(self, sha256: str) -> Blob | None:
        """An LFS object (uploaded, or committed to any repo) by its sha256."""
        with self.lock:
            return self._lfs.get(sha256)

    def store_lfs(self, oid: str, data: bytes) -> None:
        digest = hashlib.sha256(data).hexdigest()
        if digest != oid:
            raise HubError(400, f"Uploaded content has sha256 {digest}, expected {oid}")
        with self.lock:
            self._lfs.setdefault(oid, Blob.from_bytes(data))


def _check_type(repo_type: str) -> str:
    if repo_type not in URL_PREFIXES:
        raise ValueError(f"repo_type must be one of {sorted(URL_PREFIXES)}, got {repo_type!r}")
    return repo_type


def _blob(content: FileContent) -> Blob:
    if isinstance(content, (bytes, bytearray, memoryview)):
        return Blob.from_bytes(bytes(content))
    if isinstance(content, os.PathLike):
        return Blob.from_path(content)
    raise TypeError(
        f"File content must be bytes or a path (os.PathLike), got {type(content).__name__}"
    )


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
    from sparkle_data.testing._hub_server import start_server

    if hub is None:
        hub = FakeHub(**options)
    elif options:
        raise TypeError("Pass FakeHub options to FakeHub(...), not with an existing hub")
    if hub._endpoint is not None:
        raise RuntimeError("This FakeHub is already being served")
    servers: list[tuple[HubHTTPServer, threading.Thread]] = []
    try:
        api, api_thread, hub._endpoint = start_server(hub, cdn=False)
        servers.append((api, api_thread))
        cdn, cdn_thread, hub._cdn_endpoint = start_server(hub, cdn=True)
        servers.append((cdn, cdn_thread))
        with hub.patch_endpoint() if configure_client else contextlib.nullcontext(hub):
            yield hub
    finally:
        for httpd, thread in servers:
            httpd.shutdown()
            httpd.server_close()
            thread.join(timeout=5)
        hub._endpoint = hub._cdn_endpoint = None
