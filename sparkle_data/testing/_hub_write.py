"""The fake Hub's write API: repos, branches, tags, ``preupload``, NDJSON commits, Git LFS.

:class:`WriteApi` adds the write routes to :class:`~sparkle_data.testing._hub_read.ReadApi`
(``_hub_server`` routes a request to either); changes go to
:class:`sparkle_data.testing.hub.FakeHub` under its lock.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Literal

from sparkle_data.testing._hub_http import (
    LFS_PREFIX,
    HubResponse,
    JSONValue,
    json_response,
    query_flag,
)
from sparkle_data.testing._hub_read import ReadApi
from sparkle_data.testing._hub_store import (
    API_TYPES,
    URL_PREFIXES,
    Blob,
    FileEntry,
    HubError,
    validate_repo_path,
)

__all__ = ["WriteApi"]


class WriteApi(ReadApi):
    """Answers the write requests (creating repos, refs, commits, LFS uploads)."""

    def create_repo(self) -> HubResponse:
        self.require_write()
        body = self.body_json() or {}
        name = str(body.get("name") or "")
        org = body.get("organization") or self.hub.user
        repo_type = str(body.get("type") or "model")
        if repo_type not in URL_PREFIXES or not name or "/" in name:
            raise HubError(400, f"Invalid repo name or type: {name!r} ({repo_type})")
        repo_id = f"{org}/{name}"
        private = bool(body.get("private")) or body.get("visibility") == "private"
        label = URL_PREFIXES[repo_type] + repo_id  # "datasets/org/name", as every route
        url = f"{self.endpoint}/{label}"
        self.route.repo = label
        with self.hub.lock:
            if (repo_type, repo_id) in self.hub.repo_table:
                return json_response(409, {"error": "You already created this repo", "url": url})
            self.hub.add_repo(repo_id, repo_type=repo_type, private=private)
        return json_response(200, {"url": url, "name": repo_id, "id": repo_id})

    def delete_repo(self) -> HubResponse:
        self.require_write()
        body = self.body_json() or {}
        repo_type = str(body.get("type") or "model")
        repo_id = f"{body.get('organization') or self.hub.user}/{body.get('name')}"
        with self.hub.lock:
            self.find_repo(repo_type, repo_id)
            del self.hub.repo_table[(repo_type, repo_id)]
        return HubResponse(200, {"Content-Length": "0"})

    def create_branch(self, repo_type: str, repo_id: str, args: list[str]) -> HubResponse:
        branch = "/".join(args)
        body = self.body_json() or {}
        with self.hub.lock:
            repo = self.find_repo(repo_type, repo_id)
            if branch in repo.branches:
                raise HubError(409, f"Reference already exists: refs/heads/{branch}")
            start = self.at_revision(repo, body.get("startingPoint") or "main")
            repo.branches[branch] = start.oid
        return json_response(200, {})

    def delete_branch(self, repo_type: str, repo_id: str, args: list[str]) -> HubResponse:
        return self._delete_ref(repo_type, repo_id, "branch", "/".join(args))

    def create_tag(self, repo_type: str, repo_id: str, args: list[str]) -> HubResponse:
        revision = "/".join(args)
        body = self.body_json() or {}
        tag = str(body.get("tag") or "")
        with self.hub.lock:
            repo = self.find_repo(repo_type, repo_id)
            commit = self.at_revision(repo, revision)
            if not tag:
                raise HubError(400, "Missing tag name")
            if tag in repo.tags:
                raise HubError(409, f"Tag already exists: refs/tags/{tag}")
            repo.tags[tag] = commit.oid
        return json_response(200, {})

    def delete_tag(self, repo_type: str, repo_id: str, args: list[str]) -> HubResponse:
        return self._delete_ref(repo_type, repo_id, "tag", "/".join(args))

    def _delete_ref(
        self, repo_type: str, repo_id: str, kind: Literal["branch", "tag"], name: str
    ) -> HubResponse:
        with self.hub.lock:
            repo = self.find_repo(repo_type, repo_id)
            refs = repo.branches if kind == "branch" else repo.tags
            if name not in refs:
                raise HubError(404, f"Invalid rev id: {name}", "RevisionNotFound")
            del refs[name]
        return json_response(200, {})

    def preupload(self, repo_type: str, repo_id: str, args: list[str]) -> HubResponse:
        revision = "/".join(args)
        body = self.body_json() or {}
        create_pr = query_flag(self.req.query, "create_pr")
        with self.hub.lock:
            repo = self.find_repo(repo_type, repo_id)
            commit = self.at_revision(repo, revision)
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
        return json_response(200, {"files": files, "commitOid": commit.oid})

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
        create_pr = query_flag(self.req.query, "create_pr")
        self.route.revision = revision
        with self.hub.lock:
            repo = self.find_repo(repo_type, repo_id)
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
        return json_response(
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
        self.require_write()
        with self.hub.lock:
            self.find_repo(repo_type, f"{parts[0]}/{parts[1][:-4]}")
        body = self.body_json() or {}
        if body.get("operation") != "upload":
            raise HubError(400, "Only the LFS 'upload' operation is supported by the fake Hub")
        chunk = self.hub.multipart_chunk_size
        objects = []
        multipart = False
        for obj in body.get("objects", []):
            oid, size = str(obj["oid"]), int(obj["size"])
            out: dict[str, JSONValue] = {"oid": oid, "size": size, "authenticated": True}
            if self.hub.find_blob(oid) is None:
                base = f"{self.endpoint}/{LFS_PREFIX}"
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
        return json_response(200, payload, **{"Content-Type": "application/vnd.git-lfs+json"})

    def lfs_upload(self, oid: str) -> HubResponse:
        self.hub.store_lfs(oid, self.req.body)
        return HubResponse(200, {"Content-Length": "0"})

    def lfs_part(self, oid: str, number: int) -> HubResponse:
        etag = hashlib.sha256(self.req.body).hexdigest()[:32]
        with self.hub.lock:
            self.hub.upload_parts[(oid, number)] = self.req.body
        return HubResponse(200, {"ETag": f'"{etag}"'})

    def lfs_complete(self, oid: str) -> HubResponse:
        body = self.body_json() or {}
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
        return json_response(200, {})
