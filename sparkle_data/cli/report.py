"""``sparkle-data report``: a static HTML folder to share a look at a dataset root."""

from __future__ import annotations

import argparse
from typing import Any

from sparkle_data.cli._common import add_root, open_catalog
from sparkle_data.cli.view import add_scope, scope_of

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
    p: argparse.ArgumentParser = sub.add_parser(
        "report",
        help="a static HTML report: sampled previews per theme and statistics plots",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_root(p)
    add_scope(p)
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--per-theme", type=int, default=4, metavar="K", help="samples per theme")
    p.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from sparkle_data.view.report import write_report

    scope, preset = scope_of(args)
    catalog = open_catalog(args, on_error="skip")  # no Sparkle piece at ROOT: exit 2
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
