"""Latency hiding on remote roots (kept-alive connections, redirect cache, read-ahead) and the
index-free full pass, against loopback servers (no timing assertions: see bench/bench_remote.py).
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import tarfile
import threading
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sparkle_data.dataset import ReadAhead, SparkleDataset, SparkleFullPass
from sparkle_data.dataset.fullpass import FullPassWarning
from sparkle_data.dataset.readahead import open_read_ahead
from sparkle_data.io import http
from sparkle_data.io.index import load_or_build_index
from sparkle_data.testing import SampleTreeSummary, make_sample_tree
from sparkle_data.testing.http import Faults, serve_directory

pytestmark = pytest.mark.network

FIELDS = ["source_video", "edited_video"]


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> SampleTreeSummary:
    """Two themes, several misaligned shards per family, no loose previews."""
    return make_sample_tree(
        tmp_path_factory.mktemp("remote"),
        edit_types=["time", "location"],
        samples=6,
        preview_count=0,
        shard_size=60_000,
        bench=False,
    )


@pytest.fixture(scope="module")
def local(tree: SampleTreeSummary) -> dict[str, dict[str, Any]]:
    ds = SparkleDataset(tree.root, fields=FIELDS, output="numpy")
    return {s["sample_id"]: s for s in ds}


def _same(a: dict[str, dict[str, Any]], b: dict[str, dict[str, Any]]) -> None:
    assert sorted(a) == sorted(b)
    for sid in a:
        for f in FIELDS:
            np.testing.assert_array_equal(a[sid][f], b[sid][f])


def test_connections_are_reused_across_members_and_shards(
    tree: SampleTreeSummary, local: dict[str, dict[str, Any]]
) -> None:
    with serve_directory(tree.root) as server:
        ds = SparkleDataset(server.base_url, fields=FIELDS, output="numpy", read_ahead=False)
        http.close_connections()
        before, gets = http.connections_opened(), server.count("GET")
        got = {s["sample_id"]: s for s in ds}
        members = server.count("GET") - gets
        opened = http.connections_opened() - before
    _same(local, got)
    assert members >= 2 * len(local)  # one ranged read per member, over many shards
    assert opened == 1  # ...all on one kept-alive connection


class CountingProxy:
    """A TCP forwarder on 127.0.0.1 that counts the connections made through it."""

    def __init__(self, target: str) -> None:
        self.target_port = int(target.rsplit(":", 1)[1])
        self.accepted = 0
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.base_url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._sock.accept()
            except OSError:
                return
            self.accepted += 1
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._sock.close()


def test_each_dataloader_worker_keeps_one_connection(tree: SampleTreeSummary) -> None:
    from torch.utils.data import DataLoader

    with serve_directory(tree.root) as server:
        proxy = CountingProxy(server.base_url)
        try:
            ds = SparkleDataset(proxy.base_url, fields=FIELDS, output="numpy", read_ahead=False)
            accepted, gets = proxy.accepted, server.count("GET")
            loader = DataLoader(ds, batch_size=None, num_workers=2, collate_fn=lambda x: x)
            n = sum(1 for _ in loader)
            members = server.count("GET") - gets
            opened = proxy.accepted - accepted
        finally:
            proxy.close()
    assert n == len(ds.ids)
    assert members >= 2 * n
    assert opened <= 2  # one per worker, reused across members and shards


def test_redirect_is_followed_once_per_file_and_cached(
    tree: SampleTreeSummary, local: dict[str, dict[str, Any]]
) -> None:
    http.clear_redirects()
    with serve_directory(tree.root) as cdn, serve_directory(tree.root) as hub:
        hub.reset(Faults(redirect=cdn.base_url))
        ds = SparkleDataset(hub.base_url, fields=FIELDS, output="numpy", read_ahead=False)
        hub.reset()
        got = {s["sample_id"]: s for s in ds}
        stats = http.redirect_stats()
    _same(local, got)
    assert hub.count() == 0  # every member read went straight to the remembered CDN URL
    assert stats["hits"] >= 2 * len(local)
    assert stats["resolved"] == stats["cached"]


def test_redirect_is_resolved_again_when_the_target_is_gone_or_expired(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "f.bin").write_bytes(b"x" * 100)
    (tmp_path / "b" / "f.bin").write_bytes(b"x" * 100)
    http.clear_redirects()
    with (
        serve_directory(tmp_path / "a") as cdn1,
        serve_directory(tmp_path / "b") as cdn2,
        serve_directory(tmp_path / "a", faults=Faults(redirect=cdn1.base_url)) as hub,
    ):
        from sparkle_data.io.remote import read_range

        url = hub.url("f.bin")
        assert read_range(url, 0, 10) == b"x" * 10
        assert read_range(url, 10, 10) == b"x" * 10
        assert hub.count() == 1
        assert http.redirect_stats()["hits"] == 1
        # the CDN no longer has it (an expired signed URL answers 403/404): resolve again
        (tmp_path / "a" / "f.bin").unlink()
        hub.faults.redirect = cdn2.base_url
        assert read_range(url, 20, 10) == b"x" * 10
        assert hub.count() == 2
        assert http.redirect_stats()["dropped"] == 1
        assert cdn2.count() == 1
        # expired entries are resolved again too
        monkeypatch.setattr(http, "REDIRECT_TTL", 0.0)
        http.clear_redirects()
        read_range(url, 0, 10)
        read_range(url, 0, 10)
        assert hub.count() == 4
        assert http.redirect_stats()["cached"] == 0


def test_read_ahead_is_bounded_and_gives_identical_samples(
    tree: SampleTreeSummary, local: dict[str, dict[str, Any]]
) -> None:
    with serve_directory(tree.root) as server:
        config = ReadAhead(samples=4, max_bytes=120_000, threads=2)
        ds = SparkleDataset(server.base_url, fields=FIELDS, output="numpy", read_ahead=config)
        _same(local, {s["sample_id"]: s for s in ds})
        files = open_read_ahead(ds.catalog, ds.fields, ds.ids, config)
        assert files is not None
        try:
            for i, sid in enumerate(ds.ids):
                files.advance(i)
                for f in FIELDS:
                    with files.open(sid, f) as fh:
                        assert fh.read() == ds.catalog.read_bytes(sid, f)
        finally:
            files.close()
        assert 0 < files.peak <= config.max_bytes
        assert files.hits > 0
    # off for local roots unless forced
    local_catalog = SparkleDataset(tree.root, fields=FIELDS).catalog
    assert open_read_ahead(local_catalog, FIELDS, ["x"], None) is None
    with pytest.raises(ValueError, match="read_ahead"):
        ReadAhead(samples=0)


def test_full_pass_equals_the_indexed_pass_and_caches_indexes(
    tree: SampleTreeSummary, local: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    with serve_directory(tree.root) as server:
        fp = SparkleFullPass(server.base_url, fields=FIELDS, output="numpy", cache_dir=cache)
        server.reset()
        got = {s["sample_id"]: s for s in fp}
        gets = server.count("GET")
        _same(local, got)
        shards = list(fp.catalog.inventory.shards)
        assert gets == len(shards)  # one sequential read per shard, no per-member request
        assert fp.stats.indexes_cached == len(shards)
        assert fp.stats.bytes_needed <= fp.stats.bytes_read
        # the next epoch finds every index in the cache: no shard is read to index it
        server.reset()
        for rel in shards:
            load_or_build_index(server.url(rel), cache_dir=cache)
        assert server.count("GET") == 0
        indexed = fp.indexed()
        scans = [r for r in server.requests if r.method == "GET" and r.path.endswith(".tar")]
        assert scans == []  # the catalog of the next epoch scanned no shard
        _same(local, {s["sample_id"]: s for s in indexed})


def test_full_pass_is_split_over_workers(tree: SampleTreeSummary) -> None:
    from torch.utils.data import DataLoader

    fp = SparkleFullPass(tree.root, fields=FIELDS, output="numpy", cache=False)
    loader = DataLoader(fp, batch_size=None, num_workers=2, collate_fn=lambda x: x)
    ids = [s["sample_id"] for s in loader]
    assert sorted(ids) == sorted(fp.ids)
    assert len(set(ids)) == len(ids)


def _one_reversed_shard(root: Path, edit_type: str) -> None:
    """Put a family's members in one shard, in descending id order (tar order is free)."""
    import io

    parts = sorted(root.glob(f"{edit_type}_edited_video_part*.tar"))
    members = []
    for part in parts:
        with tarfile.open(part) as src:
            members += [(m, src.extractfile(m).read()) for m in src.getmembers() if m.isfile()]  # type: ignore[union-attr]
        part.unlink()
    members.sort(key=lambda m: m[0].name, reverse=True)
    with tarfile.open(parts[0], "w", format=tarfile.USTAR_FORMAT) as dst:
        for m, data in members:
            dst.addfile(m, io.BytesIO(data))


