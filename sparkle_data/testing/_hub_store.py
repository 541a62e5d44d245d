"""Storage model of the fake Hub: content-addressed blobs, git-like commits and refs.

Object ids are computed the way git computes them (blob, tree and commit objects, with LFS
files stored as their pointer file), from the content and fixed synthetic timestamps, so every
id is deterministic: the same files committed the same way give the same commit sha.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

__all__ = [
    "API_TYPES",
    "EMPTY_TREE",
    "URL_PREFIXES",
    "Blob",
    "Commit",
    "FileEntry",
    "HubError",
    "Repo",
    "iso_date",
    "validate_repo_path",
]

API_TYPES: dict[str, str] = {"models": "model", "datasets": "dataset", "spaces": "space"}
"""URL plural (``/api/{plural}/...``) -> repo type."""
URL_PREFIXES: dict[str, str] = {"model": "", "dataset": "datasets/", "space": "spaces/"}
"""Repo type -> prefix of its web and ``resolve`` URLs."""

EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
BASE_TIME = 1_700_000_000
"""Synthetic commit time of a repo's first commit (each later generation adds one second)."""
AUTHOR = "sparkle-data fake hub <fake-hub@localhost>"
_HEX40 = re.compile(r"[0-9a-f]{40}")
_SHORT_HEX = re.compile(r"[0-9a-f]{7,39}")
_CHUNK = 1 << 20


