"""HTTP side of the fake Hub: routing, the JSON the ``huggingface_hub`` client parses, ranges.

Everything here runs in the server's handler threads; state lives in
:class:`sparkle_data.testing.hub.FakeHub` and is read and changed under its lock.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from sparkle_data.testing._hub_store import (
    API_TYPES,
    Blob,
    Commit,
    FileEntry,
    HubError,
    Repo,
    validate_repo_path,
)

if TYPE_CHECKING:
    from sparkle_data.testing.hub import FakeHub

__all__ = ["HubHTTPServer", "HubResponse", "Route", "start_server"]

JSONValue = Any
_LFS_PREFIX = "__lfs__"
_CDN_PREFIX = "__cdn__"
_WRITE_KINDS = frozenset(
    {"preupload", "lfs-batch", "commit", "create-repo", "delete-repo", "branch", "tag"}
)


@dataclass
class _Request:
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


def _json(status: int, payload: JSONValue, **headers: str) -> HubResponse:
    body = json.dumps(payload).encode()
    return HubResponse(status, {"Content-Type": "application/json", **headers}, body)


def _flag(values: dict[str, list[str]], name: str) -> bool:
    got = values.get(name) or [""]
    return got[-1].strip().lower() in ("1", "true", "yes")


def _parse_range(header: str, size: int) -> tuple[int, int] | None:
    """Inclusive ``(first, last)``; ``None`` for a range to ignore (multi-range, garbage).

    Raises ``HubError(416)`` when the range cannot be satisfied.
    """
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    start, sep, end = spec.strip().partition("-")
    if not sep:
        return None
    try:
        if start == "":  # suffix range: the last N bytes
            first, last = size - int(end), size - 1
            if int(end) <= 0:
                first = size  # unsatisfiable
            first = max(0, first)
        else:
            first = int(start)
            last = min(int(end), size - 1) if end else size - 1
    except ValueError:
        return None
    if first >= size or last < first:
        raise HubError(
            416,
            f"Range {header!r} not satisfiable for {size} bytes",
            headers={"Content-Range": f"bytes */{size}"},
        )
    return first, last


class _Api:
    """Routes one request to the hub and builds the answer."""

    def __init__(self, hub: FakeHub, req: _Request, route: Route) -> None:
        self.hub = hub
        self.req = req
        self.route = route

    # ------------------------------------------------------------------ helpers

    @property
    def endpoint(self) -> str:
        return self.hub.endpoint

    def _auth_ok(self) -> bool | None:
        """True: valid token; False: a wrong one; None: none sent."""
        got = self.req.headers.get("authorization")
        if got is None:
            return None
        return self.hub.token is None or got.strip() == f"Bearer {self.hub.token}"

    def _require_write(self) -> None:
        if self.hub.token is None:
            return
        ok = self._auth_ok()
        if ok is None:
            raise HubError(401, "You must be authenticated (send a token) to write to the Hub")
        if not ok:
            raise HubError(401, "Invalid credentials in Authorization header")

    def _repo(self, repo_type: str, repo_id: str) -> Repo:
        self.route.repo = f"{repo_type}s/{repo_id}" if repo_type != "model" else repo_id
        repo = self.hub.repo_table.get((repo_type, repo_id))
        if repo is None or (repo.private and self._auth_ok() is not True):
            raise HubError(
                401 if repo is not None else 404, f"Repository not found: {repo_id}", "RepoNotFound"
            )
        return repo

    def _commit(self, repo: Repo, revision: str | None) -> Commit:
        self.route.revision = revision
        return repo.resolve(revision)

    def _body_json(self) -> JSONValue:
        try:
            return json.loads(self.req.body or b"null")
        except ValueError as e:
            raise HubError(400, f"Invalid JSON body: {e}") from e

    def _entry_json(self, repo: Repo, commit: Commit, path: str, expand: bool) -> JSONValue:
        entry = commit.files.get(path)
        out: dict[str, JSONValue]
        if entry is not None:
            out = {"type": "file", "oid": entry.oid, "size": entry.blob.size, "path": path}
            if entry.lfs:
                out["lfs"] = {
                    "oid": entry.blob.sha256,
                    "size": entry.blob.size,
                    "pointerSize": len(entry.blob.pointer),
                }
        else:
            out = {"type": "directory", "oid": commit.trees[path], "size": 0, "path": path}
        if expand:
            last = repo.last_commit(commit, path)
            out["lastCommit"] = {"id": last.oid, "title": last.title, "date": last.date}
            if entry is not None:
                out["securityFileStatus"] = {
                    "status": "safe",
                    "avScan": {"virusFound": False, "virusNames": None},
                    "pickleImportScan": None,
                }
        return out

    # ------------------------------------------------------------------ dispatch

    def dispatch(self) -> Callable[[], HubResponse]:
        """Classify the request (fills ``self.route``) and return its handler, unrun."""
        req = self.req
        segs = req.segments
        if req.on_cdn:
            if len(segs) == 2 and segs[0] == _CDN_PREFIX and req.method in ("GET", "HEAD"):
                self.route.kind, self.route.file = "cdn", segs[1]
                return lambda: self.cdn(segs[1])
            raise HubError(404, "Not found")
        if segs and segs[0] == "api":
            return self.api(segs[1:])
        if segs and segs[0] == _LFS_PREFIX:
            return self.lfs_transfer(segs[1:])
        if len(segs) >= 2 and segs[-1] == "batch" and "/".join(segs[-4:-1]) == "info/lfs/objects":
            self.route.kind = "lfs-batch"
            return lambda: self.lfs_batch(segs[:-4])
        repo_type = API_TYPES.get(segs[0], "model") if segs else "model"
        rest = segs[1:] if repo_type != "model" else segs
        if len(rest) >= 4 and rest[2] == "resolve" and req.method in ("GET", "HEAD"):
            repo_id, revision, path = f"{rest[0]}/{rest[1]}", rest[3], "/".join(rest[4:])
            self.route.kind, self.route.revision, self.route.file = "resolve", revision, path
            return lambda: self.resolve(repo_type, repo_id, revision, path)
        raise HubError(404, "Sorry, we can't find the page you are looking for.")

    def api(self, segs: list[str]) -> Callable[[], HubResponse]:
        method = self.req.method
        if segs == ["whoami-v2"] and method == "GET":
            self.route.kind = "whoami"
            return self.whoami
        if segs == ["validate-yaml"] and method == "POST":
            self.route.kind = "validate-yaml"
            return self.validate_yaml
        if segs == ["repos", "create"] and method == "POST":
            self.route.kind = "create-repo"
            return self.create_repo
        if segs == ["repos", "delete"] and method == "DELETE":
            self.route.kind = "delete-repo"
            return self.delete_repo
        if len(segs) >= 3 and segs[0] in API_TYPES:
            repo_type, repo_id, rest = API_TYPES[segs[0]], f"{segs[1]}/{segs[2]}", segs[3:]
            action = rest[0] if rest else ""
            handler: Callable[[str, str, list[str]], HubResponse] | None = {
                ("GET", ""): self.repo_info,
                ("GET", "revision"): self.repo_info,
                ("GET", "tree"): self.tree,
                ("POST", "paths-info"): self.paths_info,
                ("GET", "refs"): self.refs,
                ("GET", "commits"): self.commits,
                ("POST", "preupload"): self.preupload,
                ("POST", "commit"): self.commit,
                ("POST", "branch"): self.create_branch,
                ("DELETE", "branch"): self.delete_branch,
                ("POST", "tag"): self.create_tag,
                ("DELETE", "tag"): self.delete_tag,
            }.get((method, action))
            if handler is not None:
                self.route.kind = "repo-info" if action in ("", "revision") else action
                args = rest[1:]
                if action == "tree" and len(args) > 1:
                    self.route.file = "/".join(args[1:])

                def run() -> HubResponse:
                    if self.route.kind in _WRITE_KINDS:
                        self._require_write()
                    return handler(repo_type, repo_id, args)

                return run
        raise HubError(404, "Sorry, we can't find the page you are looking for.")

    # ------------------------------------------------------------------ read API

    def validate_yaml(self) -> HubResponse:
        """``POST /api/validate-yaml``: the YAML front matter of a README must parse."""
        import yaml

        body = self._body_json()
        content = str(body.get("content", "")) if isinstance(body, dict) else ""
        errors: list[dict[str, str]] = []
        if content.startswith("---"):
            front, sep, _ = content[3:].partition("\n---")
            if not sep:
                errors.append({"message": "unterminated YAML front matter"})
            else:
                try:
                    meta = yaml.safe_load(front)
                except yaml.YAMLError as e:
                    errors.append({"message": f"invalid YAML: {e}"})
                else:
                    if meta is not None and not isinstance(meta, dict):
                        errors.append({"message": "YAML front matter must be a mapping"})
        return _json(400 if errors else 200, {"errors": errors, "warnings": []})

    def whoami(self) -> HubResponse:
        if self.hub.token is not None and self._auth_ok() is not True:
            raise HubError(401, "Invalid credentials in Authorization header")
        return _json(
            200,
            {
                "type": "user",
                "id": hashlib.sha1(self.hub.user.encode()).hexdigest()[:24],  # noqa: S324
                "name": self.hub.user,
                "fullname": "Fake Hub User",
                "email": None,
                "emailVerified": False,
                "isPro": False,
                "orgs": [],
                "auth": {
                    "type": "access_token",
                    "accessToken": {"displayName": "fake-hub", "role": "write"},
                },
            },
        )

    def repo_info(self, repo_type: str, repo_id: str, args: list[str]) -> HubResponse:
        with self.hub.lock:
            repo = self._repo(repo_type, repo_id)
            commit = self._commit(repo, "/".join(args) or None)
            first = next(iter(sorted(repo.commits.values(), key=lambda c: c.timestamp)))
        blobs = _flag(self.req.query, "blobs")
        siblings: list[JSONValue] = []
        for path, entry in commit.files.items():
            sib: dict[str, JSONValue] = {"rfilename": path}
            if blobs:
                sib["size"] = entry.blob.size
                sib["blobId"] = entry.oid
                if entry.lfs:
                    sib["lfs"] = {
                        "sha256": entry.blob.sha256,
                        "size": entry.blob.size,
                        "pointerSize": len(entry.blob.pointer),
                    }
            siblings.append(sib)
        return _json(
            200,
            {
                "_id": hashlib.sha1(repo.label.encode()).hexdigest()[:24],  # noqa: S324
                "id": repo_id,
                "author": repo_id.split("/")[0],
                "sha": commit.oid,
                "createdAt": first.date,
                "lastModified": commit.date,
                "private": repo.private,
                "gated": False,
                "disabled": False,
                "downloads": 0,
                "likes": 0,
                "tags": [],
                "cardData": {},
                "siblings": siblings,
                "usedStorage": sum(e.blob.size for e in commit.files.values()),
            },
        )

    def tree(self, repo_type: str, repo_id: str, args: list[str]) -> HubResponse:
        if not args:
            raise HubError(404, "Missing revision")
        revision, path = args[0], "/".join(args[1:]).strip("/")
        with self.hub.lock:
            repo = self._repo(repo_type, repo_id)
            commit = self._commit(repo, revision)
            if commit.kind(path) != "directory":
                raise HubError(
                    404, f"{path} does not exist on {revision}", "EntryNotFound", commit=commit.oid
                )
            recursive = _flag(self.req.query, "recursive")
            expand = _flag(self.req.query, "expand")
            entries = commit.children(path, recursive=recursive)
            size = self.hub.tree_page_size_expand if expand else self.hub.tree_page_size
            try:
                start = int((self.req.query.get("cursor") or ["0"])[-1])
            except ValueError as e:
                raise HubError(400, "Invalid cursor") from e
            page = [
                self._entry_json(repo, commit, p, expand) for p in entries[start : start + size]
            ]
        headers: dict[str, str] = {}
        if start + size < len(entries):
            params = {"recursive": str(recursive).lower(), "expand": str(expand).lower()}
            params["cursor"] = str(start + size)
            headers["Link"] = f'<{self.endpoint}{self.req.path}?{urlencode(params)}>; rel="next"'
        return _json(200, page, **headers)

    def paths_info(self, repo_type: str, repo_id: str, args: list[str]) -> HubResponse:
        revision = "/".join(args)
        ctype = self.req.headers.get("content-type", "")
        if "json" in ctype:
            body = self._body_json() or {}
            raw = body.get("paths", [])
            paths = [raw] if isinstance(raw, str) else [str(p) for p in raw]
            expand = bool(body.get("expand"))
        else:
            form = parse_qs(self.req.body.decode(), keep_blank_values=True)
            paths, expand = form.get("paths", []), _flag(form, "expand")
        with self.hub.lock:
            repo = self._repo(repo_type, repo_id)
            commit = self._commit(repo, revision)
            out = [
                self._entry_json(repo, commit, p.strip("/"), expand)
                for p in paths
                if p.strip("/") and commit.kind(p.strip("/")) is not None
            ]
        return _json(200, out)

    def refs(self, repo_type: str, repo_id: str, _: list[str]) -> HubResponse:
        with self.hub.lock:
            repo = self._repo(repo_type, repo_id)
            out: dict[str, JSONValue] = {
                "branches": [
                    {"name": b, "ref": f"refs/heads/{b}", "targetCommit": oid}
                    for b, oid in sorted(repo.branches.items())
                ],
                "tags": [
                    {"name": t, "ref": f"refs/tags/{t}", "targetCommit": oid}
                    for t, oid in sorted(repo.tags.items())
                ],
                "converts": [],
            }
            if _flag(self.req.query, "include_prs"):
                out["pullRequests"] = [
                    {"name": f"refs/pr/{n}", "ref": f"refs/pr/{n}", "targetCommit": oid}
                    for n, oid in sorted(repo.pull_requests.items())
                ]
        return _json(200, out)

    def commits(self, repo_type: str, repo_id: str, args: list[str]) -> HubResponse:
        revision = "/".join(args)
        with self.hub.lock:
            repo = self._repo(repo_type, repo_id)
            commit = self._commit(repo, revision)
            out = [
                {
                    "id": c.oid,
                    "title": c.title,
                    "message": c.description,
                    "date": c.date,
                    "authors": [{"user": self.hub.user}],
                }
                for c in repo.history(commit)
            ]
        return _json(200, out)

    def resolve(self, repo_type: str, repo_id: str, revision: str, path: str) -> HubResponse:
        with self.hub.lock:
            repo = self._repo(repo_type, repo_id)
            commit = self._commit(repo, revision)
            entry = commit.files.get(path)
        if entry is None:
            raise HubError(
                404, f"Entry not found: {path} at {revision}", "EntryNotFound", commit=commit.oid
            )
        headers = {"X-Repo-Commit": commit.oid, "ETag": f'"{entry.etag}"'}
        if entry.lfs:
            headers["X-Linked-Size"] = str(entry.blob.size)
            headers["X-Linked-ETag"] = f'"{entry.blob.sha256}"'
            if self.hub.redirect_lfs:
                headers["Location"] = f"{self.hub.cdn_endpoint}/{_CDN_PREFIX}/{entry.blob.sha256}"
                headers["Content-Length"] = "0"
                return HubResponse(302, headers)
        return self._serve_blob(entry.blob, headers, path)

    def cdn(self, sha256: str) -> HubResponse:
        blob = self.hub.find_blob(sha256)
        if blob is None:
            raise HubError(404, "NoSuchKey")
        headers = {"ETag": f'"{sha256}"', "Content-Disposition": "inline"}
        return self._serve_blob(blob, headers, sha256)

    def _serve_blob(self, blob: Blob, headers: dict[str, str], path: str) -> HubResponse:
        headers = {"Accept-Ranges": "bytes", "Content-Type": "application/octet-stream", **headers}
        range_header = self.req.headers.get("range")
        span = None
        if range_header is not None and not self.hub.range_ignored(self.route.kind, path):
            span = _parse_range(range_header, blob.size)
        if span is None:
            headers["Content-Length"] = str(blob.size)
            return HubResponse(200, headers, blob=(blob, 0, blob.size - 1))
        first, last = span
        headers["Content-Range"] = f"bytes {first}-{last}/{blob.size}"
        headers["Content-Length"] = str(last - first + 1)
        return HubResponse(206, headers, blob=(blob, first, last))

    # ------------------------------------------------------------------ write API

    def create_repo(self) -> HubResponse:
        self._require_write()
        body = self._body_json() or {}
        name = str(body.get("name") or "")
        org = body.get("organization") or self.hub.user
        repo_type = str(body.get("type") or "model")
        if repo_type not in ("model", "dataset", "space") or not name or "/" in name:
            raise HubError(400, f"Invalid repo name or type: {name!r} ({repo_type})")
        repo_id = f"{org}/{name}"
        private = bool(body.get("private")) or body.get("visibility") == "private"
        url = f"{self.endpoint}/{'' if repo_type == 'model' else repo_type + 's/'}{repo_id}"
        self.route.repo = repo_id
        with self.hub.lock:
            if (repo_type, repo_id) in self.hub.repo_table:
                return _json(409, {"error": "You already created this repo", "url": url})
            self.hub.add_repo(repo_id, repo_type=repo_type, private=private)
        return _json(200, {"url": url, "name": repo_id, "id": repo_id})

    def delete_repo(self) -> HubResponse:
        self._require_write()
        body = self._body_json() or {}
        repo_type = str(body.get("type") or "model")
        repo_id = f"{body.get('organization') or self.hub.user}/{body.get('name')}"
        with self.hub.lock:
            self._repo(repo_type, repo_id)
            del self.hub.repo_table[(repo_type, repo_id)]
        return HubResponse(200, {"Content-Length": "0"})

    def create_branch(self, repo_type: str, repo_id: str, args: list[str]) -> HubResponse:
        branch = "/".join(args)
        body = self._body_json() or {}
        with self.hub.lock:
            repo = self._repo(repo_type, repo_id)
            if branch in repo.branches:
                raise HubError(409, f"Reference already exists: refs/heads/{branch}")
            start = self._commit(repo, body.get("startingPoint") or "main")
            repo.branches[branch] = start.oid
        return _json(200, {})

    def delete_branch(self, repo_type: str, repo_id: str, args: list[str]) -> HubResponse:
        branch = "/".join(args)
        with self.hub.lock:
            repo = self._repo(repo_type, repo_id)
            if branch not in repo.branches:
                raise HubError(404, f"Invalid rev id: {branch}", "RevisionNotFound")
            del repo.branches[branch]
        return _json(200, {})

    def create_tag(self, repo_type: str, repo_id: str, args: list[str]) -> HubResponse:
        revision = "/".join(args)
        body = self._body_json() or {}
        tag = str(body.get("tag") or "")
        with self.hub.lock:
            repo = self._repo(repo_type, repo_id)
            commit = self._commit(repo, revision)
            if not tag:
                raise HubError(400, "Missing tag name")
            if tag in repo.tags:
                raise HubError(409, f"Tag already exists: refs/tags/{tag}")
            repo.tags[tag] = commit.oid
        return _json(200, {})

    def delete_tag(self, repo_type: str, repo_id: str, args: list[str]) -> HubResponse:
        tag = "/".join(args)
        with self.hub.lock:
            repo = self._repo(repo_type, repo_id)
            if tag not in repo.tags:
                raise HubError(404, f"Invalid rev id: {tag}", "RevisionNotFound")
            del repo.tags[tag]
        return _json(200, {})

    def preupload(self, repo_type: str, repo_id: str, args: list[str]) -> HubResponse:
        revision = "/".join(args)
        body = self._body_json() or {}
        create_pr = _flag(self.req.query, "create_pr")
        with self.hub.lock:
            repo = self._repo(repo_type, repo_id)
            commit = self._commit(repo, revision)
            if not create_pr and repo.branch_name(revision) is None:
                raise HubError(400, f"Revision {revision} is not a branch")
            files = []
            for item in body.get("files", []):
                path = validate_repo_path(str(item["path"]))
                existing = commit.files.get(path)
                lfs = self.hub.is_lfs(path, int(item.get("size", 0)))
                files.append(
                    {
                        "path": path,
                        "uploadMode": "lfs" if lfs else "regular",
                        "shouldIgnore": False,
                        "oid": existing.upload_oid if existing is not None else None,
                    }
                )
        return _json(200, {"files": files, "commitOid": commit.oid})

    def commit(self, repo_type: str, repo_id: str, args: list[str]) -> HubResponse:
        revision = "/".join(args)
        header: dict[str, JSONValue] | None = None
        changes: dict[str, FileEntry | None] = {}
        folders: list[str] = []
        for line in self.req.body.splitlines():
            if not line.strip():
                continue
            try:
                item = json.loads(line)
                key, value = item["key"], item["value"]
            except (ValueError, KeyError, TypeError) as e:
                raise HubError(400, f"Invalid NDJSON commit line: {line[:200]!r}") from e
            if key == "header":
                header = value
            elif key == "file":
                content = value.get("content", "")
                data = (
                    base64.b64decode(content)
                    if value.get("encoding") == "base64"
                    else str(content).encode()
                )
                path = validate_repo_path(str(value["path"]))
                changes[path] = FileEntry(Blob.from_bytes(data), lfs=False)
            elif key == "lfsFile":
                path = validate_repo_path(str(value["path"]))
                blob = self.hub.find_blob(str(value["oid"]))
                if blob is None:
                    raise HubError(422, f"LFS object {value['oid']} of {path} was never uploaded")
                changes[path] = FileEntry(blob, lfs=True)
            elif key == "deletedFile":
                changes[validate_repo_path(str(value["path"]))] = None
            elif key == "deletedFolder":
                folders.append(validate_repo_path(str(value["path"]).rstrip("/")))
            else:
                raise HubError(400, f"Unknown commit operation {key!r}")
        if header is None or not str(header.get("summary") or "").strip():
            raise HubError(400, "The commit needs a header line with a non-empty summary")
        create_pr = _flag(self.req.query, "create_pr")
        self.route.revision = revision
        with self.hub.lock:
            repo = self._repo(repo_type, repo_id)
            commit, pr = self.hub.apply_commit(
                repo,
                revision,
                changes,
                folders,
                title=str(header["summary"]),
                description=str(header.get("description") or ""),
                parent_commit=header.get("parentCommit"),
                create_pr=create_pr,
                strict_deletes=True,
            )
        base = f"{self.endpoint}/{repo.label}"
        return _json(
            200,
            {
                "success": True,
                "commitOid": commit.oid,
                "commitUrl": f"{base}/commit/{commit.oid}",
                "commitMessage": commit.title,
                "hookOutput": "",
                "pullRequestUrl": f"{base}/discussions/{pr}" if pr is not None else None,
            },
        )

    # ------------------------------------------------------------------ LFS transfer

    def lfs_batch(self, segs: list[str]) -> HubResponse:
        repo_type = API_TYPES.get(segs[0], "model") if segs else "model"
        parts = segs[1:] if repo_type != "model" else segs
        if len(parts) != 2 or not parts[1].endswith(".git"):
            raise HubError(404, "Not found")
        self._require_write()
        with self.hub.lock:
            self._repo(repo_type, f"{parts[0]}/{parts[1][:-4]}")
        body = self._body_json() or {}
        if body.get("operation") != "upload":
            raise HubError(400, "Only the LFS 'upload' operation is supported by the fake Hub")
        chunk = self.hub.multipart_chunk_size
        objects = []
        multipart = False
        for obj in body.get("objects", []):
            oid, size = str(obj["oid"]), int(obj["size"])
            out: dict[str, JSONValue] = {"oid": oid, "size": size, "authenticated": True}
            if self.hub.find_blob(oid) is None:
                base = f"{self.endpoint}/{_LFS_PREFIX}"
                if chunk is not None and size > chunk:
                    multipart = True
                    n = -(-size // chunk)
                    head: dict[str, str] = {"chunk_size": str(chunk)}
                    head.update({f"{i:05d}": f"{base}/part/{oid}/{i}" for i in range(1, n + 1)})
                    upload = {"href": f"{base}/complete/{oid}", "header": head}
                else:
                    upload = {"href": f"{base}/upload/{oid}"}
                out["actions"] = {"upload": upload}
            objects.append(out)
        payload = {"transfer": "multipart" if multipart else "basic", "objects": objects}
        return _json(200, payload, **{"Content-Type": "application/vnd.git-lfs+json"})

    def lfs_transfer(self, segs: list[str]) -> Callable[[], HubResponse]:
        """``PUT upload/{oid}``, ``PUT part/{oid}/{n}``, ``POST complete/{oid}`` (the "S3")."""
        method = self.req.method
        if len(segs) == 2 and segs[0] == "upload" and method == "PUT":
            self.route.kind, self.route.file = "lfs-upload", segs[1]
            return lambda: self.lfs_upload(segs[1])
        if len(segs) == 3 and segs[0] == "part" and method == "PUT" and segs[2].isdigit():
            self.route.kind, self.route.file = "lfs-part", segs[1]
            return lambda: self.lfs_part(segs[1], int(segs[2]))
        if len(segs) == 2 and segs[0] == "complete" and method == "POST":
            self.route.kind, self.route.file = "lfs-complete", segs[1]
            return lambda: self.lfs_complete(segs[1])
        raise HubError(404, "Not found")

    def lfs_upload(self, oid: str) -> HubResponse:
        self.hub.store_lfs(oid, self.req.body)
        return HubResponse(200, {"Content-Length": "0"})

    def lfs_part(self, oid: str, number: int) -> HubResponse:
        etag = hashlib.sha256(self.req.body).hexdigest()[:32]
        with self.hub.lock:
            self.hub.upload_parts[(oid, number)] = self.req.body
        return HubResponse(200, {"ETag": f'"{etag}"'})

    def lfs_complete(self, oid: str) -> HubResponse:
        body = self._body_json() or {}
        chunks = []
        with self.hub.lock:
            for part in sorted(body.get("parts", []), key=lambda p: int(p["partNumber"])):
                data = self.hub.upload_parts.pop((oid, int(part["partNumber"])), None)
                if data is None:
                    raise HubError(400, f"Part {part['partNumber']} was never uploaded")
                etag = hashlib.sha256(data).hexdigest()[:32]
                if str(part.get("etag", "")).strip('"') != etag:
                    raise HubError(400, f"ETag mismatch for part {part['partNumber']}")
                chunks.append(data)
        self.hub.store_lfs(oid, b"".join(chunks))
        return _json(200, {})


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: HubHTTPServer

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self._handle()

    def do_HEAD(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _handle(self) -> None:
        hub = self.server.hub
        split = urlsplit(self.path)
        body = self._read_body() if self.command in ("POST", "PUT", "DELETE") else b""
        req = _Request(
            method=self.command,
            path=split.path,
            segments=[unquote(s) for s in split.path.split("/")[1:] if s != ""],
            query=parse_qs(split.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            on_cdn=self.server.is_cdn,
        )
        route = Route()
        try:
            action = _Api(hub, req, route).dispatch()
            resp = hub.fault_response(route) or action()
        except HubError as e:
            resp = _error_response(e)
        except Exception as e:  # a bug or a broken blob: answer 500 rather than hang
            resp = _error_response(HubError(500, f"{type(e).__name__}: {e}"))
        hub.record(req.method, req.path, split.query, route, req.headers, resp.status)
        self._send(resp, route)

    def _send(self, resp: HubResponse, route: Route) -> None:
        hub = self.server.hub
        headers = dict(resp.headers)
        if resp.blob is None:
            headers["Content-Length"] = str(len(resp.body))
        self.send_response(resp.status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command == "HEAD":
            return
        if resp.blob is None:
            self.wfile.write(resp.body)
            return
        blob, first, last = resp.blob
        plan = hub.body_plan(route)
        try:
            complete = hub.injector.stream(
                self.wfile,
                lambda done, n: blob.read(first + done, n),
                last - first + 1,
                plan,
                self.connection,
            )
            if not complete:
                self.close_connection = True
        except (OSError, HubError):
            self.close_connection = True


def _error_response(e: HubError) -> HubResponse:
    headers = {"X-Error-Message": e.message.replace("\n", " ")[:500], **e.headers}
    if e.code:
        headers["X-Error-Code"] = e.code
    if e.commit:
        headers["X-Repo-Commit"] = e.commit
    return _json(e.status, {"error": e.message}, **headers)


class HubHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    hub: FakeHub
    is_cdn: bool = False


def start_server(hub: FakeHub, *, cdn: bool) -> tuple[HubHTTPServer, threading.Thread, str]:
    """Start one listener on ``127.0.0.1:{random port}``; ``(server, thread, base URL)``."""
    httpd = HubHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.hub = hub
    httpd.is_cdn = cdn
    host, port = httpd.server_address[:2]
    thread = threading.Thread(
        target=httpd.serve_forever,
        kwargs={"poll_interval": 0.05},
        daemon=True,
        name=f"fake-hub-{'cdn' if cdn else 'api'}-{port}",
    )
    thread.start()
    return httpd, thread, f"http://{host!s}:{port}"
