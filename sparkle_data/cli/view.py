"""``sparkle-data view``: a local, read-only web viewer over a dataset root."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from sparkle_data.cli._common import UsageError, add_root, open_catalog

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


def add_scope(p: argparse.ArgumentParser) -> None:
    """``--where`` / ``--preset`` (mutually exclusive), shared with ``report``."""
    g = p.add_mutually_exclusive_group()
    g.add_argument("--where", metavar="EXPR", help="a filter expression (see docs/filters.md)")
    g.add_argument(
        "--preset",
        choices=("paper", "strict", "loose"),
        help="keep what this preset keeps, and judge scores against it (default judge: paper)",
    )


def scope_of(args: argparse.Namespace) -> tuple[Any, Any]:
    """``(filter or None, preset)`` from ``--where`` / ``--preset``."""
    from sparkle_data.filters import PAPER, get_preset, parse_filter

    if args.preset:
        preset = get_preset(args.preset)
        return preset, preset
    return (parse_filter(args.where) if args.where else None), PAPER


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "view",
        help="a local web viewer: gallery, synced videos, masks, boxes, scores",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
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
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
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
    scope, preset = scope_of(args)
    catalog = open_catalog(args, on_error="skip")  # no Sparkle piece at ROOT: exit 2
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
