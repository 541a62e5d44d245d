"""Sample ids grouped by the shard that holds them, for read locality.

One grouping for every front end: :class:`~sparkle_data.dataset.SparkleDataset` shuffles whole
groups then within blocks, and :func:`~sparkle_data.hf.load_dataset` makes one generator shard
per group, so a worker reads neighbouring members of one tar file instead of jumping between
files.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from sparkle_data.layout import ARTIFACTS, parse_sample_id

if TYPE_CHECKING:
    from sparkle_data.catalog.model import Catalog

__all__ = ["group_ids"]


def _edit_type(sample_id: str) -> str:
    return parse_sample_id(sample_id).edit_type


def group_ids(
    catalog: Catalog,
    ids: Sequence[str],
    fields: Sequence[str],
    *,
    num_shards: int | None = None,
) -> dict[str, list[str]]:
    """``ids`` of ``catalog`` grouped for locality.

    The key is the shard holding the first requested file field (an artifact of
    :data:`~sparkle_data.layout.ARTIFACTS`; other fields are ignored): ``{edit_type}/{field}
    (loose files)`` for a loose file, ``{edit_type}/{field} (missing)`` for none, the edit
    type when no file field is requested. Groups are sorted by key, ids sorted within.

    With ``num_shards``, that order is cut into exactly ``num_shards`` contiguous chunks
    ``chunk-{i}-of-{n}`` (some empty when there are fewer ids), e.g. a multiple of
    ``world_size * num_workers``.
    """
    first = next((f for f in fields if f in ARTIFACTS), None)
    groups: dict[str, list[str]] = {}
    if first is None or not len(ids):
        for sid in ids:
            groups.setdefault(_edit_type(sid), []).append(sid)
    else:
        t = catalog.table.loc[list(ids)]
        n = len(t)
        files = t[f"{first}_file"].tolist() if f"{first}_file" in t else [None] * n
        shards = t[f"{first}_shard"].tolist() if f"{first}_shard" in t else [None] * n
        for sid, loose, shard in zip(t.index.tolist(), files, shards, strict=True):
            if isinstance(loose, str):
                key = f"{_edit_type(sid)}/{first} (loose files)"
            elif isinstance(shard, str):
                key = shard
            else:
                key = f"{_edit_type(sid)}/{first} (missing)"
            groups.setdefault(key, []).append(str(sid))
    ordered = {k: sorted(groups[k]) for k in sorted(groups)}
    if num_shards is None:
        return ordered
    if isinstance(num_shards, bool) or not isinstance(num_shards, int) or num_shards < 1:
        raise ValueError(f"Invalid num_shards {num_shards!r}: must be an int >= 1.")
    flat = [sid for group in ordered.values() for sid in group]
    bounds = np.linspace(0, len(flat), num_shards + 1).round().astype(int)
    width = len(str(num_shards - 1))
    return {
        f"chunk-{i:0{width}d}-of-{num_shards}": flat[bounds[i] : bounds[i + 1]]
        for i in range(num_shards)
    }
