"""Read-ahead coalesces the members of one shard into few ranged reads (tiny members), and
keeps the bytes and the errors of reading each member alone (no timing assertions: see
bench/bench_remote.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from sparkle_data.catalog import Catalog, build_catalog
from sparkle_data.dataset import ReadAhead
from sparkle_data.dataset.readahead import ReadAheadFiles, open_read_ahead
from sparkle_data.io.fs import glob, join
from sparkle_data.io.index import add_checksums, build_indexes, write_indexes
from sparkle_data.testing import SampleTreeSummary, make_sample_tree
from sparkle_data.testing.faults import Faults
from sparkle_data.testing.http import serve_directory

pytestmark = pytest.mark.network
FIELDS = ("source_video", "edited_video")


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> SampleTreeSummary:
    """One theme, every family in one shard: consecutive ids sit next to each other."""
    return make_sample_tree(
        tmp_path_factory.mktemp("coalesce"),
        edit_types=["time"],
        samples=8,
        preview_count=0,
        shard_size=10_000_000,
        bench=False,
    )


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPARKLE_DATA_CACHE", str(tmp_path / "cache"))


def _read_all(
    catalog: Catalog, ids: list[str], config: ReadAhead
) -> tuple[dict[tuple[str, str], bytes], ReadAheadFiles]:
    files = open_read_ahead(catalog, FIELDS, ids, config)
    assert files is not None
    got: dict[tuple[str, str], bytes] = {}
    try:
        for i, sid in enumerate(ids):
            files.advance(i)
            for f in FIELDS:
                with files.open(sid, f) as fh:
                    got[(sid, f)] = fh.read()
    finally:
        files.close()
    return got, files


def test_members_of_one_shard_come_in_few_requests(tree: SampleTreeSummary) -> None:
    local = build_catalog(tree.root, edit_types=["time"], artifacts=FIELDS)
    with serve_directory(tree.root) as server:
        catalog = build_catalog(server.base_url, edit_types=["time"], artifacts=FIELDS)
        ids = sorted(catalog.corpus().index)
        # a worker's share: every other sample (the gaps are the other worker's members)
        mine = ids[::2]
        server.reset()
        got, files = _read_all(catalog, mine, ReadAhead(samples=8, threads=2))
        assert got == {(s, f): local.read_bytes(s, f) for s in mine for f in FIELDS}
        members = len(mine) * len(FIELDS)
        gets = server.count("GET")
        assert files.hits == members
        assert gets == files.requests < members
        assert gets <= 2 * len(FIELDS)  # at most one refill after the first window
        assert 0 < files.peak <= files.config.max_bytes
        # without gaps allowed, the strided share is read member by member
        server.reset()
        _, alone = _read_all(catalog, mine, ReadAhead(samples=8, threads=2, max_gap=0))
        assert server.count("GET") == alone.requests == members


def test_the_byte_budget_bounds_coalesced_reads(tree: SampleTreeSummary) -> None:
    local = build_catalog(tree.root, edit_types=["time"], artifacts=FIELDS)
    sizes = [local.locate(s, "source_video").size or 0 for s in local.corpus().index]
    budget = 3 * max(sizes) * len(FIELDS)
    with serve_directory(tree.root) as server:
        catalog = build_catalog(server.base_url, edit_types=["time"], artifacts=FIELDS)
        ids = sorted(catalog.corpus().index)
        got, files = _read_all(catalog, ids, ReadAhead(samples=8, threads=2, max_bytes=budget))
        assert got == {(s, f): local.read_bytes(s, f) for s in ids for f in FIELDS}
        assert 0 < files.peak <= budget


def test_a_flipped_bit_in_a_coalesced_read_is_read_again_alone(
    tree: SampleTreeSummary, tmp_path: Path
) -> None:
    root = tmp_path / "Sparkle"
    shutil.copytree(tree.root, root)
    shards = [join(str(root), p) for p in glob(str(root), "*_part*.tar")]
    built = build_indexes(shards, progress=False)
    checked = [add_checksums(ix, s) for ix, s in zip(built, shards, strict=True)]
    (root / "indexes").mkdir()
    write_indexes(root / "indexes" / "sparkle.sparkle-index", checked)
    local = build_catalog(root, edit_types=["time"], artifacts=FIELDS)
    with serve_directory(root) as server:
        catalog = build_catalog(server.base_url, edit_types=["time"], artifacts=FIELDS)
        ids = sorted(catalog.corpus().index)
        assert all(ix.entries[0].crc32 is not None for ix in catalog.indexes.values())
        # the first body of each shard loses one bit inside its first member
        server.faults = Faults(flip_first=1, flip_at=600, paths="*_part*.tar")
        got, files = _read_all(catalog, ids, ReadAhead(samples=8, threads=1))
        assert got == {(s, f): local.read_bytes(s, f) for s in ids for f in FIELDS}
        assert files.refetched == 1
