"""``sparkle-data grid``: one sample as a frame grid (PNG) or an animation (GIF, MP4)."""

from __future__ import annotations

import argparse
from typing import Any

from sparkle_data.cli._common import add_root, command_parser, open_catalog, pick

DESCRIPTION = """\
Write one sample as a picture for papers and issues: a PNG grid (one row per frame, columns
source | edited | mask overlay | canny) or an animated side-by-side GIF or MP4. Columns whose
artifact is not in the root are left out. The output is deterministic.
"""

EPILOG = """\
examples:
  sparkle-data grid ./Sparkle Sparkle_time_000000 --out time0.png
  sparkle-data grid ./Sparkle Sparkle_time_000000 --out time0.png --frames 0 40 80 --height 240
  sparkle-data grid ./Sparkle Sparkle_time_000000 --out time0.gif --step 2
  sparkle-data grid ./Sparkle Sparkle_time_000000 --out time0.mp4 --columns source edited
"""


COLUMNS = ("source", "edited", "mask overlay", "canny")
"""``sparkle_data.view.grid.COLUMNS``, repeated so ``--help`` imports no numpy/Pillow."""


def register(sub: Any) -> None:
    p = command_parser(
        sub,
        "grid",
        help="one sample as a PNG frame grid or a GIF/MP4 side-by-side",
        description=DESCRIPTION,
        epilog=EPILOG,
    )
    add_root(p)
    p.add_argument("sample_id", metavar="ID", help="a sample id, e.g. Sparkle_time_000000")
    p.add_argument("--out", required=True, metavar="FILE", help="FILE.png, FILE.gif or FILE.mp4")
    p.add_argument("--frames", type=int, nargs="+", metavar="I", help="frame indices")
    p.add_argument("--num-frames", type=int, metavar="N", help="N frames evenly spread")
    p.add_argument("--height", type=int, metavar="PX", help="panel height in pixels")
    p.add_argument("--step", type=int, default=1, help="GIF/MP4: every STEP-th frame")
    p.add_argument(
        "--columns", nargs="+", choices=COLUMNS, default=list(COLUMNS), metavar="C",
        help=f"columns, from {', '.join(COLUMNS)} (quote 'mask overlay')",
    )  # fmt: skip
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from sparkle_data.view.grid import write_grid

    catalog = open_catalog(args, on_error="skip", progress=False)  # no Sparkle piece: exit 2
    options = pick(args, "frames", "num_frames", "height", "step", "columns")
    path = write_grid(catalog, args.sample_id, args.out, **options)
    print(f"wrote {path} ({path.stat().st_size} bytes)")
    return 0
