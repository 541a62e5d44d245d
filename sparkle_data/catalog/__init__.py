"""The catalog: one table with one row per sample for a dataset root.

See ``docs/catalog.md``.
"""

from sparkle_data.catalog.inventory import Inventory, scan_inventory
from sparkle_data.catalog.model import ArtifactLocation, Catalog, build_catalog
from sparkle_data.catalog.select import select_ids
from sparkle_data.catalog.table import METADATA_COLUMNS, PIPELINE_ORDER, SCORE_COLUMNS

__all__ = [
    "METADATA_COLUMNS",
    "PIPELINE_ORDER",
    "SCORE_COLUMNS",
    "ArtifactLocation",
    "Catalog",
    "Inventory",
    "build_catalog",
    "scan_inventory",
    "select_ids",
]
