"""The ``sparkle-data view`` web app (Starlette): gallery, sample pages, media with Range.

Read-only: every route is a GET (HEAD is answered too). Unknown ids, artifacts and frames are
``404`` pages; parameters that do not parse are ``400`` pages; nothing shows a traceback.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlencode

from sparkle_data.errors import (
    LayoutError,
    MissingArtifactError,
    RangeNotSatisfiableError,
    SparkleError,
)
from sparkle_data.layout import ARTIFACTS, EDIT_TYPES, FPS, parse_sample_id
from sparkle_data.view import media
from sparkle_data.view.cache import ByteCache
from sparkle_data.view.frames import has_artifact, video_info
from sparkle_data.view.grounding import GroundingLookup, boxes_payload
from sparkle_data.view.query import (
    SORT_COLUMNS,
    STATUSES,
    GalleryQuery,
    PageNotFoundError,
    ViewQueryError,
    run_query,
)
from sparkle_data.view.sample import sample_info, status_badge
from sparkle_data.view.templates import render

if TYPE_CHECKING:
    import pandas as pd
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response

    from sparkle_data.catalog import Catalog
    from sparkle_data.filters import Filter, ScorePreset
    from sparkle_data.readers.video import VideoInfo

__all__ = ["VIDEO_ARTIFACTS", "VIDEO_FORMATS", "ViewerState", "create_app"]

log = logging.getLogger("sparkle_data.view")

VIDEO_ARTIFACTS: Final[dict[str, str]] = {
    "source_video": "source",
    "edited_video": "edited",
    "edited_background_video": "edited background",
    "edited_video_canny": "Canny (control)",
}
VIDEO_FORMATS: Final = ("auto", "mp4", "webm")
"""``auto``: MP4 first, VP9 WebM as fallback (the browser picks); or only one of them."""
_MP4_TYPE: Final = 'video/mp4; codecs="avc1.64001F"'
_WEBM_TYPE: Final = 'video/webm; codecs="vp9"'


@dataclass(eq=False)
class ViewerState:
    """What the routes share: the catalog, the rows in scope, the preset and the caches."""

    catalog: Catalog
    preset: ScorePreset
    scope: Filter | None = None
    per_page: int = 24
    video_format: str = "auto"
    images: ByteCache = field(default_factory=lambda: ByteCache(128 << 20))
    transcodes: ByteCache = field(default_factory=lambda: ByteCache(512 << 20))
    table: pd.DataFrame = field(init=False)
    grounding: GroundingLookup = field(init=False)
    _infos: dict[tuple[str, str], VideoInfo] = field(default_factory=dict, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def __post_init__(self) -> None:
        if self.video_format not in VIDEO_FORMATS:
            raise ValueError(f"Invalid video_format {self.video_format!r}: one of {VIDEO_FORMATS}.")
        table = self.catalog.table
        self.table = table if self.scope is None else self.scope.apply(table).table
        self.grounding = GroundingLookup(self.catalog)

    def info(self, sample_id: str, artifact: str) -> VideoInfo:
        key = (sample_id, artifact)
        with self._lock:
            got = self._infos.get(key)
        if got is None:
            got = video_info(self.catalog, sample_id, artifact)
            with self._lock:
                self._infos[key] = got
        return got

    def sample_id(self, text: str) -> str:
        """A sample id of this catalog, or :class:`LookupError` (answered with ``404``)."""
        try:
            parse_sample_id(text)
        except LayoutError as e:
            raise MissingArtifactError(str(e)) from None
        if text not in self.catalog.table.index:
            raise MissingArtifactError.invalid(
                "sample id", text, rule="not in this catalog", path=self.catalog.root
            )
        return text


# ----------------------------------------------------------------------------- pages


def _page(name: str, state: ViewerState, request: Request, code: int = 200, **ctx: Any) -> Response:
    from starlette.responses import HTMLResponse

    scope = "" if state.scope is None else f"scope: {state.scope.describe()}"
    html = render(
        name, prefix=request.scope.get("root_path", ""), root=state.catalog.root, scope=scope, **ctx
    )
    return HTMLResponse(html, status_code=code)


def _params(request: Request) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for key, value in request.query_params.multi_items():
        out.setdefault(key, []).append(value)
    return out


def _gallery(state: ViewerState, request: Request) -> Response:
    query = GalleryQuery.from_params(_params(request), per_page=state.per_page)
    page = run_query(state.table, query)
    cards = []
    for sid, row in page.rows.iterrows():
        value = row.get(query.sort) if query.sort != "sample_id" else None
        shown = None
        if value is not None:
            try:
                shown = f"{float(value):.2f}"
            except (TypeError, ValueError):
                shown = None
        cards.append(
            {
                "sample_id": str(sid),
                "status": str(row.get("status")),
                "badge": status_badge(row),
                "keyword": row.get("chosen_keyword")
                if isinstance(row.get("chosen_keyword"), str)
                else None,
                "sort_value": shown,
            }
        )
    subthemes = sorted({s for s in state.table.get("subtheme", []) if isinstance(s, str)})
    return _page(
        "gallery.html",
        state,
        request,
        query=query,
        page=page,
        cards=cards,
        themes=EDIT_TYPES,
        subthemes=subthemes,
        statuses=STATUSES,
        sort_columns=[c for c in SORT_COLUMNS if c == "sample_id" or c in state.table.columns],
        link=lambda **kw: urlencode(query.params(**kw)),
    )


def _video_sources(
    state: ViewerState, prefix: str, sid: str, artifact: str
) -> list[dict[str, str]]:
    url = f"{prefix}/media/{sid}/{artifact}"
    mp4 = {"url": url, "type": _MP4_TYPE}
    webm = {"url": f"{url}.webm", "type": _WEBM_TYPE}
    if state.video_format == "mp4":
        return [mp4]
    if state.video_format == "webm":
        return [webm]
    return [mp4, webm]


def _sample(state: ViewerState, request: Request) -> Response:
    sid = state.sample_id(request.path_params["sample_id"])
    prefix = request.scope.get("root_path", "")
    info = sample_info(state.catalog.table, sid, state.preset)
    videos: list[dict[str, Any]] = []
    for artifact, title in VIDEO_ARTIFACTS.items():
        if artifact not in info.artifacts:
            continue
        vi = state.info(sid, artifact)
        videos.append(
            {
                "artifact": artifact,
                "title": title,
                "width": vi.width,
                "height": vi.height,
                "num_frames": vi.num_frames,
                "sources": _video_sources(state, prefix, sid, artifact),
            }
        )
    source = next((v for v in videos if v["artifact"] == "source_video"), None)
    main = source or (videos[0] if videos else None)
    num_frames = int(main["num_frames"]) if main else 1
    fps = float(state.info(sid, str(main["artifact"])).fps) if main else float(FPS)
    boxes = None
    r1, r2 = state.grounding.round1(sid), state.grounding.round2(sid)
    if source is not None and (r1 is not None or r2 is not None):
        boxes = boxes_payload(r1, r2, int(source["width"]), int(source["height"]))
    elif r1 is not None and has_artifact(state.catalog, sid, "source_frame0"):
        from sparkle_data.readers.image import probe_png

        with state.catalog.open(sid, "source_frame0") as f:
            pi = probe_png(f)
        boxes = boxes_payload(r1, None, pi.width, pi.height)
    has_mask = "source_video_mask" in info.artifacts and source is not None
    frame0 = None
    if "source_frame0" in info.artifacts:
        frame0 = f"{prefix}/media/{sid}/source_frame0"
    labels = list(boxes["labels"]) if boxes else []
    data = {
        "sample_id": sid,
        "prefix": prefix,
        "fps": fps,
        "num_frames": num_frames,
        "has_mask": has_mask,
        "boxes": boxes,
    }
    return _page(
        "sample.html",
        state,
        request,
        s=info,
        videos=videos,
        num_frames=num_frames,
        has_mask=has_mask,
        has_boxes=bool(boxes and boxes["round2"]),
        frame0=frame0,
        labels=labels,
        data=data,
    )


# ----------------------------------------------------------------------------- media


def _bytes_response(
    request: Request, body: bytes, media_type: str, headers: dict[str, str] | None = None
) -> Response:
    from starlette.responses import Response

    size = len(body)
    rng = media.resolve_range(request.headers.get("range"), size)
    base = {"Accept-Ranges": "bytes", "Cache-Control": "max-age=3600", **(headers or {})}
    if rng is None:
        return Response(body, media_type=media_type, headers=base)
    return Response(
        body[rng.start : rng.end + 1],
        status_code=206,
        media_type=media_type,
        headers={**base, "Content-Range": rng.content_range},
    )


def _media(state: ViewerState, request: Request) -> Response:
    from starlette.responses import StreamingResponse

    sid = state.sample_id(request.path_params["sample_id"])
    name = str(request.path_params["artifact"])
    if name.endswith(".webm"):
        artifact = name[: -len(".webm")]
        if artifact not in VIDEO_ARTIFACTS:
            raise MissingArtifactError.invalid("video", name, rule="not a video artifact")
        state.catalog.locate(sid, artifact)

        def make() -> bytes:
            from sparkle_data.view.transcode import transcode_vp9_webm

            with state.catalog.open(sid, artifact) as f:
                return transcode_vp9_webm(f)

        body = state.transcodes.get_or_make((sid, artifact), make)
        return _bytes_response(request, body, "video/webm")
    if name not in ARTIFACTS:
        raise MissingArtifactError.invalid("artifact", name, rule="not a Sparkle artifact")
    size = media.artifact_size(state.catalog, sid, name)
    rng = media.resolve_range(request.headers.get("range"), size)
    headers = {"Accept-Ranges": "bytes", "Cache-Control": "max-age=3600"}
    status = 200
    length = size
    if rng is not None:
        status, length = 206, rng.length
        headers["Content-Range"] = rng.content_range
    headers["Content-Length"] = str(length)
    stream: Iterator[bytes] = (
        iter(())
        if request.method == "HEAD"
        else media.iter_member(state.catalog, sid, name, rng, size)
    )
    return StreamingResponse(
        stream, status_code=status, media_type=media.media_type(name), headers=headers
    )


def _thumb(state: ViewerState, request: Request) -> Response:
    from starlette.responses import Response

    sid = state.sample_id(request.path_params["sample_id"])
    png = state.images.get_or_make(("thumb", sid), lambda: media.thumbnail_png(state.catalog, sid))
    return Response(png, media_type="image/png", headers={"Cache-Control": "max-age=3600"})


def _mask(state: ViewerState, request: Request) -> Response:
    from starlette.responses import Response

    sid = state.sample_id(request.path_params["sample_id"])
    frame = int(request.path_params["frame"])
    state.catalog.locate(sid, "source_video_mask")
    png = state.images.get_or_make(
        ("mask", sid, frame), lambda: media.mask_png(state.catalog, sid, frame)
    )
    return Response(png, media_type="image/png", headers={"Cache-Control": "max-age=3600"})


def _api_sample(state: ViewerState, request: Request) -> Response:
    import dataclasses

    from starlette.responses import JSONResponse

    sid = state.sample_id(request.path_params["sample_id"])
    info = sample_info(state.catalog.table, sid, state.preset)
    out = dataclasses.asdict(info)
    out["boxes"] = None
    if "source_video" in info.artifacts:
        vi = state.info(sid, "source_video")
        out["boxes"] = boxes_payload(
            state.grounding.round1(sid), state.grounding.round2(sid), vi.width, vi.height
        )
    return JSONResponse(out)


# ----------------------------------------------------------------------------- errors

_REASONS: Final = {
    400: "Bad Request",
    404: "Not Found",
    416: "Range Not Satisfiable",
    500: "Server Error",
}


def _status_of(exc: BaseException) -> int:
    if isinstance(exc, RangeNotSatisfiableError):
        return 416
    if isinstance(exc, (PageNotFoundError, MissingArtifactError, IndexError, LookupError)):
        return 404
    if isinstance(exc, ViewQueryError):
        return 400
    return 500


def create_app(
    catalog: Catalog,
    *,
    preset: ScorePreset | None = None,
    scope: Filter | None = None,
    per_page: int = 24,
    video_format: str = "auto",
) -> Starlette:
    """The viewer over ``catalog``.

    ``preset`` judges every score on the sample page (default: the paper's); ``scope``
    restricts the gallery to the rows it keeps (sample pages stay reachable by id);
    ``video_format`` picks the ``<video>`` sources (see :data:`VIDEO_FORMATS`).
    """
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.responses import PlainTextResponse, Response
    from starlette.routing import Route

    from sparkle_data.filters import PAPER
    from sparkle_data.view.static import CSS, JS

    state = ViewerState(
        catalog, preset or PAPER, scope=scope, per_page=per_page, video_format=video_format
    )

    def bind(fn: Any) -> Any:
        def endpoint(request: Request) -> Response:
            try:
                response: Response = fn(state, request)
            except Exception as exc:  # every failure becomes a page, never a traceback
                return _error(request, exc)
            return response

        return endpoint

    def _error(request: Request, exc: BaseException) -> Response:
        status = _status_of(exc)
        if status == 500:
            log.exception("view: %s failed", request.url.path, exc_info=exc)
        detail = str(exc) if isinstance(exc, SparkleError) else "An internal error occurred."
        if isinstance(exc, (IndexError, KeyError)) and status == 404:
            detail = f"Nothing at {request.url.path}."
        headers = {}
        if status == 416:
            rng_size = _size_hint(exc)
            if rng_size is not None:
                headers["Content-Range"] = f"bytes */{rng_size}"
        if request.url.path.startswith(("/media/", "/mask/", "/thumb/", "/api/")):
            return PlainTextResponse(f"{status} {_REASONS[status]}: {detail}\n", status, headers)
        response = error_page(request, status, detail)
        response.headers.update(headers)
        return response

    def error_page(request: Request, status: int, detail: str) -> Response:
        reason = _REASONS[status]
        return _page(
            "error.html", state, request, status, status=status, reason=reason, detail=detail
        )

    def _size_hint(exc: BaseException) -> int | None:
        size = getattr(exc, "size", None)
        return size if isinstance(size, int) else None

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        status = status if status in _REASONS else 404
        detail = (
            f"Nothing at {request.url.path}." if status == 404 else str(getattr(exc, "detail", ""))
        )
        return error_page(request, status, detail)

    async def css(request: Request) -> Response:
        return Response(CSS, media_type="text/css")

    async def js(request: Request) -> Response:
        return Response(JS, media_type="text/javascript")

    async def favicon(request: Request) -> Response:
        return Response(status_code=204)

    routes = [
        Route("/", bind(_gallery)),
        Route("/favicon.ico", favicon),
        Route("/sample/{sample_id}", bind(_sample)),
        Route("/media/{sample_id}/{artifact}", bind(_media)),
        Route("/thumb/{sample_id}.png", bind(_thumb)),
        Route("/mask/{sample_id}/{frame:int}.png", bind(_mask)),
        Route("/api/sample/{sample_id}.json", bind(_api_sample)),
        Route("/static/view.css", css),
        Route("/static/view.js", js),
    ]
    app = Starlette(routes=routes, exception_handlers={HTTPException: http_error, 500: http_error})
    app.state.viewer = state
    return app
