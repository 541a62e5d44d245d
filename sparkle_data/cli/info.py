"""``sparkle-data info``: counts per edit type and artifact, coverage, score summaries."""

from __future__ import annotations

import argparse
from typing import Any

from sparkle_data.cli._common import (
    add_json,
    add_quiet,
    add_root,
    command_parser,
    emit,
    open_catalog,
)

DESCRIPTION = """\
Summarize a dataset root: corpus samples per edit type (rows of the prompts CSV), ids found
only in the pipeline records (samples rejected at a stage, by the last record holding them),
how many corpus samples each artifact covers (loose files or shard members), score
statistics against the paper's thresholds, and which pieces of the layout are absent.
Works with any subset of the pieces present. Unreadable rows are skipped and counted.
A ROOT holding no Sparkle piece at all is an error (exit 2) naming the nearest folder that
holds one (make-sample's OUT/Sparkle, a parent).
"""

EPILOG = """\
examples:
  sparkle-data info ./Sparkle
  sparkle-data info ./Sparkle --edit-types location time --json -
  sparkle-data info hf://datasets/stdKonjac/Sparkle --no-shards   prompts and records only
"""


def register(sub: Any) -> None:
    p = command_parser(
        sub,
        "info",
        help="counts, coverage and score summaries of a dataset root",
        description=DESCRIPTION,
        epilog=EPILOG,
    )
    add_root(p)
    add_json(p, "the summary")
    p.add_argument("--no-shards", action="store_true", help="do not index shards")
    add_quiet(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from sparkle_data.catalog.summary import format_summary, summarize_catalog

    catalog = open_catalog(args, index_shards=not args.no_shards, on_error="skip")
    summary = summarize_catalog(catalog)
    emit(args.json, lambda: summary, lambda: format_summary(summary))
    return 0
