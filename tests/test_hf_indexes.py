"""publish_indexes / fetch_indexes on local roots, and load_dataset(index_file=...)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

import sparkle_data.catalog.model as catalog_model
import sparkle_data.catalog.startup as catalog_startup
import sparkle_data.hf.indexes as hf_indexes
from sparkle_data.catalog import build_catalog
from sparkle_data.errors import MissingArtifactError
from sparkle_data.hf import (
    DEFAULT_INDEX_PATH,
    StaleIndexWarning,
    fetch_indexes,
    load_dataset,
    publish_indexes,
)
from sparkle_data.io.index import build_index, read_indexes
from sparkle_data.testing import SampleTreeSummary


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPARKLE_DATA_CACHE", str(tmp_path / "sparkle-cache"))


@pytest.fixture
def no_scans(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record shards that would be indexed by header reads."""
    built: list[str] = []
    real = hf_indexes.build_indexes  # type: ignore[attr-defined]

    def spy(locations: Sequence[str], **kwargs: Any) -> Any:
        built.extend(str(p).rsplit("/", 1)[-1] for p in locations)
        return real(locations, **kwargs)

    monkeypatch.setattr(hf_indexes, "build_indexes", spy)
    for module in (catalog_model, catalog_startup):  # the shared start-up path
        one = module.load_or_build_index

        def spy_one(location: Any, _real: Any = one, **kwargs: Any) -> Any:
            built.append(str(location).rsplit("/", 1)[-1])
            return _real(location, **kwargs)

        monkeypatch.setattr(module, "load_or_build_index", spy_one)
    return built


def test_publish_then_fetch_uses_the_published_file(
    sample_tree: SampleTreeSummary, tmp_path: Path, no_scans: list[str]
) -> None:
    out = tmp_path / "all.sparkle-index"
    published = publish_indexes(sample_tree.root, out, progress=False)
    shards = sorted(build_catalog(sample_tree.root).inventory.shards)
    assert sorted(ix.shard for ix in published) == sorted(p.rsplit("/", 1)[-1] for p in shards)
    for ix in published[:5]:
        rel = next(p for p in shards if p.endswith(ix.shard))
        assert ix.sha256 == hashlib.sha256((sample_tree.root / rel).read_bytes()).hexdigest()
    assert set(read_indexes(out)) == {ix.shard for ix in published}
    no_scans.clear()
    found = fetch_indexes(str(sample_tree.root), index_file=str(out), progress=False)
    assert sorted(found) == shards
    assert no_scans == []
    for rel in shards[:5]:
        assert found[rel].entries == build_index(sample_tree.root / rel).entries
    videos = fetch_indexes(
        str(sample_tree.root),
        index_file=str(out),
        edit_types=["style"],
        artifacts=["edited_video"],
        out=tmp_path / "style.sparkle-index",
        progress=False,
    )
    assert videos
    assert all(p.startswith("style_edited_video_part") for p in videos)
    assert set(read_indexes(tmp_path / "style.sparkle-index")) == set(videos)


def test_default_index_path_in_the_root_and_stale_entries(
    sample_tree_copy: Path, no_scans: list[str]
) -> None:
    (sample_tree_copy / "indexes").mkdir()
    publish_indexes(
        sample_tree_copy, sample_tree_copy / DEFAULT_INDEX_PATH, edit_types=["time"], progress=False
    )
    no_scans.clear()
    assert fetch_indexes(str(sample_tree_copy), edit_types=["time"], progress=False)
    assert no_scans == []
    shard = sample_tree_copy / "time_edited_video_part00.tar"
    with open(shard, "ab") as f:
        f.write(b"\0" * 1024)
    with pytest.warns(StaleIndexWarning, match=shard.name):
        found = fetch_indexes(str(sample_tree_copy), edit_types=["time"], progress=False)
    assert no_scans == [shard.name]
    assert found[shard.name].shard_size == shard.stat().st_size
    with pytest.warns(StaleIndexWarning), pytest.raises(MissingArtifactError):
        fetch_indexes(
            str(sample_tree_copy), edit_types=["time"], build_missing=False, progress=False
        )


def test_load_dataset_passes_index_file_through(
    sample_tree: SampleTreeSummary, tmp_path: Path, no_scans: list[str]
) -> None:
    out = tmp_path / "sparkle.sparkle-index"
    publish_indexes(sample_tree.root, out, edit_types=["season"], progress=False)
    expected = [s for s in build_catalog(sample_tree.root).corpus().index if "_season_" in s]
    no_scans.clear()
    ds = load_dataset(str(sample_tree.root), "season", index_file=str(out), progress=False)
    assert no_scans == []
    assert len(list(ds)) == len(expected)
    load_dataset(str(sample_tree.root), "season", progress=False)  # without it: scanned
    assert no_scans
