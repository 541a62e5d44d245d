"""Look at the data: a local web viewer, a static HTML report and frame grids.

======================  ============================================================
module                  job
======================  ============================================================
``app``                 the Starlette app (gallery, sample pages, media routes)
``query``               gallery URL parameters -> filtered, sorted page of rows
``sample``              one row's displayable facts, scores against a preset
``grounding``           one sample's boxes from the record files (line index)
``media``               member bytes with Range (``io.byteranges``), thumbnails, overlays
``transcode``           H.264 -> VP9 WebM for browsers without H.264
``templates``/``static`` HTML (Jinja2, autoescaped), CSS and JS
``server``              uvicorn in a thread
``report``              the static HTML report folder
``grid``                one sample as a PNG grid, GIF or MP4
``render``              image helpers (overlay, boxes, stacking)
======================  ============================================================

Needs the ``view`` extra (``pip install "sparkle-data[view]"``) for the web app; the report
and the grid need only the core dependencies. See ``docs/view.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sparkle_data._lazy import lazy_exports

if TYPE_CHECKING:
    from sparkle_data.view.app import create_app
    from sparkle_data.view.grid import write_grid
    from sparkle_data.view.report import write_report
    from sparkle_data.view.server import serve_in_thread

__all__ = ["create_app", "serve_in_thread", "write_grid", "write_report"]

_HOME: dict[str, str] = {
    "create_app": "app",
    "serve_in_thread": "server",
    "write_grid": "grid",
    "write_report": "report",
}

lazy_exports(__name__, _HOME)
