"""sparkle_data.hf through the loopback fake Hub, with the real huggingface_hub client."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sparkle_data.catalog import Catalog, build_catalog
from sparkle_data.errors import FilterWarning, IntegrityError, MissingArtifactError
from sparkle_data.hf import (
    CorruptDownloadWarning,
    StaleIndexWarning,
    fetch_indexes,
    load_dataset,
    publish_indexes,
)
from sparkle_data.io.index import build_index
from sparkle_data.testing import SampleTreeSummary
from sparkle_data.testing.hub import FakeHub, serve_fake_hub

pytestmark = [
    pytest.mark.network,
    pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning"),
]
datasets = pytest.importorskip("datasets")

REPO = "stdKonjac/Sparkle"
URL = f"hf://datasets/{REPO}"


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPARKLE_DATA_CACHE", str(tmp_path / "sparkle-cache"))


@pytest.fixture(scope="module")
def catalog(sample_tree: SampleTreeSummary) -> Catalog:
    return build_catalog(sample_tree.root)


@pytest.fixture
def hub(sample_tree: SampleTreeSummary) -> Iterator[FakeHub]:
    with serve_fake_hub(FakeHub.from_directory(sample_tree.root, REPO)) as served:
        yield served


def tar_gets(hub: FakeHub, *, ranged: bool) -> list[str]:
    """Files of .tar GET requests (LFS resolves, through the CDN or not)."""
    return sorted(
        str(r.file)
        for r in hub.requests
        if r.method == "GET"
        and r.kind in ("resolve", "cdn")
        and str(r.file).endswith(".tar")
        and (r.range is not None) == ranged
    )


def snapshot_files(cache: Path) -> set[str]:
    (snap,) = (cache / "datasets--stdKonjac--Sparkle" / "snapshots").iterdir()
    return {p.relative_to(snap).as_posix() for p in snap.rglob("*") if p.is_file()}


def ids_of(ds: Any) -> list[str]:
    return [r["sample_id"] for r in ds]


def test_streams_through_the_hub_like_the_local_tree(
    hub: FakeHub, sample_tree: SampleTreeSummary, catalog: Catalog
) -> None:
    ds = load_dataset(URL, "location", fields=["source_video", "edited_video"], progress=False)
    rows = list(ds)
    local = list(
        load_dataset(
            str(sample_tree.root),
            "location",
            fields=["source_video", "edited_video"],
            progress=False,
        )
    )
    assert rows == local
    assert len(rows) == int((catalog.corpus()["edit_type"] == "location").sum())
    assert tar_gets(hub, ranged=False) == []  # members are read by ranges, nothing downloaded
    assert ds.n_shards > 1
    sha = hub.resolve(REPO)
    assert {r.revision for r in hub.requests_of("resolve")} == {sha}  # pinned to one commit


def test_decode_through_the_hub(hub: FakeHub, sample_tree: SampleTreeSummary) -> None:
    import numpy as np

    from sparkle_data.sampling import FrameSampler

    kwargs: dict[str, Any] = {
        "fields": ["edited_video", "source_video_mask"],
        "decode": True,
        "frames": FrameSampler("uniform", num_frames=3),
        "progress": False,
    }
    remote = list(load_dataset(URL, "openve3m", **kwargs).take(2))
    local = list(load_dataset(str(sample_tree.root), "openve3m", **kwargs).take(2))
    assert [r["sample_id"] for r in remote] == [r["sample_id"] for r in local]
    for a, b in zip(remote, local, strict=True):
        np.testing.assert_array_equal(a["edited_video"], b["edited_video"])
        np.testing.assert_array_equal(a["source_video_mask"], b["source_video_mask"])
        assert a["edited_video"].shape[0] == 3


def test_filter_and_revision_pinning(hub: FakeHub, catalog: Catalog) -> None:
    old = hub.resolve(REPO)
    hub.tag(REPO, "v1")
    hub.commit(REPO, {"prompts/time_train.csv": b"prompt,src_video,tgt_video,task\n"})
    with pytest.warns(FilterWarning, match="holds no corpus sample"):
        emptied = load_dataset(REPO, "time", fields=["metadata"], progress=False)
    assert ids_of(emptied) == []
    pinned = load_dataset(
        REPO,
        "time",
        revision="v1",
        fields=["edited_video", "scores"],
        progress=False,
        where=lambda t: t["video_mean_o_score"] >= 8.2,
    )
    t = catalog.corpus()
    assert ids_of(pinned) == sorted(
        t.index[(t["edit_type"] == "time") & (t["video_mean_o_score"] >= 8.2)]
    )
    assert ids_of(load_dataset(f"{URL}@{old}", "time", fields=["metadata"], progress=False))
    with pytest.raises(ValueError, match="revision"):
        load_dataset(f"{URL}@v1", "time", revision="main", progress=False)


def test_non_streaming_downloads_only_the_needed_shards(
    hub: FakeHub, catalog: Catalog, tmp_path: Path
) -> None:
    sid = sorted(catalog.corpus().index[catalog.corpus()["edit_type"] == "season"])[-1]
    cache = tmp_path / "hf"
    ds = load_dataset(REPO, "season", streaming=False, ids=[sid], cache_dir=cache, progress=False)
    assert isinstance(ds, datasets.Dataset)
    assert ds.num_rows == 1
    assert ds[0]["sample_id"] == sid
    assert ds[0]["source_video"]["bytes"] == catalog.read_bytes(sid, "source_video")
    assert ds[0]["edited_video"]["bytes"] == catalog.read_bytes(sid, "edited_video")
    needed = {catalog.locate(sid, a).path for a in ("source_video", "edited_video")}
    assert all(p.endswith(".tar") for p in needed)
    records = {
        f"intermediate_data/season/{r}.jsonl"
        for r in (
            "edited_frame0_score",
            "edited_frame0_foreground_removed_score",
            "foreground_grounding_r1",
            "foreground_grounding_r2",
            "edited_video_score",
        )
    }
    prompts = {"prompts/season_train.csv", "prompts/season_train_metadata.jsonl"}
    assert snapshot_files(cache) == needed | records | prompts
    assert tar_gets(hub, ranged=False) == sorted(needed)
    hub.reset()
    again = load_dataset(
        REPO, "season", streaming=False, ids=[sid], cache_dir=cache, progress=False
    )
    assert again[0] == ds[0]
    assert tar_gets(hub, ranged=False) == []  # cached and already verified


def test_non_streaming_whole_theme_needs_no_index(
    hub: FakeHub, catalog: Catalog, tmp_path: Path
) -> None:
    cache = tmp_path / "hf"
    dd = load_dataset(REPO, "style", split=None, streaming=False, cache_dir=cache, progress=False)
    assert isinstance(dd, datasets.DatasetDict)
    ds = dd["train"]
    assert ds["sample_id"] == sorted(
        catalog.corpus().index[catalog.corpus()["edit_type"] == "style"]
    )
    assert tar_gets(hub, ranged=True) == []  # every shard is needed: no header reads to choose
    shards = {p for p in snapshot_files(cache) if p.endswith(".tar")}
    assert shards == {
        p
        for p in catalog.inventory.shards
        if p.startswith(("style_source_video", "style_edited_video"))
    }


def test_tampered_shard_on_the_hub_raises_integrity_error(
    sample_tree_copy: Path, catalog: Catalog, tmp_path: Path
) -> None:
    sid = sorted(catalog.corpus().index[catalog.corpus()["edit_type"] == "location"])[-1]
    shard = catalog.locate(sid, "edited_video").path
    hub = FakeHub.from_directory(sample_tree_copy, REPO)  # hashes the files now...
    data = bytearray((sample_tree_copy / shard).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (sample_tree_copy / shard).write_bytes(bytes(data))  # ...and serves what is on disk
    cache = tmp_path / "hf"
    with serve_fake_hub(hub), pytest.raises(IntegrityError, match="sha256") as err:
        load_dataset(REPO, "location", streaming=False, ids=[sid], cache_dir=cache, progress=False)
    assert shard in str(err.value)
    assert shard not in snapshot_files(cache)  # removed: a retry downloads it again


def test_corrupt_cached_shard_is_downloaded_again(
    hub: FakeHub, catalog: Catalog, tmp_path: Path
) -> None:
    sid = sorted(catalog.corpus().index[catalog.corpus()["edit_type"] == "time"])[0]
    cache = tmp_path / "hf"
    kwargs: dict[str, Any] = {
        "streaming": False,
        "ids": [sid],
        "cache_dir": cache,
        "progress": False,
    }
    load_dataset(REPO, "time", fields=["source_video"], **kwargs)
    shard = catalog.locate(sid, "source_video").path
    (snap,) = (cache / "datasets--stdKonjac--Sparkle" / "snapshots").iterdir()
    blob = Path(os.path.realpath(snap / shard)) if shard.endswith(".tar") else snap / shard
    blob.write_bytes(b"\0" * blob.stat().st_size)
    hub.reset()
    with pytest.warns(CorruptDownloadWarning):
        ds = load_dataset(REPO, "time", fields=["source_video"], **kwargs)
    assert ds[0]["source_video"]["bytes"] == catalog.read_bytes(sid, "source_video")
    assert hub.count("resolve", "GET") + hub.count("cdn", "GET") >= 1


def test_published_index_replaces_header_reads(
    hub: FakeHub, sample_tree: SampleTreeSummary, catalog: Catalog, tmp_path: Path
) -> None:
    out = tmp_path / "sparkle.sparkle-index"
    published = publish_indexes(sample_tree.root, out, edit_types=["location"], progress=False)
    assert published
    assert all(ix.sha256 for ix in published)
    hub.commit(REPO, {"indexes/sparkle.sparkle-index": out.read_bytes()})
    hub.reset()
    found = fetch_indexes(REPO, edit_types=["location"], progress=False)
    assert set(found) == {p for p in catalog.inventory.shards if "location_" in p}
    assert tar_gets(hub, ranged=True) == []  # no shard was scanned
    for rel, ix in found.items():
        assert ix.entries == build_index(sample_tree.root / rel).entries
    ds = load_dataset(REPO, "location", fields=["edited_video"], progress=False)
    assert tar_gets(hub, ranged=True) == []  # the catalog used it too
    assert [r["edited_video"]["bytes"] for r in ds] == [
        catalog.read_bytes(s, "edited_video")
        for s in sorted(catalog.corpus().index[catalog.corpus()["edit_type"] == "location"])
    ]


def test_stale_published_entries_are_rebuilt(
    hub: FakeHub, sample_tree: SampleTreeSummary, tmp_path: Path
) -> None:
    out = tmp_path / "sparkle.sparkle-index"
    publish_indexes(sample_tree.root, out, edit_types=["time"], progress=False)
    # the index lives in a companion repo, one file per revision of the data
    first = hub.resolve(REPO)
    hub.commit("me/sparkle-indexes", {f"{first}/sparkle.sparkle-index": out.read_bytes()})
    where = "hf://datasets/me/sparkle-indexes/{revision}/sparkle.sparkle-index"
    assert fetch_indexes(REPO, index_file=where, edit_types=["time"], progress=False)
    shard = "time_source_video_part00.tar"
    src = sample_tree.root / shard
    copy = tmp_path / shard
    shutil.copyfile(src, copy)
    with open(copy, "ab") as f:
        f.write(b"\0" * 1024)  # one more end-of-archive block: same members, new size and sha
    second = hub.commit(REPO, {shard: copy.read_bytes()})
    hub.commit("me/sparkle-indexes", {f"{second}/sparkle.sparkle-index": out.read_bytes()})
    hub.reset()
    with pytest.warns(StaleIndexWarning, match=shard):
        found = fetch_indexes(REPO, index_file=where, edit_types=["time"], progress=False)
    assert found[shard].shard_size == copy.stat().st_size
    assert set(tar_gets(hub, ranged=True)) == {shard}
    with (
        pytest.warns(StaleIndexWarning),
        pytest.raises(MissingArtifactError, match="published index"),
    ):
        fetch_indexes(
            REPO, index_file=where, edit_types=["time"], build_missing=False, progress=False
        )
