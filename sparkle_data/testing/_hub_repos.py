"""The fake Hub's repositories: create them, commit files, branch and tag, store LFS objects.

:class:`HubRepos` is the in-memory half of :class:`sparkle_data.testing.hub.FakeHub` (which
adds serving and the request log); the server's handlers read and change it under
:attr:`HubRepos.lock`. The objects it holds (blobs, commits, refs) are in ``_hub_store``.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterable, Mapping
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, Literal, TypeAlias

from sparkle_data.testing._hub_store import (
    URL_PREFIXES,
    Blob,
    Commit,
    FileEntry,
    HubError,
    Repo,
    validate_repo_path,
)

__all__ = ["DEFAULT_LFS_PATTERNS", "FileContent", "HubRepos", "check_repo_type"]

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


class HubRepos:
    """Repositories (commits, branches, tags) and LFS objects, in memory, behind one lock.

    ``lfs_threshold`` and ``lfs_patterns`` decide which files are LFS (size at least the
    threshold, or a matching name).
    """

    def __init__(
        self,
        *,
        lfs_threshold: int = 10 * 1024 * 1024,
        lfs_patterns: Iterable[str] = DEFAULT_LFS_PATTERNS,
    ) -> None:
        self.lfs_threshold = lfs_threshold
        self.lfs_patterns = tuple(lfs_patterns)
        self.lock: threading.Lock | threading.RLock = threading.RLock()
        """Guards the repositories, LFS objects and request log (the server takes it)."""
        self.repo_table: dict[tuple[str, str], Repo] = {}
        """Repositories by ``(repo type, repo id)``; read and changed under :attr:`lock`."""
        self._lfs: dict[str, Blob] = {}
        self.upload_parts: dict[tuple[str, int], bytes] = {}

    def is_lfs(self, path: str, size: int) -> bool:
        """Whether a file of this path and size is stored through LFS (empty files never)."""
        if size <= 0:
            return False
        if size >= self.lfs_threshold:
            return True
        name = path.rsplit("/", 1)[-1]
        return any(fnmatchcase(path if "/" in p else name, p) for p in self.lfs_patterns)

    def _repo(self, repo_id: str, repo_type: str) -> Repo:
        repo = self.repo_table.get((check_repo_type(repo_type), repo_id))
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
        check_repo_type(repo_type)
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

    def create_branch(
        self, repo_id: str, branch: str, *, revision: str = "main", repo_type: str = "dataset"
    ) -> str:
        """Create ``branch`` at ``revision``; returns the commit sha it points to."""
        return self._new_ref(repo_id, repo_type, "branch", branch, revision)

    def tag(
        self, repo_id: str, tag: str, *, revision: str = "main", repo_type: str = "dataset"
    ) -> str:
        """Tag ``revision`` as ``tag``; returns the tagged commit sha."""
        return self._new_ref(repo_id, repo_type, "tag", tag, revision)

    def _new_ref(
        self, repo_id: str, repo_type: str, kind: Literal["branch", "tag"], name: str, revision: str
    ) -> str:
        with self.lock:
            repo = self._repo(repo_id, repo_type)
            refs = repo.branches if kind == "branch" else repo.tags
            if name in refs:
                raise ValueError(f"{kind.title()} {name!r} already exists in {repo.label}")
            refs[name] = repo.resolve(revision).oid
            return refs[name]

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


def check_repo_type(repo_type: str) -> str:
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
