"""sparkle_data.hf.load_dataset on a local tree: streaming (datasets.IterableDataset)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sparkle_data.catalog import Catalog, build_catalog
from sparkle_data.errors import FilterWarning
from sparkle_data.hf import load_dataset
from sparkle_data.hf.rows import METADATA_COLUMNS, SCORE_COLUMNS, LazyRow
from sparkle_data.testing import SampleTreeSummary

datasets = pytest.importorskip("datasets")


@pytest.fixture(autouse=True)
def _private_cache(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPARKLE_DATA_CACHE", str(tmp_path_factory.getbasetemp() / "sparkle-cache"))


@pytest.fixture(scope="module")
def catalog(sample_tree: SampleTreeSummary) -> Catalog:
    return build_catalog(sample_tree.root)


def corpus_ids(catalog: Catalog, *edit_types: str) -> list[str]:
    rows = catalog.corpus()
    return sorted(rows.index[rows["edit_type"].isin(edit_types)])


def load(root: Path, name: Any = "location", **kwargs: Any) -> Any:
    return load_dataset(str(root), name, progress=False, **kwargs)


def test_one_theme_streams_every_pair_with_its_bytes(
    sample_tree: SampleTreeSummary, catalog: Catalog
) -> None:
    ds = load(sample_tree.root)
    assert isinstance(ds, datasets.IterableDataset)
    assert ds.n_shards > 1
    assert isinstance(ds.features["source_video"], datasets.Video)
    assert not ds.features["source_video"].decode
    rows = list(ds)
    assert [r["sample_id"] for r in rows] == corpus_ids(catalog, "location")
    for r in rows:
        sid = r["sample_id"]
        assert r["edit_type"] == "location"
        assert r["prompt"] == catalog.table.loc[sid, "prompt"]
        assert r["source_video"] == {
            "bytes": catalog.read_bytes(sid, "source_video"),
            "path": f"{sid}.mp4",
        }
        assert r["edited_video"]["bytes"] == catalog.read_bytes(sid, "edited_video")
        assert set(r) == {
            "sample_id",
            "edit_type",
            "prompt",
            *METADATA_COLUMNS,
            "source_video",
            "edited_video",
        }


def test_two_themes_and_a_filter(sample_tree: SampleTreeSummary, catalog: Catalog) -> None:
    both = load(sample_tree.root, ["location", "time"], fields=["metadata"])
    assert [r["sample_id"] for r in both] == corpus_ids(catalog, "location", "time")
    assert [r["sample_id"] for r in load(sample_tree.root, "location,time", fields=["scores"])] == (
        corpus_ids(catalog, "location", "time")
    )
    ds = load(
        sample_tree.root,
        ["location", "time"],
        fields=["source_video", "scores"],
        where=lambda t: t["video_mean_o_score"] >= 8.2,
    )
    t = catalog.corpus()
    want = sorted(
        t.index[t["edit_type"].isin(["location", "time"]) & (t["video_mean_o_score"] >= 8.2)]
    )
    rows = list(ds)
    assert [r["sample_id"] for r in rows] == want
    assert 0 < len(want) < len(corpus_ids(catalog, "location", "time"))
    assert all(r["video_mean_o_score"] >= np.float32(8.2) for r in rows)
    assert ds.features["video_mean_o_score"] == datasets.Value("float32")
    assert set(SCORE_COLUMNS) <= set(rows[0])


def test_missing_scores_are_nan(sample_tree: SampleTreeSummary, catalog: Catalog) -> None:
    rows = list(load(sample_tree.root, "all", fields=["scores"]))
    assert len(rows) == len(catalog.corpus())
    values = np.array([[r[c] for c in SCORE_COLUMNS] for r in rows], dtype=np.float64)
    table = catalog.corpus()[list(SCORE_COLUMNS)].to_numpy(dtype=np.float64)
    np.testing.assert_array_equal(np.isnan(values), np.isnan(table))


def test_ids_media_binary_mask_and_images(sample_tree: SampleTreeSummary, catalog: Catalog) -> None:
    from sparkle_data.readers.mask import read_mask

    sid = corpus_ids(catalog, "season")[-1]
    ds = load(
        sample_tree.root,
        "season",
        ids=[sid],
        fields=["source_video_mask", "edited_frame0", "edited_video"],
        media="binary",
    )
    (row,) = list(ds)
    assert row["edited_video"] == catalog.read_bytes(sid, "edited_video")
    assert read_mask(io.BytesIO(row["source_video_mask"])).dtype == bool
    assert row["edited_frame0"].startswith(b"\x89PNG")
    imgs = list(load(sample_tree.root, "season", ids=[sid], fields=["edited_frame0"]))
    assert isinstance(
        load(sample_tree.root, "season", fields=["edited_frame0"]).features["edited_frame0"],
        datasets.Image,
    )
    assert imgs[0]["edited_frame0"]["bytes"] == row["edited_frame0"]


def test_decode_true_uses_our_readers(sample_tree: SampleTreeSummary) -> None:
    from sparkle_data.dataset import SparkleDataset
    from sparkle_data.sampling import FrameSampler, Resize

    fields = ["source_video", "edited_video", "source_video_mask", "source_frame0", "boxes"]
    frames = FrameSampler("uniform", num_frames=5)
    resize = Resize(height=32, width=48)
    ds = load(sample_tree.root, "time", fields=fields, decode=True, frames=frames, resize=resize)
    ours = SparkleDataset(
        sample_tree.root,
        edit_types=["time"],
        fields=fields,
        frames=frames,
        resize=resize,
        output="numpy",
    )
    for row, ref in zip(ds, ours, strict=True):
        assert row["sample_id"] == ref["sample_id"]
        assert row["source_video"].dtype == np.uint8
        assert row["source_video"].shape == (5, 3, 32, 48)
        np.testing.assert_array_equal(row["source_video"], ref["source_video"])
        np.testing.assert_array_equal(row["edited_video"], ref["edited_video"])
        np.testing.assert_array_equal(row["source_video_mask"], ref["source_video_mask"])
        assert row["source_video_mask"].dtype == bool
        assert row["source_frame0"].shape == (3, 32, 48)
        assert list(row["frame_indices"]) == list(ref["frame_indices"])
        np.testing.assert_array_equal(row["boxes"]["boxes"], ref["boxes"]["boxes"])
        assert row["boxes"]["labels"] == ref["boxes"]["labels"]


def test_datasets_operations(sample_tree: SampleTreeSummary, catalog: Catalog) -> None:
    ds = load(sample_tree.root, "all", fields=["edited_video"])
    every = corpus_ids(catalog, *catalog.inventory.edit_types)
    shuffled = [r["sample_id"] for r in ds.shuffle(seed=3, buffer_size=4)]
    assert sorted(shuffled) == every
    assert shuffled != every
    assert shuffled == [r["sample_id"] for r in ds.shuffle(seed=3, buffer_size=4)]
    mapped = ds.map(
        lambda r: {"n": len(r["edited_video"]["bytes"])}, remove_columns=["edited_video"]
    )
    sizes = {r["sample_id"]: r["n"] for r in mapped}
    assert sizes == {s: len(catalog.read_bytes(s, "edited_video")) for s in every}
    kept = ds.filter(lambda r: r["edit_type"] == "style")
    assert [r["sample_id"] for r in kept] == corpus_ids(catalog, "style")
    assert [r["sample_id"] for r in ds.take(3)] == every[:3]
    torch_rows = list(ds.with_format("torch").take(2))
    assert isinstance(torch_rows[0]["edited_video"]["bytes"], bytes)
    assert torch_rows[0]["edit_type"] == "location"
    dd = load_dataset(str(sample_tree.root), "style", split=None, progress=False)
    assert isinstance(dd, datasets.IterableDatasetDict)
    assert list(dd) == ["train"]


def test_num_shards_cuts_equal_chunks(sample_tree: SampleTreeSummary, catalog: Catalog) -> None:
    import pickle

    ds = load(sample_tree.root, "all", fields=["metadata", "edited_video"], num_shards=8)
    assert ds.n_shards == 8
    rows = list(ds)
    assert [r["sample_id"] for r in rows] == corpus_ids(catalog, *catalog.inventory.edit_types)
    assert list(pickle.loads(pickle.dumps(ds))) == rows  # noqa: S301 - own object, as spawned DataLoader workers do


@pytest.fixture
def read_log(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    log: list[str] = []
    original = Catalog.read_bytes

    def read_bytes(self: Catalog, sample_id: str, artifact: str) -> bytes:
        log.append(sample_id)
        return original(self, sample_id, artifact)

    monkeypatch.setattr(Catalog, "read_bytes", read_bytes)
    return log


def test_state_dict_resumes_without_reading_skipped_rows(
    sample_tree: SampleTreeSummary, catalog: Catalog, read_log: list[str]
) -> None:
    every = corpus_ids(catalog, "location", "season")
    ds = load(sample_tree.root, "location,season", fields=["source_video"]).shuffle(
        seed=1, buffer_size=1
    )
    it = iter(ds)
    first = [next(it)["sample_id"] for _ in range(5)]
    state = ds.state_dict()
    read_log.clear()
    again = load(sample_tree.root, "location,season", fields=["source_video"]).shuffle(
        seed=1, buffer_size=1
    )
    again.load_state_dict(state)
    rest = [r["sample_id"] for r in again]
    assert sorted(first + rest) == every
    assert read_log == rest  # the five consumed rows were skipped without any read


def test_lazy_rows_load_once() -> None:
    calls: list[int] = []

    def load_files() -> dict[str, Any]:
        calls.append(1)
        return {"v": b"x"}

    row = LazyRow({"sample_id": "a"}, ("sample_id", "v"), load_files)
    assert row["sample_id"] == "a"
    assert not row.loaded
    assert dict(row) == {"sample_id": "a", "v": b"x"}
    assert row["v"] == b"x"
    assert calls == [1]
    assert "not loaded" not in repr(row)
    with pytest.raises(KeyError):
        row["w"]


def _identity(x: Any) -> Any:
    return x


@pytest.mark.parametrize("num_shards", [None, 3, 4])
def test_two_ranks_two_workers_see_every_sample_once(
    sample_tree: SampleTreeSummary, catalog: Catalog, num_shards: int | None
) -> None:
    from datasets.distributed import split_dataset_by_node
    from torch.utils.data import DataLoader

    ds = load(sample_tree.root, "all", fields=["source_video"], num_shards=num_shards)
    ds = ds.shuffle(seed=7, buffer_size=8)
    per_rank: list[list[str]] = []
    for rank in range(2):
        part = split_dataset_by_node(ds, rank=rank, world_size=2)
        loader = DataLoader(part, batch_size=None, num_workers=2, collate_fn=_identity)
        seen = []
        for row in loader:
            assert len(row["source_video"]["bytes"]) > 0
            seen.append(row["sample_id"])
        per_rank.append(seen)
    assert all(per_rank)
    assert sorted(per_rank[0] + per_rank[1]) == corpus_ids(catalog, *catalog.inventory.edit_types)


def test_errors(sample_tree: SampleTreeSummary) -> None:
    with pytest.raises(ValueError, match="split"):
        load(sample_tree.root, split="test")
    with pytest.raises(ValueError, match="boxes"):
        load(sample_tree.root, fields=["boxes"])
    with pytest.raises(ValueError, match="field"):
        load(sample_tree.root, fields=["nope"])
    with pytest.raises(ValueError, match="revision"):
        load(sample_tree.root, revision="main")
    with pytest.raises(ValueError, match="edit type"):
        load(sample_tree.root, "nowhere")
    with pytest.raises(ValueError, match="ids"):
        load(sample_tree.root, ids=["Sparkle_time_000000"])
    with pytest.raises(FileNotFoundError):
        load_dataset(str(sample_tree.root / "nope"), progress=False)
    with pytest.warns(FilterWarning, match="the dataset is empty"):
        empty = load(sample_tree.root, where=lambda t: t["edit_type"] == "nope")
    assert list(empty) == []


@pytest.mark.filterwarnings("ignore:'set_vital' is deprecated")
def test_stateful_dataloader_resumes_across_workers(
    sample_tree: SampleTreeSummary, catalog: Catalog
) -> None:
    stateful = pytest.importorskip("torchdata.stateful_dataloader")

    def loader() -> Any:
        ds = load(sample_tree.root, "all", fields=["source_video"], num_shards=4)
        return stateful.StatefulDataLoader(ds, batch_size=None, num_workers=2, collate_fn=_identity)

    first: list[str] = []
    for row in (it := loader()):
        first.append(row["sample_id"])
        if len(first) == 7:
            state = it.state_dict()
            break
    again = loader()
    again.load_state_dict(state)
    rest = [row["sample_id"] for row in again]
    assert sorted(first + rest) == corpus_ids(catalog, *catalog.inventory.edit_types)


@pytest.mark.network
def test_https_root_streams_and_maps_without_downloading(
    sample_tree: SampleTreeSummary, catalog: Catalog, tmp_path: Path
) -> None:
    from torch.utils.data import DataLoader

    from sparkle_data.testing.http import serve_directory

    fields = ["source_video", "edited_video"]
    local = list(load(sample_tree.root, "style", fields=fields))
    with serve_directory(sample_tree.root) as server:
        root = server.url().rstrip("/")
        streamed = list(load_dataset(root, "style", fields=fields, progress=False))
        # forked workers after the parent has read over HTTP (index, records): each worker
        # must use its own connections
        in_workers = list(
            DataLoader(
                load_dataset(root, "style", fields=fields, progress=False),
                batch_size=None,
                num_workers=2,
                collate_fn=_identity,
                multiprocessing_context="fork",
            )
        )
        mapped = load_dataset(
            root, "style", fields=fields, streaming=False, cache_dir=tmp_path, progress=False
        )
        full_gets = [r for r in server.requests if r.method == "GET" and r.range is None]
    assert streamed == local
    by_id = {r["sample_id"]: r for r in local}
    assert len(in_workers) == len(local)
    assert all(r == by_id[r["sample_id"]] for r in in_workers)
    assert mapped.to_list() == local
    assert not [r for r in full_gets if r.path.endswith(".tar")]


def test_missing_files_fail_at_load_time(sample_tree_copy: Path) -> None:
    from sparkle_data.errors import MissingArtifactError

    catalog = build_catalog(sample_tree_copy, edit_types=["location"])
    t = catalog.table
    shard = t.loc[t["source_video_file"].isna(), "source_video_shard"].dropna().iloc[0]
    lost = sorted(t.index[(t["source_video_shard"] == shard) & t["source_video_file"].isna()])
    (sample_tree_copy / shard).unlink()
    with pytest.raises(MissingArtifactError, match="source_video"):
        load(sample_tree_copy, "location")
    ds = load(
        sample_tree_copy,
        "location",
        where=lambda t: t["source_video_shard"].notna() | t["source_video_file"].notna(),
    )
    kept = [r["sample_id"] for r in ds]
    assert kept
    assert not set(kept) & set(lost)


@pytest.mark.network
def test_decoded_boxes_do_not_download_the_grounding_file_per_worker(
    sample_tree: SampleTreeSummary,
) -> None:
    from torch.utils.data import DataLoader

    from sparkle_data.testing.http import serve_directory

    r2 = "intermediate_data/time/foreground_grounding_r2.jsonl"
    size = (sample_tree.root / r2).stat().st_size
    local = {
        r["sample_id"]: r["boxes"]
        for r in load(sample_tree.root, "time", fields=["boxes"], decode=True)
    }
    with serve_directory(sample_tree.root) as server:
        ds = load_dataset(
            server.url().rstrip("/"), "time", fields=["boxes"], decode=True, progress=False
        )
        server.reset()
        rows = list(DataLoader(ds, batch_size=None, num_workers=2, collate_fn=_identity))
        fetched = sum(
            int(b) - int(a) + 1
            for r in server.requests
            if r.path.endswith(r2) and r.method == "GET" and r.range is not None
            for a, b in [r.range.removeprefix("bytes=").split("-")]
        )
        whole = [r for r in server.requests if r.path.endswith(r2) and r.range is None]
    assert sorted(r["sample_id"] for r in rows) == sorted(local)
    for r in rows:
        np.testing.assert_array_equal(r["boxes"]["boxes"], local[r["sample_id"]]["boxes"])
    assert not whole
    assert fetched < size, (fetched, size)  # the lines the rows need, not the file per worker