class HubError(Exception):
    """An API error: HTTP status, message and the Hub's ``X-Error-Code`` (if any)."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str | None = None,
        *,
        commit: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.commit = commit
        self.headers = dict(headers or {})


def iso_date(timestamp: int) -> str:
    """``2023-11-14T22:13:20.000Z``: the Hub's date format."""
    return datetime.fromtimestamp(timestamp, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _git_sha1(kind: str, payload: bytes) -> str:
    return hashlib.sha1(f"{kind} {len(payload)}\0".encode() + payload).hexdigest()  # noqa: S324


def validate_repo_path(path: str) -> str:
    """A file path inside a repo: relative, ``/``-separated, no empty, ``.`` or ``..`` part."""
    parts = path.split("/")
    if not path or any(p in ("", ".", "..") for p in parts) or "\\" in path or "\0" in path:
        raise HubError(400, f"Invalid path in repo: {path!r}")
    return path


@dataclass(frozen=True, eq=False)
class Blob:
    """File content (kept in memory, or read from a local file when served)."""

    size: int
    sha256: str
    git_sha1: str
    """Git blob id of the content itself."""
    data: bytes | None = field(default=None, repr=False)
    path: Path | None = None

    @classmethod
    def from_bytes(cls, data: bytes) -> Blob:
        data = bytes(data)
        return cls(len(data), hashlib.sha256(data).hexdigest(), _git_sha1("blob", data), data=data)

    @classmethod
    def from_path(cls, path: str | os.PathLike[str]) -> Blob:
        """Hash a local file; its bytes are read again (not copied) each time it is served."""
        p = Path(path).resolve()
        size = p.stat().st_size
        sha256 = hashlib.sha256()
        sha1 = hashlib.sha1(f"blob {size}\0".encode())  # noqa: S324
        got = 0
        with p.open("rb") as f:
            while chunk := f.read(_CHUNK):
                sha256.update(chunk)
                sha1.update(chunk)
                got += len(chunk)
        if got != size:
            raise OSError(f"{p} changed size while being hashed")
        return cls(size, sha256.hexdigest(), sha1.hexdigest(), path=p)

    def read(self, offset: int = 0, length: int | None = None) -> bytes:
        """``length`` bytes (default: all) from ``offset``."""
        n = self.size - offset if length is None else length
        if self.data is not None:
            return self.data[offset : offset + n]
        if self.path is None:  # pragma: no cover - one of data/path is always set
            raise HubError(500, "blob without content")
        if self.path.stat().st_size != self.size:
            raise HubError(500, f"{self.path} changed on disk since it was committed")
        with self.path.open("rb") as f:
            f.seek(offset)
            return f.read(n)

    @property
    def pointer(self) -> bytes:
        """The Git LFS pointer file of this content."""
        return (
            "version https://git-lfs.github.com/spec/v1\n"
            f"oid sha256:{self.sha256}\nsize {self.size}\n"
        ).encode()


@dataclass(frozen=True, eq=False)
class FileEntry:
    """A file in a commit: its content and whether git stores it through LFS."""

    blob: Blob
    lfs: bool

    @property
    def oid(self) -> str:
        """Git blob id as the Hub reports it (``oid``/``blob_id``): of the pointer for LFS."""
        return _git_sha1("blob", self.blob.pointer) if self.lfs else self.blob.git_sha1

    @property
    def etag(self) -> str:
        """What ``resolve`` answers as ``ETag``: the sha256 for LFS, the git blob id otherwise."""
        return self.blob.sha256 if self.lfs else self.blob.git_sha1

    @property
    def upload_oid(self) -> str:
        """What ``preupload`` answers as ``oid`` (compared to the client's local oid)."""
        return self.blob.sha256 if self.lfs else self.blob.git_sha1

    def same_as(self, other: FileEntry | None) -> bool:
        return other is not None and other.lfs == self.lfs and other.oid == self.oid


def _tree_ids(files: Mapping[str, FileEntry]) -> dict[str, str]:
    """Git tree id of every folder ("" is the root), as git would compute them."""
    children: dict[str, dict[str, tuple[str, str]]] = {"": {}}
    for path, entry in files.items():
        parts = path.split("/")
        for i in range(1, len(parts)):
            children.setdefault("/".join(parts[:i]), {})
        parent = "/".join(parts[:-1])
        children[parent][parts[-1]] = ("100644", entry.oid)
    for folder in children:
        if folder:
            parent, _, name = folder.rpartition("/")
            children[parent][name] = ("40000", "")
    ids: dict[str, str] = {}
    for folder in sorted(children, key=lambda f: -f.count("/") if f else 1):
        items = []
        for name, (mode, oid) in children[folder].items():
            if mode == "40000":
                oid = ids[f"{folder}/{name}" if folder else name]
                key = name + "/"
            else:
                key = name
            items.append((key, mode, name, oid))
        payload = b"".join(
            f"{mode} {name}".encode() + b"\0" + bytes.fromhex(oid)
            for _, mode, name, oid in sorted(items)
        )
        ids[folder] = _git_sha1("tree", payload)
    return ids


@dataclass(eq=False)
class Commit:
    """A full snapshot of a repo (``files``) with its git-like ids."""

    oid: str
    parent: str | None
    title: str
    description: str
    timestamp: int
    files: dict[str, FileEntry]
    trees: dict[str, str]
    """Folder path -> git tree id ("" is the root folder)."""

    @classmethod
    def create(
        cls,
        files: Mapping[str, FileEntry],
        *,
        parent: Commit | None,
        title: str,
        description: str = "",
    ) -> Commit:
        files = dict(sorted(files.items()))
        trees = _tree_ids(files)
        timestamp = BASE_TIME if parent is None else parent.timestamp + 1
        text = f"tree {trees['']}\n"
        if parent is not None:
            text += f"parent {parent.oid}\n"
        text += f"author {AUTHOR} {timestamp} +0000\ncommitter {AUTHOR} {timestamp} +0000\n\n"
        text += title + ("\n\n" + description if description else "") + "\n"
        oid = _git_sha1("commit", text.encode())
        return cls(oid, parent.oid if parent else None, title, description, timestamp, files, trees)

    @property
    def date(self) -> str:
        return iso_date(self.timestamp)

    def kind(self, path: str) -> str | None:
        """``"file"``, ``"directory"`` or ``None`` (absent); ``""`` is the root folder."""
        if path in self.files:
            return "file"
        if path in self.trees:
            return "directory"
        return None

    def object_id(self, path: str) -> str | None:
        """Blob id of a file or tree id of a folder (what changes when its content does)."""
        entry = self.files.get(path)
        return entry.oid if entry is not None else self.trees.get(path)

    def children(self, folder: str, *, recursive: bool) -> list[str]:
        """Paths below ``folder`` (folders and files), sorted: folders first at each level
        when not recursive, depth-first path order when recursive."""
        prefix = f"{folder}/" if folder else ""
        below = [p for p in (*self.trees, *self.files) if p and p.startswith(prefix)]
        if recursive:
            return sorted(below)
        direct = [p for p in below if "/" not in p[len(prefix) :]]
        return sorted(direct, key=lambda p: (p not in self.trees, p))


@dataclass(eq=False)
class Repo:
    """One repository: commits, branches, tags and pull-request refs."""

    repo_type: str
    repo_id: str
    private: bool = False
    commits: dict[str, Commit] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    pull_requests: dict[int, str] = field(default_factory=dict)
    """Pull request number -> head commit of ``refs/pr/{number}``."""

    @property
    def label(self) -> str:
        return f"{URL_PREFIXES[self.repo_type]}{self.repo_id}"

    def add(self, commit: Commit) -> Commit:
        self.commits.setdefault(commit.oid, commit)
        return self.commits[commit.oid]

    def branch_name(self, revision: str) -> str | None:
        """The branch a revision names (``main``, ``refs/heads/main``, ``refs/pr/1``), if any."""
        name = revision.removeprefix("refs/heads/")
        if name in self.branches:
            return name
        number = revision[8:]
        if revision.startswith("refs/pr/") and number.isdigit():
            return revision if int(number) in self.pull_requests else None
        return None

    def resolve(self, revision: str | None) -> Commit:
        """The commit a branch, tag, ``refs/...`` name, full or short (>= 7) sha names."""
        rev = revision or "main"
        branch = self.branch_name(rev)
        if branch is not None:
            return self.commits[self.head(branch)]
        tag = rev.removeprefix("refs/tags/")
        if tag in self.tags:
            return self.commits[self.tags[tag]]
        low = rev.lower()
        if _HEX40.fullmatch(low) and low in self.commits:
            return self.commits[low]
        if _SHORT_HEX.fullmatch(low):
            found = [c for oid, c in self.commits.items() if oid.startswith(low)]
            if len(found) == 1:
                return found[0]
        raise HubError(
            404,
            f"Invalid rev id: {rev} (no such branch, tag or commit in {self.label})",
            "RevisionNotFound",
        )

    def head(self, branch: str) -> str:
        if branch.startswith("refs/pr/"):
            return self.pull_requests[int(branch[8:])]
        return self.branches[branch]

    def set_head(self, branch: str, oid: str) -> None:
        if branch.startswith("refs/pr/"):
            self.pull_requests[int(branch[8:])] = oid
        else:
            self.branches[branch] = oid

    def last_commit(self, commit: Commit, path: str) -> Commit:
        """The most recent ancestor of ``commit`` (itself included) that changed ``path``."""
        oid = commit.object_id(path)
        while commit.parent is not None:
            parent = self.commits[commit.parent]
            if parent.object_id(path) != oid:
                break
            commit = parent
        return commit

    def history(self, commit: Commit) -> Iterable[Commit]:
        """``commit`` and its ancestors, newest first."""
        current: Commit | None = commit
        while current is not None:
            yield current
            current = self.commits[current.parent] if current.parent else None
