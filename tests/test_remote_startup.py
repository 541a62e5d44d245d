"""The shared start-up path of remote roots: one listing, published indexes, the disk cache.

Request counts are asserted (never times), against the loopback fake Hub with the real
``huggingface_hub`` client, and against the loopback HTTP server.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sparkle_data.catalog import build_catalog
from sparkle_data.hf import publish_indexes
from sparkle_data.testing import SampleTreeSummary
from sparkle_data.testing.http import serve_directory
from sparkle_data.testing.hub import FakeHub, serve_fake_hub

pytestmark = [
    pytest.mark.network,
    pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning"),
]

REPO = "stdKonjac/Sparkle"
URL = f"hf://datasets/{REPO}"
VIDEOS = ("source_video", "edited_video")


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPARKLE_DATA_CACHE", str(tmp_path / "sparkle-cache"))


@pytest.fixture
def hub(sample_tree: SampleTreeSummary) -> Iterator[FakeHub]:
    with serve_fake_hub(FakeHub.from_directory(sample_tree.root, REPO, redirect_lfs=True)) as h:
        yield h


@pytest.fixture
def published_hub(sample_tree: SampleTreeSummary, tmp_path: Path) -> Iterator[FakeHub]:
    out = tmp_path / "sparkle.sparkle-index"
    publish_indexes(sample_tree.root, out, progress=False)
    served = FakeHub.from_directory(sample_tree.root, REPO, redirect_lfs=True)
    served.commit(REPO, {"indexes/sparkle.sparkle-index": out.read_bytes()})
    with serve_fake_hub(served) as h:
        yield h


def _tar_requests(hub: FakeHub) -> list[str]:
    return [
        str(r.file)
        for r in hub.requests
        if r.kind in ("resolve", "paths-info") and str(r.file).endswith(".tar")
    ]


def test_hub_cold_start_lists_once_and_indexes_only_requested_artifacts(hub: FakeHub) -> None:
    catalog = build_catalog(URL, edit_types=["location"], artifacts=VIDEOS)
    assert hub.count("tree") == 1  # one recursive listing (one page)
    assert hub.count("paths-info") == 0  # no metadata request per file
    shards = {r.rsplit("/", 1)[-1] for r in _tar_requests(hub)}
    assert shards
    assert all("_source_video_" in s or "_edited_video_" in s for s in shards)
    assert set(catalog.indexes) == {
        rel for rel, s in catalog.inventory.shards.items() if s.artifact in VIDEOS
    }
    assert catalog.root.startswith(f"hf://datasets/{REPO}@")  # pinned to the commit sha
    sid = str(catalog.corpus().index[0])
    assert catalog.read_bytes(sid, "source_video")


def test_hub_warm_start_makes_o1_requests(hub: FakeHub) -> None:
    cold = build_catalog(URL, edit_types=["location"], artifacts=VIDEOS)
    hub.reset()
    warm = build_catalog(URL, edit_types=["location"], artifacts=VIDEOS)
    assert hub.count("tree") == 0
    assert _tar_requests(hub) == []  # no shard is listed, probed or indexed again
    assert hub.count("repo-info") == 1  # pinning "main" to its sha
    assert warm.table.equals(cold.table)
    assert {k: v.entries for k, v in warm.indexes.items()} == {
        k: v.entries for k, v in cold.indexes.items()
    }
    # pinned to a sha already: not even the revision call
    hub.reset()
    build_catalog(warm.root, edit_types=["location"], artifacts=VIDEOS)
    assert hub.count("repo-info") == 0
    assert hub.count("tree") == 0


def test_hub_published_index_is_used_and_trusted_by_the_listing(published_hub: FakeHub) -> None:
    catalog = build_catalog(URL, edit_types=["location", "season"], cache=False)
    assert _tar_requests(published_hub) == []  # no HEAD and no header read per shard
    assert published_hub.count("tree") == 1
    index_reads = [r for r in published_hub.requests if "sparkle-index" in str(r.file)]
    assert index_reads  # read the published file
    assert len(catalog.indexes) == len(catalog.inventory.shards)


def test_hf_load_dataset_shares_the_path(published_hub: FakeHub) -> None:
    pytest.importorskip("datasets")
    from sparkle_data.hf import load_dataset

    ds = load_dataset(URL, "location", fields=("source_video", "metadata"), progress=False)
    assert _tar_requests(published_hub) == []
    assert published_hub.count("tree") == 1
    row = next(iter(ds))
    assert row["source_video"]


def test_http_root_with_published_index_needs_no_request_per_shard(
    sample_tree_copy: Path,
) -> None:
    index = sample_tree_copy / "indexes" / "sparkle.sparkle-index"
    publish_indexes(sample_tree_copy, index, progress=False)
    with serve_directory(sample_tree_copy) as server:
        catalog = build_catalog(server.url(), edit_types=["location"], artifacts=VIDEOS)
        tar = [r for r in server.requests if r.path.endswith(".tar")]
        assert tar == []
        assert set(catalog.indexes) == {
            rel for rel, s in catalog.inventory.shards.items() if s.artifact in VIDEOS
        }
        cold = server.count()
        server.reset()
        warm = build_catalog(server.url(), edit_types=["location"], artifacts=VIDEOS)
        assert warm.table.equals(catalog.table)
        assert [r for r in server.requests if r.path.endswith((".tar", ".sparkle-index"))] == [
            r for r in server.requests if r.method == "HEAD" and r.path.endswith("index")
        ]
        assert server.count() <= cold


def test_http_root_without_index_probes_in_parallel_and_caches(sample_tree_copy: Path) -> None:
    with serve_directory(sample_tree_copy) as server:
        cold = build_catalog(server.url(), edit_types=["season"], artifacts=("source_video",))
        assert cold.indexes
        assert all("_source_video_" in rel for rel in cold.indexes)
        server.reset()
        build_catalog(server.url(), edit_types=["season"], artifacts=("source_video",))
        assert [r for r in server.requests if r.path.endswith(".tar")] == []


def test_a_corrupt_start_up_cache_is_rebuilt_with_a_warning(hub: FakeHub, tmp_path: Path) -> None:
    from sparkle_data.errors import IndexCacheWarning

    cold = build_catalog(URL, edit_types=["season"], artifacts=VIDEOS)
    files = list((tmp_path / "sparkle-cache" / "startup").glob("*.json"))
    assert len(files) == 1
    files[0].write_bytes(b"{not json")
    hub.reset()
    with pytest.warns(IndexCacheWarning, match="start-up cache"):
        again = build_catalog(URL, edit_types=["season"], artifacts=VIDEOS)
    assert again.table.equals(cold.table)
    assert files[0].read_bytes().startswith(b'{"version"')  # rewritten


def test_cli_index_of_an_http_root_writes_a_published_index(
    sample_tree_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from sparkle_data.cli import main
    from sparkle_data.io.index import read_indexes

    out = tmp_path / "sparkle.sparkle-index"
    with serve_directory(sample_tree_copy) as server:
        rc = main(["index", server.url(), "--edit-types", "time", "--out", str(out), "-q"])
    assert rc == 0, capsys.readouterr().err
    names = set(read_indexes(out))
    assert names
    assert all(n.startswith("time_") for n in names)
    assert names == {p.name for p in sample_tree_copy.rglob("time_*_part*.tar")}


def test_http_start_up_asks_each_file_about_its_size_once(sample_tree_copy: Path) -> None:
    """The probe's HEAD answers (size, ETag) are reused when the CSVs and records are read."""
    from collections import Counter

    with serve_directory(sample_tree_copy) as server:
        for _ in ("cold", "warm"):
            server.reset()
            catalog = build_catalog(server.url(), edit_types=["location"], artifacts=VIDEOS)
            heads = Counter(r.path for r in server.requests if r.method == "HEAD")
            assert heads, "start-up probed nothing"
            assert max(heads.values()) == 1, heads.most_common(3)
            gets = {r.path for r in server.requests if r.method == "GET"}
            assert "prompts/location_train.csv" in gets
            assert catalog.inventory.known["prompts/location_train.csv"].size > 0


def test_every_front_end_probes_an_http_root_alike(sample_tree: SampleTreeSummary) -> None:
    """``scan_inventory``, ``build_catalog`` and ``hf.fetch_indexes`` find an HTTP root's
    files through one prober (``catalog.fixed_names``): the same files as a local scan, each
    asked for once."""
    from collections import Counter

    from sparkle_data.catalog import scan_inventory
    from sparkle_data.hf import fetch_indexes

    local = scan_inventory(sample_tree.root)
    with serve_directory(sample_tree.root) as server:
        remote = scan_inventory(server.url())
        heads = Counter(r.path for r in server.requests if r.method == "HEAD")
        assert max(heads.values()) == 1
        server.reset()
        found = fetch_indexes(server.url(), progress=False, cache_dir=None)
    assert remote.prompts == local.prompts
    assert remote.metadata == local.metadata
    assert remote.records == local.records
    assert remote.shards == local.shards
    assert sorted(found) == sorted(local.shards)
