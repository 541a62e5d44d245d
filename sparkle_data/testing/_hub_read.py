"""The fake Hub's read API: repo info, listings, refs, commits and file downloads.

:class:`ReadApi` answers one request (``_hub_server`` routes it here); it also holds the
helpers the write routes (``_hub_write``) share: authentication, repo and revision lookup,
JSON bodies. State lives in :class:`sparkle_data.testing.hub.FakeHub`, read under its lock.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlencode

from sparkle_data.errors import RangeNotSatisfiableError
from sparkle_data.io.byteranges import parse_range
from sparkle_data.testing._hub_http import (
    CDN_PREFIX,
    ApiRequest,
    HubResponse,
    JSONValue,
    Route,
    json_response,
    query_flag,
)
from sparkle_data.testing._hub_store import Blob, Commit, HubError, Repo

if TYPE_CHECKING:
    from sparkle_data.testing.hub import FakeHub

__all__ = ["ReadApi"]


class ReadApi:
    """Answers the read requests of one request (``route`` is filled while routing)."""

    def __init__(self, hub: FakeHub, req: ApiRequest, route: Route) -> None:
        self.hub = hub
        self.req = req
        self.route = route

    # ------------------------------------------------------------------ helpers

    @property
    def endpoint(self) -> str:
        """The hub's base URL (for the links in answers)."""
        return self.hub.endpoint

    def auth_ok(self) -> bool | None:
        """True: valid token; False: a wrong one; None: none sent."""
        got = self.req.headers.get("authorization")
        if got is None:
            return None
        return self.hub.token is None or got.strip() == f"Bearer {self.hub.token}"

    def require_write(self) -> None:
        """Refuse (``401``) a write without the hub's token."""
        if self.hub.token is None:
            return
        ok = self.auth_ok()
        if ok is None:
            raise HubError(401, "You must be authenticated (send a token) to write to the Hub")
        if not ok:
            raise HubError(401, "Invalid credentials in Authorization header")

    def find_repo(self, repo_type: str, repo_id: str) -> Repo:
        """The repo this request names (recorded in the route); ``404`` (``401`` if private)."""
        self.route.repo = f"{repo_type}s/{repo_id}" if repo_type != "model" else repo_id
        repo = self.hub.repo_table.get((repo_type, repo_id))
        if repo is None or (repo.private and self.auth_ok() is not True):
            raise HubError(
                401 if repo is not None else 404, f"Repository not found: {repo_id}", "RepoNotFound"
            )
        return repo

    def at_revision(self, repo: Repo, revision: str | None) -> Commit:
        """The commit ``revision`` names (recorded in the route)."""
        self.route.revision = revision
        return repo.resolve(revision)

    def body_json(self) -> JSONValue:
        """The request body as JSON (``400`` when it does not parse)."""
        try:
            return json.loads(self.req.body or b"null")
        except ValueError as e:
            raise HubError(400, f"Invalid JSON body: {e}") from e

    def entry_json(self, repo: Repo, commit: Commit, path: str, expand: bool) -> JSONValue:
        """A ``tree``/``paths-info`` entry (``expand``: with its last commit)."""
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

    # ------------------------------------------------------------------ read API

    def validate_yaml(self) -> HubResponse:
        """``POST /api/validate-yaml``: the YAML front matter of a README must parse."""
        import yaml

        body = self.body_json()
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
        return json_response(400 if errors else 200, {"errors": errors, "warnings": []})

    def whoami(self) -> HubResponse:
        if self.hub.token is not None and self.auth_ok() is not True:
            raise HubError(401, "Invalid credentials in Authorization header")
        return json_response(
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
            repo = self.find_repo(repo_type, repo_id)
            commit = self.at_revision(repo, "/".join(args) or None)
            first = next(iter(sorted(repo.commits.values(), key=lambda c: c.timestamp)))
        blobs = query_flag(self.req.query, "blobs")
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
        return json_response(
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
            repo = self.find_repo(repo_type, repo_id)
            commit = self.at_revision(repo, revision)
            if commit.kind(path) != "directory":
                raise HubError(
                    404, f"{path} does not exist on {revision}", "EntryNotFound", commit=commit.oid
                )
            recursive = query_flag(self.req.query, "recursive")
            expand = query_flag(self.req.query, "expand")
            entries = commit.children(path, recursive=recursive)
            size = self.hub.tree_page_size_expand if expand else self.hub.tree_page_size
            try:
                start = int((self.req.query.get("cursor") or ["0"])[-1])
            except ValueError as e:
                raise HubError(400, "Invalid cursor") from e
            page = [self.entry_json(repo, commit, p, expand) for p in entries[start : start + size]]
        headers: dict[str, str] = {}
        if start + size < len(entries):
            params = {"recursive": str(recursive).lower(), "expand": str(expand).lower()}
            params["cursor"] = str(start + size)
            headers["Link"] = f'<{self.endpoint}{self.req.path}?{urlencode(params)}>; rel="next"'
        return json_response(200, page, **headers)

    def paths_info(self, repo_type: str, repo_id: str, args: list[str]) -> HubResponse:
        revision = "/".join(args)
        ctype = self.req.headers.get("content-type", "")
        if "json" in ctype:
            body = self.body_json() or {}
            raw = body.get("paths", [])
            paths = [raw] if isinstance(raw, str) else [str(p) for p in raw]
            expand = bool(body.get("expand"))
        else:
            form = parse_qs(self.req.body.decode(), keep_blank_values=True)
            paths, expand = form.get("paths", []), query_flag(form, "expand")
        with self.hub.lock:
            repo = self.find_repo(repo_type, repo_id)
            commit = self.at_revision(repo, revision)
            out = [
                self.entry_json(repo, commit, p.strip("/"), expand)
                for p in paths
                if p.strip("/") and commit.kind(p.strip("/")) is not None
            ]
        return json_response(200, out)

    def refs(self, repo_type: str, repo_id: str, _: list[str]) -> HubResponse:
        with self.hub.lock:
            repo = self.find_repo(repo_type, repo_id)
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
            if query_flag(self.req.query, "include_prs"):
                out["pullRequests"] = [
                    {"name": f"refs/pr/{n}", "ref": f"refs/pr/{n}", "targetCommit": oid}
                    for n, oid in sorted(repo.pull_requests.items())
                ]
        return json_response(200, out)

    def commits(self, repo_type: str, repo_id: str, args: list[str]) -> HubResponse:
        revision = "/".join(args)
        with self.hub.lock:
            repo = self.find_repo(repo_type, repo_id)
            commit = self.at_revision(repo, revision)
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
        return json_response(200, out)

    def resolve(self, repo_type: str, repo_id: str, revision: str, path: str) -> HubResponse:
        with self.hub.lock:
            repo = self.find_repo(repo_type, repo_id)
            commit = self.at_revision(repo, revision)
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
                headers["Location"] = f"{self.hub.cdn_endpoint}/{CDN_PREFIX}/{entry.blob.sha256}"
                headers["Content-Length"] = "0"
                return HubResponse(302, headers)
        return self.serve_blob(entry.blob, headers, path)

    def cdn(self, sha256: str) -> HubResponse:
        blob = self.hub.find_blob(sha256)
        if blob is None:
            raise HubError(404, "NoSuchKey")
        headers = {"ETag": f'"{sha256}"', "Content-Disposition": "inline"}
        return self.serve_blob(blob, headers, sha256)

    def serve_blob(self, blob: Blob, headers: dict[str, str], path: str) -> HubResponse:
        headers = {"Accept-Ranges": "bytes", "Content-Type": "application/octet-stream", **headers}
        range_header = self.req.headers.get("range")
        span = None
        if range_header is not None and not self.hub.range_ignored(self.route.kind, path):
            try:
                span = parse_range(range_header, blob.size)
            except RangeNotSatisfiableError as e:
                raise HubError(
                    416,
                    f"Range {range_header!r} not satisfiable for {blob.size} bytes",
                    headers={"Content-Range": f"bytes */{blob.size}"},
                ) from e
        if span is None:
            headers["Content-Length"] = str(blob.size)
            return HubResponse(200, headers, blob=(blob, 0, blob.size - 1))
        headers["Content-Range"] = span.content_range
        headers["Content-Length"] = str(span.length)
        return HubResponse(206, headers, blob=(blob, span.start, span.end))