def test_incompatible_order_warns_and_falls_back_to_indexing(
    tree: SampleTreeSummary, local: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    root = tmp_path / "Sparkle"
    shutil.copytree(tree.root, root)
    for edit_type in ("time", "location"):
        _one_reversed_shard(root, edit_type)
    fp = SparkleFullPass(root, fields=FIELDS, output="numpy", join_buffer=1, cache=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = {s["sample_id"]: s for s in fp}
    assert any(issubclass(w.category, FullPassWarning) for w in caught)
    assert fp.stats.fallbacks > 0
    _same(local, got)


def test_redirect_target_that_is_down_is_resolved_again(tmp_path: Path) -> None:
    from sparkle_data.io.remote import read_range

    (tmp_path / "f.bin").write_bytes(b"y" * 100)
    http.clear_redirects()
    with (
        serve_directory(tmp_path) as cdn2,
        serve_directory(tmp_path, faults=Faults(redirect="http://127.0.0.1:9")) as hub,
    ):
        with serve_directory(tmp_path) as cdn1:
            hub.faults.redirect = cdn1.base_url
            assert read_range(hub.url("f.bin"), 0, 10) == b"y" * 10
        http.close_connections()  # no kept-alive socket to cdn1 survives it
        # cdn1 is gone (connection refused): the Hub URL is asked again, once
        hub.faults.redirect = cdn2.base_url
        assert read_range(hub.url("f.bin"), 10, 10) == b"y" * 10
        assert hub.count() == 2
        assert cdn2.count() == 1
        assert http.redirect_stats()["dropped"] == 1


def test_concurrent_first_reads_of_a_redirecting_host_resolve_once(tmp_path: Path) -> None:
    """A read-ahead's first wave asks for many members of one shard at once: on a host seen
    redirecting, one thread asks it and the others wait for that answer."""
    from concurrent.futures import ThreadPoolExecutor

    from sparkle_data.io.remote import read_range

    (tmp_path / "a.bin").write_bytes(b"a" * 100)
    (tmp_path / "shard.tar").write_bytes(bytes(range(256)) * 64)
    http.clear_redirects()
    with (
        serve_directory(tmp_path) as cdn,
        serve_directory(tmp_path, faults=Faults(redirect=cdn.base_url, latency=0.2)) as hub,
    ):
        assert read_range(hub.url("a.bin"), 0, 10) == b"a" * 10  # the host is seen redirecting
        hub.reset()
        with ThreadPoolExecutor(8) as pool:
            got = list(pool.map(lambda i: read_range(hub.url("shard.tar"), i * 256, 256), range(8)))
        stats = http.redirect_stats()
    assert got == [bytes(range(256))] * 8
    assert hub.count() == 1
    assert stats["waited"] >= 1
    assert cdn.count("GET") == 9


def test_hosts_that_never_redirected_are_not_waited_on(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from sparkle_data.io.remote import read_range

    (tmp_path / "shard.tar").write_bytes(b"z" * 4096)
    http.clear_redirects()
    with serve_directory(tmp_path, faults=Faults(latency=0.1)) as server:
        with ThreadPoolExecutor(4) as pool:
            got = list(pool.map(lambda i: read_range(server.url("shard.tar"), i, 8), range(4)))
        assert got == [b"z" * 8] * 4
        assert server.count() == 4
    assert http.redirect_stats()["waited"] == 0


def test_a_redirect_to_a_missing_target_is_not_remembered(tmp_path: Path) -> None:
    from sparkle_data.io.remote import read_range

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "f.bin").write_bytes(b"q" * 50)
    http.clear_redirects()
    with (
        serve_directory(tmp_path / "a") as empty_cdn,
        serve_directory(tmp_path / "b", faults=Faults(redirect=empty_cdn.base_url)) as hub,
    ):
        with pytest.raises(FileNotFoundError):
            read_range(hub.url("f.bin"), 0, 10)
        assert http.redirect_stats()["cached"] == 0
