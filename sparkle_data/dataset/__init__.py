"""PyTorch datasets over Sparkle: streaming (sharded, resumable) and map-style.

Names are imported on first use (``torch`` is only loaded when a dataset class is used).
See ``docs/train.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sparkle_data._lazy import lazy_exports

if TYPE_CHECKING:
    from sparkle_data.dataset.core import SparkleDataset, SparkleMapDataset, select_ids
    from sparkle_data.dataset.fields import DEFAULT_FIELDS, FIELDS, Field
    from sparkle_data.dataset.order import (
        ResumeStateError,
        epoch_order,
        merge_states,
        slot_states,
        stable_seed,
    )
    from sparkle_data.dataset.sample import SampleLoader

_HOME = {
    "SparkleDataset": "core",
    "SparkleMapDataset": "core",
    "select_ids": "core",
    "DEFAULT_FIELDS": "fields",
    "FIELDS": "fields",
    "Field": "fields",
    "ResumeStateError": "order",
    "epoch_order": "order",
    "merge_states": "order",
    "slot_states": "order",
    "stable_seed": "order",
    "SampleLoader": "sample",
}

__all__ = [
    "DEFAULT_FIELDS",
    "FIELDS",
    "Field",
    "ResumeStateError",
    "SampleLoader",
    "SparkleDataset",
    "SparkleMapDataset",
    "epoch_order",
    "merge_states",
    "select_ids",
    "slot_states",
    "stable_seed",
]


if not TYPE_CHECKING:  # mypy sees the imports above, and no catch-all __getattr__
    __getattr__, __dir__ = lazy_exports(__name__, _HOME)
