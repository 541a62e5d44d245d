"""PyTorch datasets over Sparkle: streaming (sharded, resumable) and map-style.

Names are imported on first use (``torch`` is only loaded when a dataset class is used).
See ``docs/train.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sparkle_data._lazy import lazy_exports

if TYPE_CHECKING:
    from sparkle_data.dataset.core import SparkleDataset, SparkleMapDataset
    from sparkle_data.dataset.fields import DEFAULT_FIELDS, FIELDS, Field
    from sparkle_data.dataset.fullpass import FullPassStats, FullPassWarning, SparkleFullPass
    from sparkle_data.dataset.order import (
        ResumeStateError,
        epoch_order,
        merge_states,
        slot_states,
        stable_seed,
    )
    from sparkle_data.dataset.readahead import ReadAhead
    from sparkle_data.dataset.sample import SampleLoader

_HOME = {
    "SparkleDataset": "core",
    "SparkleMapDataset": "core",
    "DEFAULT_FIELDS": "fields",
    "FIELDS": "fields",
    "Field": "fields",
    "ResumeStateError": "order",
    "epoch_order": "order",
    "merge_states": "order",
    "slot_states": "order",
    "stable_seed": "order",
    "SampleLoader": "sample",
    "FullPassStats": "fullpass",
    "FullPassWarning": "fullpass",
    "SparkleFullPass": "fullpass",
    "ReadAhead": "readahead",
}

__all__ = [
    "DEFAULT_FIELDS",
    "FIELDS",
    "Field",
    "FullPassStats",
    "FullPassWarning",
    "ReadAhead",
    "ResumeStateError",
    "SampleLoader",
    "SparkleDataset",
    "SparkleFullPass",
    "SparkleMapDataset",
    "epoch_order",
    "merge_states",
    "slot_states",
    "stable_seed",
]

lazy_exports(__name__, _HOME)
