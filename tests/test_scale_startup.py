"""Start-up on a full-corpus-sized Hub repository: requests to the first sample, with and
without a published index (request counts asserted; seconds printed, never asserted)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sparkle_data.catalog import build_catalog
from sparkle_data.hf import publish_indexes
from sparkle_data.testing.hub import FakeHub, serve_fake_hub
from sparkle_data.testing.scale import ScaleTree, make_scale_tree

pytestmark = [
    pytest.mark.slow,
    pytest.mark.network,
    pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning"),
]
REPO = "stdKonjac/Sparkle"
URL = f"hf://datasets/{REPO}"
VIDEOS = ("source_video", "edited_video")


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> ScaleTree:
    return make_scale_tree(tmp_path_factory.mktemp("scale"), ids=140_000, shards=20)


@pytest.fixture(scope="module")
def published(tree: ScaleTree, tmp_path_factory: pytest.TempPathFactory) -> bytes:
    out = tmp_path_factory.mktemp("index") / "sparkle.sparkle-index"
    publish_indexes(tree.root, out, progress=False)
    return out.read_bytes()


def _hub(tree: ScaleTree, index: bytes | None) -> Iterator[FakeHub]:
    hub = FakeHub.from_directory(tree.root, REPO, redirect_lfs=True)
    if index is not None:
        hub.commit(REPO, {"indexes/sparkle.sparkle-index": index})
    with serve_fake_hub(hub) as served:
        yield served


def _first_sample(tree: ScaleTree, **options: object) -> tuple[float, int]:
    t0 = time.perf_counter()
    catalog = build_catalog(URL, artifacts=VIDEOS, **options)  # type: ignore[arg-type]
    for artifact in VIDEOS:
        assert catalog.read_bytes(tree.first_id, artifact) == b"\x01"
    return time.perf_counter() - t0, len(catalog)


def _tar(hub: FakeHub) -> int:
    return sum(1 for r in hub.requests if str(r.file).endswith(".tar") or r.kind == "cdn")


def test_full_corpus_start_up_with_a_published_index(
    tree: ScaleTree, published: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPARKLE_DATA_CACHE", str(tmp_path / "cache"))
    assert tree.shards >= 200
    for hub in _hub(tree, published):
        seconds, n = _first_sample(tree, cache=False)
        assert n == tree.ids == 140_000
        csv = [r for r in hub.requests if "prompts/" in str(r.file)]
        total = hub.count()
        print(
            f"\npublished index: {total - len(csv)} requests + {len(csv)} CSV block reads "
            f"({len({r.file for r in csv})} CSVs), {seconds:.2f} s to the first sample"
        )
        assert len({r.file for r in csv}) == 5
        assert total - len(csv) <= 20  # the target: <= 20 requests + the CSVs
        # two member reads (resolve + CDN each); nothing else touches a shard
        assert sum(1 for r in hub.requests if str(r.file).endswith(".tar")) == 2


def test_full_corpus_start_up_without_an_index_then_warm(
    tree: ScaleTree, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPARKLE_DATA_CACHE", str(tmp_path / "cache"))
    for hub in _hub(tree, None):
        cold, _ = _first_sample(tree, max_workers=16)
        cold_requests, cold_tar = hub.count(), _tar(hub)
        hub.reset()
        warm, _ = _first_sample(tree)
        print(
            f"\nno index, cold: {cold_requests} requests ({cold_tar} to shards), {cold:.2f} s; "
            f"warm: {hub.count()} requests (CSV blocks included), {warm:.2f} s"
        )
        assert hub.count("tree") == 0
        assert cold_tar > tree.shards  # every shard's headers were read once
        assert sum(1 for r in hub.requests if str(r.file).endswith(".tar")) == 2
        csv = sum(1 for r in hub.requests if "prompts/" in str(r.file))
        assert hub.count() - csv <= 20  # O(1): nothing per shard
