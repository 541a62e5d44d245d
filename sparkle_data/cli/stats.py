"""``sparkle-data stats``: the rejection funnel per edit type, as a table, CSV/JSON and PNGs."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any, Final

from sparkle_data.cli._common import (
    UsageError,
    add_json,
    add_population,
    add_quiet,
    add_root,
    choice,
    command_parser,
    emit,
    open_catalog,
    unknown,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["format_funnel", "register"]

DESCRIPTION: Final = """\
Rejection statistics of the Sparkle pipeline, from its record files (no video is read):
for each edit type and each quality stage of a preset (Stage 2 edited frame 0 overall,
Stage 3 foreground-removed overall, Stage 5 mean video O_score), how many ids reached the
stage, how many it removed in pipeline order and alone, and how many the records show as
rejected there. Missing or non-finite scores never pass a rule; they are counted apart
("missing") from real scores below the threshold ("below").

The population is every id that entered the pipeline (a line in edited_frame0_score.jsonl):
the released corpus plus the ids rejected at each stage. With the paper preset the kept
count equals the corpus and the removed counts equal the observed rejections.

--plots DIR writes funnel.csv, funnel.json, funnel.png and one score histogram per stage
(hist_*.png, thresholds drawn) into DIR (matplotlib needed).
"""

EPILOG: Final = """\
examples:
  sparkle-data stats ./Sparkle
  sparkle-data stats ./Sparkle --plots ./stats            tables and PNGs
  sparkle-data stats ./Sparkle --preset strict --by subtheme --json -
  sparkle-data stats hf://datasets/stdKonjac/Sparkle --edit-types location
"""

_TEXT_LEFT_OUT: Final = frozenset(
    {"rule", "removed_alone_missing", "removed_alone_below"}
    | {"share_removed_in_sequence", "share_removed_alone"}
)
"""Funnel columns the text table leaves out (the CSV/JSON files keep them)."""
_HEADERS: Final = {
    "removed_in_sequence": "removed",
    "removed_in_sequence_missing": "missing",
    "removed_in_sequence_below": "below",
    "removed_alone": "alone",
    "observed_rejected": "observed",
}


def register(sub: Any) -> None:
    p = command_parser(
        sub,
        "stats",
        help="rejection funnel per edit type and stage (table, CSV/JSON, PNG plots)",
        description=DESCRIPTION,
        epilog=EPILOG,
    )
    add_root(p)
    p.add_argument(
        "--preset",
        type=choice("preset", ("paper", "strict", "loose")),
        default="paper",
        help="thresholds of the stages (default: paper 8 / 8.5 / 8)",
    )
    add_population(
        p,
        ("entered", "corpus", "all"),
        "rows counted (default: every id that entered the pipeline)",
    )
    p.add_argument(
        "--by",
        default="edit_type",
        metavar="COLUMN",
        help="group rows by this catalog column, or 'none' (default: edit_type)",
    )
    p.add_argument("--plots", metavar="DIR", help="write funnel.csv/json/png and histograms here")
    add_json(p, "the funnel")
    add_quiet(p)
    p.set_defaults(func=run_stats)


def format_funnel(funnel: pd.DataFrame) -> str:
    """The funnel as a fixed-width text table (group, stage, counts)."""
    from sparkle_data.filters.funnel import FUNNEL_COLUMNS

    group = str(funnel.columns[0])
    shown = (c for c in FUNNEL_COLUMNS if c not in _TEXT_LEFT_OUT)
    cols = [group, *(c for c in shown if c in funnel.columns)]
    header = [_HEADERS.get(c, c) for c in cols]
    rows = [
        ["" if v is None or (isinstance(v, float) and v != v) else str(v) for v in rec]
        for rec in funnel[cols]
        .astype(object)
        .where(funnel[cols].notna(), None)
        .itertuples(index=False)
    ]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    text_cols = {0, cols.index("stage")}

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.ljust(w) if i in text_cols else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    return "\n".join([line(header), *(line(r) for r in rows)])


def run_stats(args: argparse.Namespace) -> int:
    from sparkle_data.filters import funnel_table, get_preset
    from sparkle_data.filters.stats import funnel_to_json

    catalog = open_catalog(args, index_shards=False)
    preset = get_preset(args.preset)
    by = None if args.by == "none" else args.by
    columns = [str(c) for c in catalog.table.columns]
    if by is not None and by not in columns:
        raise UsageError(unknown("--by column", by, ["none", *columns]))
    if not catalog.inventory.records:
        raise UsageError(
            f"no pipeline record files under {catalog.root}: the funnel is computed from "
            "intermediate_data/{edit_type}/*.jsonl (download them, see docs/quickstart.md)."
        )
    if args.plots:
        from sparkle_data.filters import write_stats

        try:
            files = write_stats(
                catalog, args.plots, stages=preset, population=args.population, by=by
            )
        except ImportError as e:
            print(f"sparkle-data stats: error: {e}", file=sys.stderr)
            return 1
        funnel = files.funnel
    else:
        funnel = funnel_table(catalog, preset, population=args.population, by=by)
    where = f"{catalog.root} ({preset.describe()}, population {args.population})"
    written = [f"wrote {path}" for path in files.paths] if args.plots else []
    emit(
        args.json,
        lambda: funnel_to_json(funnel, preset, population=args.population),
        lambda: "\n".join([f"rejection funnel of {where}", format_funnel(funnel), *written]),
    )
    return 0
