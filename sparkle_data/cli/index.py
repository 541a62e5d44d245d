"""``sparkle-data index``: build (and optionally publish) tar member indexes."""

from __future__ import annotations

import argparse
from typing import Any

from sparkle_data.cli._common import (
    UsageError,
    add_quiet,
    add_source,
    add_workers,
    command_parser,
    retry_policy,
)

DESCRIPTION = """\
Index every tar shard under ROOT by reading only its 512-byte headers (member data is seeked
over), so that any member can later be read with one ranged read. Indexes are cached under
the user cache dir ($SPARKLE_DATA_CACHE overrides it) and reused while the shard's size (and
etag or sha256) is unchanged.

With --out, all indexes are also written into one combined, versioned index file: publish it
as indexes/sparkle.sparkle-index at the root and every reader (SparkleDataset, load_dataset,
the CLI) uses it automatically, trusting each entry whose shard size (and sha256) matches the
root's listing: no shard is rescanned, no request is made per shard.

With --checksums (local roots), each member's CRC-32 is stored too (index format version 2):
every member read through that index is then verified, and a mismatch is read again, then
fails with an IntegrityError naming the sample and the member.
"""

EPILOG = """\
examples:
  sparkle-data index ./Sparkle
  sparkle-data index ./Sparkle --out ./Sparkle/indexes/sparkle.sparkle-index
  sparkle-data index ./Sparkle --checksums --out ./Sparkle/indexes/sparkle.sparkle-index
  sparkle-data index http://127.0.0.1:8000/Sparkle --retries 2 --timeout 10
  sparkle-data index hf://datasets/stdKonjac/Sparkle --edit-types location --workers 16
"""


def register(sub: Any) -> None:
    p = command_parser(
        sub,
        "index",
        help="build tar member indexes (header reads only)",
        description=DESCRIPTION,
        epilog=EPILOG,
    )
    add_source(p)  # no catalog is built: --index-file, --skip-bad, --duplicates do not apply
    p.add_argument("--out", metavar="FILE", help="also write one combined index file here")
    p.add_argument("--refresh", action="store_true", help="rebuild even when cached")
    p.add_argument(
        "--checksums",
        action="store_true",
        help="store each member's CRC-32 (reads every byte; local roots only), verified on "
        "every read through the index",
    )
    add_workers(p, "parallel shards for remote roots (default 8)", default=8)
    add_quiet(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from sparkle_data.catalog.inventory import require_pieces, scan_inventory
    from sparkle_data.catalog.startup import start_root
    from sparkle_data.io import fs as sfs
    from sparkle_data.io.index import add_checksums, build_indexes, write_indexes
    from sparkle_data.io.remote import HTTPRangeFileSystem
    from sparkle_data.layout import EDIT_TYPES

    fs, base = sfs.resolve(args.root)
    if args.checksums and not sfs.is_local(fs):
        raise UsageError(
            f"--checksums needs the shards' bytes on this machine; {args.root} is remote. "
            "Download the shards, index them locally and publish the index."
        )
    policy = retry_policy(args)
    if policy is not None and isinstance(fs, HTTPRangeFileSystem):
        fs = HTTPRangeFileSystem(policy.retries, policy.backoff, policy.timeout)
    files = None
    if not sfs.is_local(fs):
        started = start_root(
            fs, base, edit_types=args.edit_types or EDIT_TYPES, index_shards=False, cache=False
        )
        base, files = started.base, started.files
    inv = scan_inventory(base, edit_types=args.edit_types, files=files, fs=fs)
    require_pieces(inv, fs, args.root)
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
    if args.checksums:
        indexes = [
            add_checksums(ix, sfs.join(base, rel), fs=fs)
            for ix, rel in zip(indexes, rels, strict=True)
        ]
    members = sum(len(ix) for ix in indexes)
    size = sum(ix.shard_size for ix in indexes)
    print(f"indexed {len(indexes)} shards, {members} members, {size / 2**30:.2f} GiB")
    if args.out:
        write_indexes(args.out, indexes)
        print(f"wrote {args.out}")
    return 0
