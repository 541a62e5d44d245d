"""The streaming ``datasets.IterableDataset`` over a catalog (see :func:`load_dataset`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sparkle_data.hf.features import sparkle_features
from sparkle_data.hf.rows import RowGenerator, RowSpec

if TYPE_CHECKING:
    from sparkle_data.catalog import Catalog

__all__ = ["iterable_dataset"]


def iterable_dataset(
    catalog: Catalog,
    groups: Mapping[str, Sequence[str]],
    spec: RowSpec,
    *,
    split: str = "train",
) -> Any:
    """``IterableDataset.from_generator`` with ``gen_kwargs={"shard_ids": [group names]}``:
    ``n_shards == len(groups)``. Rows are lazy (file columns read when ``datasets`` first
    touches the row), so skipped rows (``skip``, resuming, node splitting by examples) cost no
    I/O."""
    from datasets import IterableDataset

    if not groups:
        groups = {"empty": ()}
    gen = RowGenerator(catalog, groups, spec, lazy=True)
    return IterableDataset.from_generator(
        gen,
        features=sparkle_features(spec),
        gen_kwargs={"shard_ids": list(groups)},
        split=split,
    )
