"""``sparkle-data view``: a local, read-only web viewer over a dataset root."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from sparkle_data.cli._common import (
    UsageError,
    add_quiet,
    add_root,
    add_scope,
    command_parser,
    open_scoped,
)

DESCRIPTION = """\
Serve a local, read-only web viewer over a dataset root (local shards, an extracted tree,
previews, hf:// or https://): a gallery with paging, filters (theme, subtheme, scene,
keyword, any filter expression), sorting by any score and status badges; a page per sample
with the source and edited videos played in sync, the background and Canny videos, the mask
overlaid on the source (toggle, opacity), the round-1 and round-2 boxes, the prompt and every
score with pass/fail against the preset. Video bytes are served with HTTP Range support
straight from the tar members (only the members of the samples on screen are read).
Needs the `view` extra: pip install "sparkle-data[view]".
"""

EPILOG = """\
examples:
  sparkle-data view ./Sparkle                              http://127.0.0.1:8765/
  sparkle-data view ./Sparkle --preset paper --edit-types time
  sparkle-data view ./Sparkle --where "video_min_o_score >= 7.5 and subtheme in ['night']"
  sparkle-data view hf://datasets/stdKonjac/Sparkle --edit-types location --port 9000
  deep links: /sample/Sparkle_time_000000, /?theme=time&sort=video_mean_o_score&order=desc
"""


def register(sub: Any) -> None:
    p = command_parser(
        sub,
        "view",
        help="a local web viewer: gallery, synced videos, masks, boxes, scores",
        description=DESCRIPTION,
        epilog=EPILOG,
    )
    add_root(p)
    add_scope(p)
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=8765, help="port (default: 8765; 0: any free)")
    p.add_argument("--per-page", type=int, default=24, metavar="N", help="gallery page size")
    p.add_argument(
        "--video-format",
        choices=("auto", "mp4", "webm"),
        default="auto",
        help="auto: H.264 MP4, VP9 WebM transcode for browsers without H.264 (default)",
    )
    add_quiet(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from sparkle_data.view.app import create_app
        from sparkle_data.view.server import is_loopback
    except ImportError as e:
        print(
            f'sparkle-data view: error: {e.name} is missing; pip install "sparkle-data[view]"',
            file=sys.stderr,
        )
        return 1
    catalog, scope, preset = open_scoped(args)  # no Sparkle piece at ROOT: exit 2
    if len(catalog) == 0:
        raise UsageError(f"no sample found under {args.root}")
    app = create_app(
        catalog,
        preset=preset,
        scope=scope,
        per_page=args.per_page,
        video_format=args.video_format,
    )
    if not is_loopback(args.host):
        print(
            f"sparkle-data view: warning: binding {args.host}: anyone who can reach this "
            "address can browse the data (the viewer has no authentication)",
            file=sys.stderr,
        )
    shown = f"[{args.host}]" if ":" in args.host else args.host
    print(f"{catalog!r}\nserving http://{shown}:{args.port}/  (Ctrl-C to stop)", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0
