"""The curated public API: fails when it drifts, so changes are deliberate."""

from __future__ import annotations

import subprocess
import sys

import sparkle_data

EXPECTED = [
    "ARTIFACTS", "Catalog", "CorruptArtifactError", "CorruptImageError", "CorruptMaskError",
    "CorruptRecordError", "CorruptVideoError", "EDIT_TYPES", "FrameSampler", "IntegrityError",
    "JoinError", "LayoutError", "MissingArtifactError", "RemoteError", "Resize", "SampleId",
    "SkipReport", "SparkleDataset", "SparkleError", "SparkleMapDataset", "UnsafeArchiveError",
    "__version__", "artifact_relpath", "build_catalog", "collate_pad", "member_name",
    "merge_states", "normalize_bbox", "parse_sample_id", "probe_video", "read_mask",
    "read_video", "shard_path", "write_mask",
]  # fmt: skip


def test_public_api_is_curated() -> None:
    assert sorted(sparkle_data.__all__) == sorted(EXPECTED)
    assert sorted(sparkle_data.__all__) == sorted([*sparkle_data._HOME, "__version__"])
    for name in sparkle_data.__all__:
        assert getattr(sparkle_data, name) is not None


def test_errors_subclass_builtins() -> None:
    assert issubclass(sparkle_data.LayoutError, ValueError)
    assert issubclass(sparkle_data.CorruptVideoError, sparkle_data.CorruptArtifactError)
    assert issubclass(sparkle_data.RemoteError, ConnectionError)
    assert issubclass(sparkle_data.MissingArtifactError, LookupError)


def test_import_is_light() -> None:
    code = (
        "import sys, sparkle_data; "
        "print(sorted(m for m in ('torch', 'av', 'pandas') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
