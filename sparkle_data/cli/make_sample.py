"""``sparkle-data make-sample``: write a synthetic Sparkle tree to test pipelines on."""

from __future__ import annotations

import argparse
import os
import re
import sys
from typing import Any, Final

from sparkle_data.cli._common import (
    add_quiet,
    choice,
    command_parser,
    int_at_least,
    pick,
    positive_int,
)
from sparkle_data.layout import EDIT_TYPES

__all__ = ["parse_size", "register"]

DESCRIPTION: Final = """\
Write a synthetic Sparkle tree: the complete layout of the dataset card, small and
byte-deterministic, to test data pipelines offline.

OUT/Sparkle/ gets, for each edit type, prompts/{t}_train.csv and its metadata JSONL, corpus
tar shards {t}_{source_video,edited_video}_partXX.tar, intermediate shards for the six
pipeline artifacts under intermediate_data/, loose preview files for the first samples, and
the five pipeline record JSONL files. Those records also hold ids rejected at each score
threshold (frame0 overall < 8, foreground-removed overall < 8.5, video mean O_score < 8), which
are absent from the CSV, as on the real data. OUT/Sparkle-Bench/ gets the benchmark layout for
location, season, time and style.

Videos are real H.264 MP4s (16 fps, yuv420p, 69-81 frames): a striped figure moving over a
backdrop; the edited video keeps the figure over a new backdrop, and the mask, boxes, frames,
background and edge videos all agree with it. The same options and seed give the same bytes.

OUT must be empty, missing, or a tree made by an earlier make-sample run (which is replaced).
"""

EPILOG: Final = """\
examples:
  sparkle-data make-sample /tmp/sparkle
      all five edit types, 6 samples each, 96x54 frames (a few seconds)
  sparkle-data make-sample /tmp/sparkle --edit-types location openve3m --samples 20
  sparkle-data make-sample /tmp/sparkle --preset real --edit-types time --samples 2
      1280x720 like the real clips (about 8 s per sample)
  sparkle-data make-sample /tmp/sparkle --shard-size 32K --aligned-shards --no-bench

then, as the card describes:
  cd /tmp/sparkle/Sparkle && for f in *.tar; do tar -xf "$f"; done
  cd intermediate_data && for f in *.tar; do tar -xf "$f"; done

Python: sparkle_data.testing.make_sample_tree(out, ...) does the same and returns a summary.
"""

_SIZE_RE: Final = re.compile(r"(?i)\s*([0-9]+(?:\.[0-9]+)?)\s*([kmgt]?)(i?b?)\s*")
_UNITS: Final = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def parse_size(text: str) -> int:
    """``"5G"``, ``"64KiB"``, ``"1.5M"``, ``"4096"`` -> bytes (binary units)."""
    m = _SIZE_RE.fullmatch(text)
    if m is None or (m.group(3) and not m.group(2) and m.group(3).lower() != "b"):
        raise argparse.ArgumentTypeError(
            f"invalid size {text!r}: use bytes or a number with K, M, G (e.g. 64K, 5G)"
        )
    value = int(float(m.group(1)) * _UNITS[m.group(2).lower()])
    if value <= 0:
        raise argparse.ArgumentTypeError(f"invalid size {text!r}: must be > 0")
    return value


def register(subparsers: Any) -> None:
    p = command_parser(
        subparsers,
        "make-sample",
        help="write a synthetic Sparkle (+ Sparkle-Bench) tree",
        description=DESCRIPTION,
        epilog=EPILOG,
    )
    p.add_argument("out", metavar="OUT", help="output directory (empty, new, or a sample tree)")
    p.add_argument(
        "--edit-types",
        "--themes",
        dest="edit_types",
        nargs="+",
        type=choice("edit type", EDIT_TYPES),
        default=list(EDIT_TYPES),
        metavar="T",
        help=f"edit types to build (default: all five: {', '.join(EDIT_TYPES)})",
    )
    p.add_argument(
        "--samples",
        type=positive_int,
        default=6,
        metavar="N",
        help="corpus samples per edit type, i.e. CSV rows (default: %(default)s)",
    )
    p.add_argument(
        "--preset",
        type=choice("preset", ("tiny", "real")),
        default="tiny",
        help="tiny: 96x54 frames; real: 1280x720 as the real clips (default: %(default)s)",
    )
    p.add_argument("--seed", type=int_at_least(0), default=0, help="random seed (default: 0)")
    p.add_argument(
        "--shard-size",
        type=parse_size,
        default=None,
        metavar="SIZE",
        help="maximum bytes per tar shard, e.g. 64K, 5M, 5G (default: 96K tiny, 8M real)",
    )
    p.add_argument(
        "--aligned-shards",
        action="store_true",
        help="cut all shard families by size alone (default: every other family starts "
        "with a half shard so source and edited shards end at different samples)",
    )
    p.add_argument(
        "--bench",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also write OUT/Sparkle-Bench (default: yes)",
    )
    p.add_argument(
        "--preview-count",
        type=int_at_least(0),
        default=None,
        metavar="K",
        help="samples per edit type also stored loose in preview folders (default: 3; the "
        "real dataset has 100)",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="build even if OUT holds other files (they are kept; a Sparkle/ or "
        "Sparkle-Bench/ folder not made by make-sample is never overwritten)",
    )
    add_quiet(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from sparkle_data.testing import make_sample_tree

    try:
        summary = make_sample_tree(
            args.out,
            **pick(args, "edit_types", "samples", "preset", "seed", "preview_count"),
            **pick(args, "shard_size", "bench", "force"),
            misaligned_shards=not args.aligned_shards,
            progress=not args.quiet,
        )
    except (FileExistsError, NotADirectoryError, ValueError) as e:
        print(f"sparkle-data make-sample: error: {e}", file=sys.stderr)
        return 1
    print(summary)
    root = os.path.join(args.out, "Sparkle")
    print(f"\nthe dataset root is {root}: try `sparkle-data info {root}`")
    return 0
