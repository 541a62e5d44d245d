"""``sparkle-data index``: build (and optionally publish) tar member indexes."""

from __future__ import annotations

import argparse
from typing import Any

from sparkle_data.cli._common import UsageError, add_root, int_at_least, require_dataset

DESCRIPTION = """\
Index every tar shard under ROOT by reading only its 512-byte headers (member data is seeked
over), so that any member can later be read with one ranged read. Indexes are cached under
the user cache dir ($SPARKLE_DATA_CACHE overrides it) and reused while the shard's size (and
etag or sha256) is unchanged.

With --out, all indexes are also written into one combined, versioned index file: publish it
next to the data so nobody has to rescan 5 GB shards (pass it back with --index-file).
"""

EPILOG = """\
examples:
  sparkle-data index ./Sparkle
  sparkle-data index ./Sparkle --out ./Sparkle/indexes/sparkle.sparkle-index
  sparkle-data index hf://datasets/stdKonjac/Sparkle --edit-types location --workers 16
"""


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "index",
        help="build tar member indexes (header reads only)",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_root(p)
    p.add_argument("--out", metavar="FILE", help="also write one combined index file here")
    p.add_argument("--refresh", action="store_true", help="rebuild even when cached")
    p.add_argument(
        "--workers", type=int_at_least(1), default=8, help="parallel shards for remote roots"
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from sparkle_data.catalog.inventory import scan_inventory
    from sparkle_data.io import fs as sfs
    from sparkle_data.io.index import build_indexes, write_indexes

    fs, base = sfs.resolve(args.root)
    inv = scan_inventory(base, edit_types=args.edit_types, fs=fs)
    require_dataset(args.root, inv)
    rels = sorted(inv.shards)
    if not rels:
        raise UsageError(
            f"no tar shards under {inv.root} (for {', '.join(inv.edit_types)}): nothing to "
            "index. Shards are named {edit_type}_{artifact}_partXX.tar."
        )
    indexes = build_indexes(
        [sfs.join(base, r) for r in rels],
        fs=fs,
        max_workers=args.workers,
        progress=not args.quiet,
        cache=not args.no_cache,
        refresh=args.refresh,
    )
    members = sum(len(ix) for ix in indexes)
    size = sum(ix.shard_size for ix in indexes)
    print(f"indexed {len(indexes)} shards, {members} members, {size / 2**30:.2f} GiB")
    if args.out:
        write_indexes(args.out, indexes)
        print(f"wrote {args.out}")
    return 0
