"""A corpus-sized synthetic root with tiny members, for start-up tests and benchmarks.

:func:`make_scale_tree` writes the prompts CSVs of ``ids`` samples (spread over the edit
types) and the source/edited video shards holding them (``shards`` parts per family), with
members of 0 bytes except every ``payload_every``-th one (1 byte), so that 140,000 ids and
hundreds of shards fit in about 150 MB and are written in seconds (tar headers are built
directly). It exercises listing, indexing and start-up at full scale; nothing in it decodes.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

from sparkle_data.io.safetar import tar_header
from sparkle_data.layout import EDIT_TYPES, member_name, prompts_csv_path, shard_path

__all__ = ["ScaleTree", "make_scale_tree"]

_ARTIFACTS = ("source_video", "edited_video")


@dataclass(frozen=True)
class ScaleTree:
    root: Path
    ids: int
    shards: int
    """Shard files written (all families)."""
    first_id: str


def _member(name: str, size: int) -> bytes:
    head = tar_header(name, size, mtime=0)
    if not size:
        return head
    return head + b"\x01" + b"\0" * 511


def make_scale_tree(
    root: str | os.PathLike[str],
    *,
    ids: int = 140_000,
    shards: int = 20,
    edit_types: tuple[str, ...] = EDIT_TYPES,
    payload_every: int = 1000,
) -> ScaleTree:
    """Write the tree under ``root`` (see the module doc); ``shards`` parts per family."""
    base = Path(root)
    (base / "prompts").mkdir(parents=True, exist_ok=True)
    per_type = -(-ids // len(edit_types))
    written = 0
    first = ""
    count = 0
    for et in edit_types:
        n = min(per_type, ids - count)
        if n <= 0:
            break
        sids = [f"Sparkle_{et}_{i:06d}" for i in range(n)]
        first = first or sids[0]
        count += n
        with open(base / prompts_csv_path(et), "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["prompt", "src_video", "tgt_video", "task"])
            for sid in sids:
                w.writerow(
                    [
                        f"Replace the background ({sid}).",
                        member_name(sid, "source_video"),
                        member_name(sid, "edited_video"),
                        sid,
                    ]
                )
        step = -(-n // shards)
        for artifact in _ARTIFACTS:
            for part in range(shards):
                chunk = sids[part * step : (part + 1) * step]
                if not chunk:
                    break
                path = base / shard_path(et, artifact, part)
                path.parent.mkdir(parents=True, exist_ok=True)
                with open(path, "wb") as f:
                    for i, sid in enumerate(chunk, start=part * step):
                        size = 1 if i % payload_every == 0 else 0
                        f.write(_member(member_name(sid, artifact), size))
                    f.write(b"\0" * 1024)
                written += 1
    return ScaleTree(base, count, written, first)
