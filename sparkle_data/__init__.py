"""sparkle-data: readers, catalog and PyTorch datasets for the Sparkle dataset.

This facade exports only the names a training script starts with (``build_catalog``,
``Catalog``, ``SparkleDataset``, ``SparkleMapDataset``) and the roots of the error and warning
trees; they are imported on first use, so ``import sparkle_data`` stays fast. Every other name
is documented under its package: ``layout`` (naming rules), ``io`` (safe tar, member index,
remote reads), ``readers`` (one module per artifact), ``sampling``, ``catalog``, ``dataset``,
``hf``, ``filters``, ``export``, ``regen``, ``testing``; errors and warnings under ``errors``.
See ``docs/architecture.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sparkle_data._lazy import lazy_exports
from sparkle_data._version import __version__

if TYPE_CHECKING:
    from sparkle_data.catalog import Catalog, build_catalog
    from sparkle_data.dataset import SparkleDataset, SparkleMapDataset
    from sparkle_data.errors import SparkleError, SparkleWarning

_HOME: dict[str, str] = {
    "Catalog": "catalog",
    "build_catalog": "catalog",
    "SparkleDataset": "dataset",
    "SparkleMapDataset": "dataset",
    "SparkleError": "errors",
    "SparkleWarning": "errors",
}

__all__ = [
    "Catalog",
    "SparkleDataset",
    "SparkleError",
    "SparkleMapDataset",
    "SparkleWarning",
    "__version__",
    "build_catalog",
]

lazy_exports(__name__, _HOME)
