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


def test_edit_types_without_pieces_raise_and_name_those_present(parent: Path) -> None:
    with pytest.raises(NoDatasetError, match="edit types style") as info:
        build_catalog(parent / "Sparkle", edit_types=["style"])
    assert "It holds edit types time: include them in edit_types" in str(info.value)


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


def test_an_empty_selection_warns_at_the_users_line(parent: Path) -> None:
    from sparkle_data.dataset import SparkleFullPass, SparkleMapDataset
    from sparkle_data.errors import FilterWarning

    root = parent / "Sparkle"
    for cls in (SparkleDataset, SparkleMapDataset, SparkleFullPass):
        with pytest.warns(FilterWarning, match="passes the selection") as caught:
            ds = cls(root, fields=["source_video"], where=lambda t: t.index == "none")
        assert len(ds.ids) == 0
        assert caught[0].filename == __file__, (cls, caught[0].filename)


def test_hf_empty_selection_warns_at_the_users_line(parent: Path) -> None:
    from sparkle_data import hf
    from sparkle_data.errors import FilterWarning

    with pytest.warns(FilterWarning, match="the dataset is empty") as caught:
        hf.load_dataset(
            str(parent / "Sparkle"),
            streaming=True,
            progress=False,
            where=lambda t: t.index == "none",
        )
    assert caught[0].filename == __file__


def test_a_string_where_says_how_to_parse_it(parent: Path) -> None:
    with pytest.raises(TypeError, match=r"where=parse_filter\('frame0_overall > 3'\)"):
        SparkleDataset(parent / "Sparkle", fields=["source_video"], where="frame0_overall > 3")
