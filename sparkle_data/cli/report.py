"""``sparkle-data report``: a static HTML folder to share a look at a dataset root."""

from __future__ import annotations

import argparse
from typing import Any

from sparkle_data.cli._common import add_quiet, add_root, add_scope, command_parser, open_scoped

DESCRIPTION = """\
Write a static HTML report (opens from disk, no server): a bounded, seeded sample per theme
(thumbnails, animated previews of source | edited | mask overlay, a page per sample with its
prompt, scores and round-1 boxes), the score histograms with the paper's thresholds, the
rejection funnel, and frame-count and label-count plots. The same seed gives the same files.
"""

EPILOG = """\
examples:
  sparkle-data report ./Sparkle --out report/
  sparkle-data report ./Sparkle --out report/ --per-theme 8 --seed 1 --preset paper
  sparkle-data report ./Sparkle --out report/ --where "subtheme in ['night', 'dusk']"
"""


def register(sub: Any) -> None:
    p = command_parser(
        sub,
        "report",
        help="a static HTML report: sampled previews per theme and statistics plots",
        description=DESCRIPTION,
        epilog=EPILOG,
    )
    add_root(p)
    add_scope(p)
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--per-theme", type=int, default=4, metavar="K", help="samples per theme")
    p.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    add_quiet(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from sparkle_data.view.report import write_report

    catalog, scope, preset = open_scoped(args)  # no Sparkle piece at ROOT: exit 2
    files = write_report(
        catalog,
        args.out,
        per_theme=args.per_theme,
        where=scope,
        seed=args.seed,
        preset=preset,
        progress=not args.quiet,
    )
    print(f"wrote {files.index} ({len(files.sample_ids)} samples, {len(files.files)} files)")
    return 0
