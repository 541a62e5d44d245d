"""``sparkle-data verify``: cross-artifact audit with a non-zero exit code on problems."""

from __future__ import annotations

import argparse
from typing import Any

from sparkle_data.cli._common import add_root, open_catalog, write_json

DESCRIPTION = """\
Audit a dataset root: ids missing or orphaned between the prompts CSV, the metadata JSONL,
the five record files and every tar/loose artifact family; unreadable rows (counted, with
examples); truncated shards, shards that disagree with a published index (--index-file) or
with their sha256 (--sha256, reads every byte). Ids present only in record files are samples
the pipeline rejected: they are reported as notes, not problems.

Exit code: 0 when no problem was found, 1 otherwise, 2 when ROOT holds no Sparkle piece
(nothing to verify is never OK) or an option is wrong. The OK line says what was checked.
"""

EPILOG = """\
examples:
  sparkle-data verify ./Sparkle
  sparkle-data verify ./Sparkle --index-file indexes/sparkle.sparkle-index --json report.json
  sparkle-data verify hf://datasets/stdKonjac/Sparkle --edit-types time --sha256
"""


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "verify",
        help="audit ids, records and shards; exit 1 on problems",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_root(p)
    p.add_argument("--json", metavar="FILE", help="write the report as JSON (- for stdout)")
    p.add_argument("--sha256", action="store_true", help="hash shards against known sha256")
    p.add_argument(
        "--no-rescan", action="store_true", help="do not rescan shard headers against indexes"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from sparkle_data.catalog.verify import verify_catalog

    catalog = open_catalog(args, on_error="skip", progress=False)
    report = verify_catalog(
        catalog, index_file=args.index_file, check_shards=not args.no_rescan, sha256=args.sha256
    )
    if args.json:
        write_json(report.to_dict(), args.json)
    if args.json != "-":
        print(report)
    return 0 if report.ok else 1
