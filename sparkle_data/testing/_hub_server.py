"""The fake Hub's HTTP server: routes each request to the read or write API, streams files.

Everything here runs in the server's handler threads; state lives in
:class:`sparkle_data.testing.hub.FakeHub` and is read and changed under its lock. The answers
themselves are built by ``_hub_read`` and ``_hub_write``; the plumbing shared with the plain
loopback server is in ``_loopback``.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, unquote, urlsplit

from sparkle_data.testing._hub_http import (
    CDN_PREFIX,
    LFS_PREFIX,
    ApiRequest,
    HubRequest,
    HubResponse,
    Route,
    error_response,
)
from sparkle_data.testing._hub_store import API_TYPES, HubError
from sparkle_data.testing._hub_write import WriteApi
from sparkle_data.testing._loopback import LoopbackHTTPServer, QuietHandler, serving

if TYPE_CHECKING:
    from sparkle_data.testing.hub import FakeHub

__all__ = ["HubApi", "HubHTTPServer", "serve_hub"]

_WRITE_KINDS = frozenset(
    {"preupload", "lfs-batch", "commit", "create-repo", "delete-repo", "branch", "tag"}
)


class HubApi(WriteApi):
    """Routes one request to its read or write handler."""

    def dispatch(self) -> Callable[[], HubResponse]:
        """Classify the request (fills ``self.route``) and return its handler, unrun."""
        req = self.req
        segs = req.segments
        if req.on_cdn:
            if len(segs) == 2 and segs[0] == CDN_PREFIX and req.method in ("GET", "HEAD"):
                self.route.kind, self.route.file = "cdn", segs[1]
                return lambda: self.cdn(segs[1])
            raise HubError(404, "Not found")
        if segs and segs[0] == "api":
            return self.api(segs[1:])
        if segs and segs[0] == LFS_PREFIX:
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
                        self.require_write()
                    return handler(repo_type, repo_id, args)

                return run
        raise HubError(404, "Sorry, we can't find the page you are looking for.")

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


class _Handler(QuietHandler):
    server: HubHTTPServer

    def do_GET(self) -> None:  # noqa: N802 - the http.server handler name
        self._handle()

    def do_HEAD(self) -> None:  # noqa: N802 - the http.server handler name
        self._handle()

    def do_POST(self) -> None:  # noqa: N802 - the http.server handler name
        self._handle()

    def do_PUT(self) -> None:  # noqa: N802 - the http.server handler name
        self._handle()

    def do_DELETE(self) -> None:  # noqa: N802 - the http.server handler name
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
        req = ApiRequest(
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
            action = HubApi(hub, req, route).dispatch()
            resp = hub.fault_response(route) or action()
        except HubError as e:
            resp = error_response(e)
        except Exception as e:  # a bug or a broken blob: answer 500 rather than hang
            resp = error_response(HubError(500, f"{type(e).__name__}: {e}"))
        hub.record(
            HubRequest(
                req.method,
                req.path,
                split.query,
                route.kind,
                route.repo,
                route.revision,
                route.file,
                req.headers.get("range"),
                resp.status,
                req.headers,
            )
        )
        self._send(resp, route)

    def _send(self, resp: HubResponse, route: Route) -> None:
        hub = self.server.hub
        headers = dict(resp.headers)
        if resp.blob is None:
            headers["Content-Length"] = str(len(resp.body))
        self.send_head(resp.status, headers)
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


class HubHTTPServer(LoopbackHTTPServer):
    hub: FakeHub
    is_cdn: bool = False


def serve_hub(hub: FakeHub, *, cdn: bool) -> AbstractContextManager[str]:
    """Serve ``hub`` on ``127.0.0.1:{random port}`` (the API, or with ``cdn`` the "CDN" that
    LFS downloads are redirected to) until the block exits; yields the base URL."""
    httpd = HubHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.hub = hub
    httpd.is_cdn = cdn
    return serving(httpd, f"fake-hub-{'cdn' if cdn else 'api'}-{httpd.server_address[1]}")
