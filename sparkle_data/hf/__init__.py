"""Use Sparkle with 🤗 ``datasets``: streaming and map-style loading, published indexes.

* :func:`load_dataset`: a ``datasets.IterableDataset`` (streaming, sharded over workers and
  nodes, resumable with datasets' ``state_dict``) or a map-style ``datasets.Dataset`` built
  from only the downloaded shards the selection needs (verified against the Hub's sha256);
* :func:`fetch_indexes` / :func:`publish_indexes`: member indexes pinned to a revision, so a
  remote root is not scanned shard by shard;
* :func:`sparkle_features`: the ``datasets.Features`` of the rows.

Names are imported on first use (``import sparkle_data.hf`` does not import ``datasets``).
See ``docs/hf.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sparkle_data._lazy import lazy_exports

if TYPE_CHECKING:
    from sparkle_data.hf.download import CorruptDownloadWarning, download_files
    from sparkle_data.hf.features import sparkle_features
    from sparkle_data.hf.indexes import (
        DEFAULT_INDEX_PATH,
        DEFAULT_REPO,
        StaleIndexWarning,
        fetch_indexes,
        open_root,
        publish_indexes,
    )
    from sparkle_data.hf.load import load_dataset
    from sparkle_data.hf.rows import DEFAULT_FIELDS, METADATA_COLUMNS, SCORE_COLUMNS, RowSpec

_HOME: dict[str, str] = {
    "CorruptDownloadWarning": "download",
    "download_files": "download",
    "sparkle_features": "features",
    "DEFAULT_INDEX_PATH": "indexes",
    "DEFAULT_REPO": "indexes",
    "StaleIndexWarning": "indexes",
    "fetch_indexes": "indexes",
    "open_root": "indexes",
    "publish_indexes": "indexes",
    "load_dataset": "load",
    "DEFAULT_FIELDS": "rows",
    "METADATA_COLUMNS": "rows",
    "SCORE_COLUMNS": "rows",
    "RowSpec": "rows",
}

__all__ = [
    "DEFAULT_FIELDS",
    "DEFAULT_INDEX_PATH",
    "DEFAULT_REPO",
    "METADATA_COLUMNS",
    "SCORE_COLUMNS",
    "CorruptDownloadWarning",
    "RowSpec",
    "StaleIndexWarning",
    "download_files",
    "fetch_indexes",
    "load_dataset",
    "open_root",
    "publish_indexes",
    "sparkle_features",
]

lazy_exports(__name__, _HOME)
