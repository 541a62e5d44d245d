"""Arguments shared by several subcommands."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from sparkle_data.layout import EDIT_TYPES


def add_root(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "root",
        metavar="ROOT",
        help="dataset root: a local folder (downloaded repo or extracted tree), "
        "hf://datasets/stdKonjac/Sparkle[@revision], or an https:// URL",
    )
    parser.add_argument(
        "--edit-types",
        nargs="+",
        choices=EDIT_TYPES,
        metavar="T",
        help=f"only these edit types (default: all of {', '.join(EDIT_TYPES)})",
    )
    parser.add_argument(
        "--index-file",
        metavar="FILE",
        help="a published member index (from `sparkle-data index --out`): shards it "
        "describes are not rescanned",
    )
    parser.add_argument(
        "--no-cache", action="store_true", help="do not read or write the index cache"
    )


def write_json(data: Any, dest: str) -> None:
    text = json.dumps(data, indent=2, default=str)
    if dest == "-":
        sys.stdout.write(text + "\n")
    else:
        from sparkle_data.io.atomic import atomic_write_text

        atomic_write_text(dest, text + "\n")
