"""``sparkle-data verify``: cross-artifact audit with a non-zero exit code on problems."""

from __future__ import annotations

import argparse
from typing import Any

from sparkle_data.cli._common import (
    UsageError,
    add_json,
    add_quiet,
    add_root,
    add_workers,
    command_parser,
    emit,
    open_catalog,
)

DESCRIPTION = """\
Audit a dataset root: ids missing or orphaned between the prompts CSV, the metadata JSONL,
the five record files and every tar/loose artifact family; unreadable rows (counted, with
examples); truncated shards, shards that disagree with a published index (--index-file) or
with their sha256 (--sha256, reads every byte); ids held twice for one artifact (two shards,
or a loose file and a member of another size). Ids present only in record files are samples
the pipeline rejected: they are reported as notes, not problems.

--deep also looks inside every artifact of every sample: MP4 container, stream, frame count
against the file's packets (a file truncated after its header), first frame; PNG header,
CRCs and decode; mask NPZ strict parse (members, no object arrays, shape vs packed bits,
inflated vs declared sizes); a loose file against the member it shadows; mask shape and
edited videos against the source video (frames, size; 1280x704 Kiwi-Edit outputs of a
1280x720 source are allowed); grounding boxes inside the source frame. Problems are
listed per sample (all of them in --json). --state FILE makes a long run resumable.

Exit code: 0 when no problem was found, 1 otherwise, 2 when ROOT holds no Sparkle piece
(nothing to verify is never OK) or an option is wrong. The OK line says what was checked.
"""

EPILOG = """\
examples:
  sparkle-data verify ./Sparkle
  sparkle-data verify ./Sparkle --index-file indexes/sparkle.sparkle-index --json report.json
  sparkle-data verify hf://datasets/stdKonjac/Sparkle --edit-types time --sha256
  sparkle-data verify ./Sparkle --deep --workers 8 --state verify-state.jsonl --json deep.json
"""


def register(sub: Any) -> None:
    p = command_parser(
        sub,
        "verify",
        help="audit ids, records and shards; exit 1 on problems",
        description=DESCRIPTION,
        epilog=EPILOG,
    )
    add_root(p)
    add_json(p, "the report")
    p.add_argument("--sha256", action="store_true", help="hash shards against known sha256")
    p.add_argument(
        "--no-rescan", action="store_true", help="do not rescan shard headers against indexes"
    )
    p.add_argument(
        "--deep", action="store_true", help="check every artifact's bytes (see above)"
    )
    add_workers(p, "threads for --deep (default 1)", default=1)
    p.add_argument(
        "--state",
        metavar="FILE",
        help="--deep journal (JSONL, appended): samples it lists are not checked again",
    )
    add_quiet(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from sparkle_data.catalog.verify import verify_catalog

    if args.state and not args.deep:
        raise UsageError("--state only applies to --deep")
    catalog = open_catalog(
        args, on_error="skip", progress=False, duplicates=args.duplicates or "first"
    )
    report = verify_catalog(
        catalog,
        index_file=args.index_file,
        check_shards=not args.no_rescan,
        sha256=args.sha256,
        deep=args.deep,
        workers=args.workers,
        progress=args.deep and not args.quiet,
        state=args.state,
    )
    emit(args.json, report.to_dict, lambda: str(report))
    return 0 if report.ok else 1
