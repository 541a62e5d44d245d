"""sparkle-data: readers, catalog and PyTorch datasets for the Sparkle dataset.

The names below are the curated public API; they are imported on first use, so
``import sparkle_data`` stays fast. Subpackages hold the rest: ``layout`` (naming rules),
``readers`` (one module per artifact), ``io`` (safe tar, member index, remote reads),
``catalog``, ``sampling``, ``dataset``, ``testing`` (synthetic trees, loopback servers).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sparkle_data._lazy import lazy_exports
from sparkle_data._version import __version__

if TYPE_CHECKING:
    from sparkle_data.catalog import Catalog, build_catalog
    from sparkle_data.dataset import SparkleDataset, SparkleMapDataset, merge_states
    from sparkle_data.errors import (
        CorruptArtifactError,
        CorruptImageError,
        CorruptMaskError,
        CorruptRecordError,
        CorruptVideoError,
        IntegrityError,
        JoinError,
        LayoutError,
        MissingArtifactError,
        RemoteError,
        SparkleError,
        UnsafeArchiveError,
    )
    from sparkle_data.layout import (
        ARTIFACTS,
        EDIT_TYPES,
        SampleId,
        artifact_relpath,
        member_name,
        parse_sample_id,
        shard_path,
    )
    from sparkle_data.policy import SkipReport
    from sparkle_data.readers.grounding import normalize_bbox
    from sparkle_data.readers.mask import read_mask, write_mask
    from sparkle_data.readers.video import probe_video, read_video
    from sparkle_data.sampling import FrameSampler, Resize, collate_pad

_HOME: dict[str, str] = {
    "Catalog": "catalog",
    "build_catalog": "catalog",
    "SparkleDataset": "dataset",
    "SparkleMapDataset": "dataset",
    "merge_states": "dataset",
    "FrameSampler": "sampling",
    "Resize": "sampling",
    "collate_pad": "sampling",
    "SkipReport": "policy",
    "normalize_bbox": "readers.grounding",
    "read_mask": "readers.mask",
    "write_mask": "readers.mask",
    "probe_video": "readers.video",
    "read_video": "readers.video",
    **dict.fromkeys(
        (
            "CorruptArtifactError", "CorruptImageError", "CorruptMaskError",
            "CorruptRecordError", "CorruptVideoError", "IntegrityError", "JoinError",
            "LayoutError", "MissingArtifactError", "RemoteError", "SparkleError",
            "UnsafeArchiveError",
        ),
        "errors",
    ),
    **dict.fromkeys(
        (
            "ARTIFACTS", "EDIT_TYPES", "SampleId", "artifact_relpath", "member_name",
            "parse_sample_id", "shard_path",
        ),
        "layout",
    ),
}  # fmt: skip

__all__ = [
    "ARTIFACTS",
    "EDIT_TYPES",
    "Catalog",
    "CorruptArtifactError",
    "CorruptImageError",
    "CorruptMaskError",
    "CorruptRecordError",
    "CorruptVideoError",
    "FrameSampler",
    "IntegrityError",
    "JoinError",
    "LayoutError",
    "MissingArtifactError",
    "RemoteError",
    "Resize",
    "SampleId",
    "SkipReport",
    "SparkleDataset",
    "SparkleError",
    "SparkleMapDataset",
    "UnsafeArchiveError",
    "__version__",
    "artifact_relpath",
    "build_catalog",
    "collate_pad",
    "member_name",
    "merge_states",
    "normalize_bbox",
    "parse_sample_id",
    "probe_video",
    "read_mask",
    "read_video",
    "shard_path",
    "write_mask",
]

if not TYPE_CHECKING:  # mypy sees the imports above, and no catch-all __getattr__
    __getattr__, __dir__ = lazy_exports(__name__, _HOME)
