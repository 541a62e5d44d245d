"""PyTorch datasets over Sparkle: streaming (sharded, resumable) and map-style.

See ``docs/train.md``.
"""

from sparkle_data.dataset.core import SparkleDataset, SparkleMapDataset, select_ids
from sparkle_data.dataset.fields import DEFAULT_FIELDS, FIELDS, Field
from sparkle_data.dataset.order import ResumeStateError, epoch_order, merge_states, stable_seed
from sparkle_data.dataset.sample import SampleLoader

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
    "stable_seed",
]
