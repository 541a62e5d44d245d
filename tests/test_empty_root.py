"""A root that holds no Sparkle piece is an error in every front end, never an empty dataset."""

from __future__ import annotations

from pathlib import Path

import pytest

from sparkle_data.catalog import build_catalog
from sparkle_data.dataset import SparkleDataset
from sparkle_data.errors import NoDatasetError, SparkleError
from sparkle_data.testing import make_sample_tree
from sparkle_data.testing.http import serve_directory


@pytest.fixture(scope="module")
def parent(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder whose ``Sparkle`` child holds a tiny tree (the layout ``make-sample`` writes)."""
    out = tmp_path_factory.mktemp("empty_root")
    tree = make_sample_tree(out, edit_types=["time"], samples=2, preview_count=0, bench=False)
    assert Path(tree.root) == out / "Sparkle"
    return out


def test_dataset_over_the_parent_folder_raises_and_names_the_child(parent: Path) -> None:
    with pytest.raises(NoDatasetError) as info:
        SparkleDataset(parent, fields=["source_video"])
    msg = str(info.value)
    assert str(parent) in msg
    assert f"Did you mean {parent / 'Sparkle'}?" in msg
    assert isinstance(info.value, FileNotFoundError)
    assert isinstance(info.value, SparkleError)
    assert len(SparkleDataset(parent / "Sparkle", fields=["source_video"])) == 2


def test_missing_folder_says_so(tmp_path: Path) -> None:
    with pytest.raises(NoDatasetError, match="No such folder"):
        build_catalog(tmp_path / "nowhere")


def test_edit_types_without_pieces_raise(parent: Path) -> None:
    with pytest.raises(NoDatasetError, match="edit types style"):
        build_catalog(parent / "Sparkle", edit_types=["style"])


@pytest.mark.network
def test_remote_root_without_pieces_raises(parent: Path) -> None:
    with serve_directory(parent) as server:
        with pytest.raises(NoDatasetError, match="Check the URL"):
            SparkleDataset(server.base_url, fields=["source_video"])
        ds = SparkleDataset(server.url("Sparkle"), fields=["source_video"])
        assert len(ds) == 2


def test_hf_front_end_raises_too(parent: Path) -> None:
    from sparkle_data import hf

    with pytest.raises(NoDatasetError):
        hf.load_dataset(str(parent), streaming=True, progress=False)
