"""sparkle_data.hf.load_dataset(streaming=False) on local roots: map-style datasets.Dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sparkle_data.catalog import build_catalog
from sparkle_data.hf import load_dataset
from sparkle_data.testing import SampleTreeSummary

datasets = pytest.importorskip("datasets")


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPARKLE_DATA_CACHE", str(tmp_path / "sparkle-cache"))


def test_local_root_is_read_in_place(sample_tree: SampleTreeSummary, tmp_path: Path) -> None:
    cache = tmp_path / "arrow"
    fields = ["source_video", "edited_video", "metadata", "scores"]
    ds = load_dataset(
        str(sample_tree.root),
        "location",
        streaming=False,
        fields=fields,
        cache_dir=cache,
        progress=False,
    )
    assert isinstance(ds, datasets.Dataset)
    streamed = list(load_dataset(str(sample_tree.root), "location", fields=fields, progress=False))
    assert ds.num_rows == len(streamed)
    for got, want in zip(ds, streamed, strict=True):
        assert got.keys() == want.keys()
        for k in got:
            if isinstance(want[k], float) and np.isnan(want[k]):
                assert np.isnan(got[k])
            elif isinstance(want[k], float):
                assert got[k] == pytest.approx(want[k], rel=1e-6)
            else:
                assert got[k] == want[k]
    assert not any(p.name.startswith("datasets--") for p in cache.iterdir())  # nothing downloaded
    assert (
        ds.features
        == load_dataset(str(sample_tree.root), "location", fields=fields, progress=False).features
    )


def test_decode_true_decodes_on_access(sample_tree: SampleTreeSummary, tmp_path: Path) -> None:
    from sparkle_data.sampling import FrameSampler

    ds = load_dataset(
        str(sample_tree.root),
        "style",
        streaming=False,
        decode=True,
        cache_dir=tmp_path,
        fields=["source_video", "source_video_mask", "metadata"],
        frames=FrameSampler("uniform", num_frames=4),
        progress=False,
    )
    assert "source_video" not in ds.features  # stored: ids and text; arrays come from the transform
    row = ds[0]
    assert row["source_video"].dtype == np.uint8
    assert row["source_video"].shape[:2] == (4, 3)
    assert row["source_video_mask"].shape[0] == 4
    assert row["chosen_keyword"]
    batch = ds[:2]
    assert len(batch["source_video"]) == 2


def test_changed_local_files_are_not_served_from_a_stale_cache(
    sample_tree_copy: Path, tmp_path: Path
) -> None:
    kwargs: dict[str, Any] = {
        "streaming": False,
        "fields": ["metadata"],
        "cache_dir": tmp_path,
        "progress": False,
    }
    before = load_dataset(str(sample_tree_copy), "time", **kwargs)
    csv = sample_tree_copy / "prompts" / "time_train.csv"
    lines = csv.read_text(encoding="utf-8").splitlines(keepends=True)
    csv.write_text("".join(lines[:-1]), encoding="utf-8")
    after = load_dataset(str(sample_tree_copy), "time", **kwargs)
    assert after.num_rows == before.num_rows - 1


def test_num_proc(sample_tree: SampleTreeSummary, tmp_path: Path) -> None:
    ds = load_dataset(
        str(sample_tree.root),
        "all",
        streaming=False,
        fields=["edited_video"],
        num_shards=4,
        num_proc=2,
        cache_dir=tmp_path,
        progress=False,
    )
    catalog = build_catalog(sample_tree.root)
    assert sorted(ds["sample_id"]) == sorted(catalog.corpus().index)


def test_old_datasets_are_refused_with_a_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    from sparkle_data.hf.features import check_datasets_version

    monkeypatch.setattr(datasets, "__version__", "3.6.0")
    with pytest.raises(ImportError, match=r"Sparkle\.py"):
        check_datasets_version()
    with pytest.raises(ImportError, match=r">= 4\.0"):
        load_dataset("does/not-matter")
