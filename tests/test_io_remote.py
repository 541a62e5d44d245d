"""Remote reads over the loopback HTTP server (fault injection), fsspec roots and fs helpers."""

from __future__ import annotations

import io
import os
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch.utils.data as torch_data
from fsspec.implementations.memory import MemoryFileSystem
from hypothesis import given, settings
from hypothesis import strategies as st

from sparkle_data.errors import IntegrityError, RemoteError
from sparkle_data.io import fs as sfs
from sparkle_data.io.index import (
    build_index,
    build_indexes,
    load_or_build_index,
    open_member,
    read_index,
    read_member,
    verify_shard,
    write_index,
)
from sparkle_data.io.remote import HTTPRangeFileSystem, RangeFile, read_range, stat_remote
from sparkle_data.io.safetar import iter_tar_files
from sparkle_data.testing.http import Faults, LoopbackServer, serve_directory

SHARD = "location_source_video_part00.tar"
SIZES = st.one_of(st.sampled_from([0, 1, 511, 512, 513]), st.integers(0, 5000))


def make_tar(sizes: list[int], seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tf:
        for i, size in enumerate(sizes):
            ti = tarfile.TarInfo(f"location/source_video/Sparkle_location_{i:06d}.mp4")
            ti.size = size
            tf.addfile(ti, io.BytesIO(rng.bytes(size)))
    return buf.getvalue()


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[Path, LoopbackServer]]:
    with tempfile.TemporaryDirectory() as d, serve_directory(d) as server:
        yield Path(d), server


@pytest.fixture
def shard(served: tuple[Path, LoopbackServer]) -> tuple[Path, LoopbackServer, bytes]:
    root, server = served
    data = make_tar([100, 5000, 70_000, 513, 0, 200_000])
    (root / SHARD).write_bytes(data)
    server.reset(Faults())
    return root / SHARD, server, data


# --------------------------------------------------------------------------- index over HTTP


@pytest.mark.network
def test_remote_index_equals_local_index(shard: tuple[Path, LoopbackServer, bytes]) -> None:
    path, server, _ = shard
    url = server.url(SHARD)
    local = build_index(path)
    remote = build_index(url)
    assert remote.entries == local.entries
    assert remote.shard_size == local.shard_size
    assert remote.end_offset == local.end_offset
    assert remote.etag
    assert remote.source == url
    assert server.count("GET") <= len(local) + 2  # header hops, not data
    verify_shard(url, remote)


@pytest.mark.network
@settings(max_examples=15, deadline=None)
@given(sizes=st.lists(SIZES, min_size=1, max_size=6), seed=st.integers(0, 3))
def test_random_read_over_http_equals_sequential_scan(
    served: tuple[Path, LoopbackServer], sizes: list[int], seed: int
) -> None:
    root, server = served
    server.reset(Faults())
    data = make_tar(sizes, seed)
    shard = f"location_source_video_part{seed + 10:02d}.tar"
    (root / shard).write_bytes(data)
    url = server.url(shard)
    index = build_index(url)
    streamed = {m.name: d for m, d in iter_tar_files(io.BytesIO(data))}
    assert index.entries == build_index(io.BytesIO(data), shard_name=shard).entries
    for k in np.random.default_rng(seed).permutation(len(index)):
        entry = index.entries[k]
        assert read_member(url, entry) == streamed[entry.name]
        with open_member(url, entry, block_size=1000) as f:
            assert f.read() == streamed[entry.name]


@pytest.mark.network
def test_open_member_is_bounded_and_seekable(shard: tuple[Path, LoopbackServer, bytes]) -> None:
    path, server, _ = shard
    index = build_index(path)
    entry = index.entries[2]
    expected = read_member(path, entry)
    with open_member(server.url(SHARD), entry, block_size=4096) as f:
        assert isinstance(f, RangeFile)
        assert f.size == entry.size
        f.seek(entry.size - 10)
        assert f.read(100) == expected[-10:]  # never past the member
        f.seek(1000)
        assert f.read(10) == expected[1000:1010]
        before = server.count("GET")
        assert f.read(10) == expected[1010:1020]  # served from the read-ahead block
        assert server.count("GET") == before
        buf = bytearray(50)
        f.seek(0)
        assert f.readinto(buf) == 50
        assert bytes(buf) == expected[:50]


# --------------------------------------------------------------------------- fault injection


@pytest.mark.network
def test_dropped_connection_resumes_from_offset(shard: tuple[Path, LoopbackServer, bytes]) -> None:
    path, server, data = shard
    entry = build_index(path).entries[5]
    server.reset(Faults(drop_after=30_000, drop_first=2, chunk_size=8192))
    assert read_member(server.url(SHARD), entry) == data[entry.offset : entry.end]
    ranges = [r.range for r in server.requests]
    assert ranges == [
        f"bytes={entry.offset}-{entry.end - 1}",
        f"bytes={entry.offset + 30_000}-{entry.end - 1}",
        f"bytes={entry.offset + 60_000}-{entry.end - 1}",
    ]


@pytest.mark.network
def test_server_ignoring_range_never_corrupts(shard: tuple[Path, LoopbackServer, bytes]) -> None:
    path, server, data = shard
    entry = build_index(path).entries[3]
    server.reset(Faults(ignore_range=True))
    with pytest.raises(RemoteError, match="ignored 'Range") as info:
        read_member(server.url(SHARD), entry)
    assert info.value.attempts == 1
    assert info.value.offset == entry.offset
    assert server.count("GET") == 1  # not retried: retrying cannot help
    # a read from byte 0 may use the first bytes of a 200 answer: they are the range
    assert read_range(server.url(SHARD), 0, 700) == data[:700]
    # a resumed read must get 206: drop the 200 answer mid-body, the resume gets 200 again
    server.reset(Faults(ignore_range=True, drop_after=300, drop_first=1))
    with pytest.raises(RemoteError, match="200"):
        read_range(server.url(SHARD), 0, 700, backoff=0)


@pytest.mark.network
def test_slow_server_times_out_with_url_offset_attempts(
    shard: tuple[Path, LoopbackServer, bytes],
) -> None:
    _, server, _ = shard
    server.reset(Faults(delay=0.3))
    url = server.url(SHARD)
    with pytest.raises(RemoteError) as info:
        read_range(url, 1024, 100, timeout=0.05, retries=2, backoff=0)
    err = info.value
    assert (err.url, err.offset, err.attempts) == (url, 1024, 3)
    assert "timed out" in str(err)
    assert isinstance(err, ConnectionError)


@pytest.mark.network
def test_5xx_then_success_and_budget(shard: tuple[Path, LoopbackServer, bytes]) -> None:
    _, server, data = shard
    url = server.url(SHARD)
    server.reset(Faults(fail_first=2, fail_status=503))
    assert read_range(url, 512, 100, backoff=0) == data[512:612]
    assert [r.status for r in server.requests] == [503, 503, 206]
    server.reset(Faults(fail_first=10, fail_status=502))
    with pytest.raises(RemoteError, match="HTTP 502") as info:
        read_range(url, 512, 100, retries=3, backoff=0)
    assert info.value.attempts == 4
    assert server.count() == 4
    server.reset(Faults(fail_first=1))
    assert stat_remote(url, backoff=0)[0] == len(data)  # HEAD is retried too


@pytest.mark.network
def test_missing_short_and_changed_files(shard: tuple[Path, LoopbackServer, bytes]) -> None:
    path, server, data = shard
    with pytest.raises(FileNotFoundError):
        read_range(server.url("nope.tar"), 0, 10)
    with pytest.raises(FileNotFoundError):
        RangeFile(server.url("nope.tar"))
    with pytest.raises(FileNotFoundError):
        RangeFile(path.parent / "nope.tar")
    assert not sfs.exists(server.url("nope.tar"))
    assert sfs.exists(server.url(SHARD))
    with pytest.raises(IntegrityError, match=r"shorter|only"):
        read_range(server.url(SHARD), len(data) - 10, 100)
    with pytest.raises(IntegrityError, match="not satisfiable"):
        read_range(server.url(SHARD), len(data) + 10, 100)
    # the file changes under an open RangeFile: the ETag check refuses to mix versions
    with RangeFile(server.url(SHARD), block_size=0) as f:
        assert f.read(10) == data[:10]
        path.write_bytes(data[::-1])
        os.utime(path, ns=(10**18, 10**18))
        with pytest.raises(IntegrityError, match="changed"):
            f.read(10)


@pytest.mark.network
def test_redirects_are_followed(shard: tuple[Path, LoopbackServer, bytes]) -> None:
    path, cdn, data = shard
    with serve_directory(path.parent, faults=Faults(redirect=cdn.base_url)) as hub:
        url = hub.url(SHARD)
        assert read_range(url, 1000, 3000) == data[1000:4000]
        index = build_index(url)
        assert (
            read_member(url, index.entries[2])
            == data[index.entries[2].offset : index.entries[2].end]
        )
        assert cdn.count() > 2
        assert hub.count() == 1  # followed once, then the CDN URL is remembered
        assert {r.status for r in hub.requests} == {302}


@pytest.mark.network
def test_http_proxy_from_environment(
    shard: tuple[Path, LoopbackServer, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, server, data = shard
    for var in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("http_proxy", server.base_url)
    assert read_range(f"http://sparkle.invalid/{SHARD}", 100, 50, retries=0) == data[100:150]
    assert server.requests[-1].path == SHARD


@pytest.mark.network
def test_http_roots_cannot_list_but_accept_a_file_list(
    shard: tuple[Path, LoopbackServer, bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, server, _ = shard
    with pytest.raises(NotImplementedError, match="file list"):
        sfs.glob(server.base_url, "*.tar")
    files = [SHARD, "location_edited_video_part00.tar", "prompts/location_train.csv"]
    assert sfs.glob(server.base_url, "*_part*.tar", files=files) == sorted(files[:2])
    assert sfs.ls(server.base_url, files=files) == sorted(files[:2])
    fs, base = sfs.resolve(server.base_url + "/")
    assert isinstance(fs, HTTPRangeFileSystem)
    assert base == server.base_url
    with fs.open(sfs.join(base, SHARD)) as f:
        assert f.read(3) == (server.root / SHARD).read_bytes()[:3]
    assert fs.cat_file(sfs.join(base, SHARD), 10, 20) == (server.root / SHARD).read_bytes()[10:20]
    info = sfs.info(sfs.join(base, SHARD))
    assert info.size == (server.root / SHARD).stat().st_size
    assert info.etag
    # remote caching and a published index read back over HTTP
    monkeypatch.setenv("SPARKLE_DATA_CACHE", str(tmp_path))
    url = server.url(SHARD)
    index = load_or_build_index(url)
    hops = server.count("GET")
    assert load_or_build_index(url) == index
    assert server.count("GET") == hops
    write_index(server.root / "x.sparkle-index", index)
    assert read_index(server.url("x.sparkle-index")) == index
    assert build_indexes([url, url], max_workers=2, progress=False) == [index, index]


# --------------------------------------------------------------------------- fsspec + helpers


class FlakyMemoryFS(MemoryFileSystem):  # type: ignore[misc]
    """A memory filesystem whose first ``failures`` opens raise a transient error."""

    protocol = "flakymem"
    failures = 0
    opens = 0

    def _open(self, path: str, *args: Any, **kwargs: Any) -> Any:
        type(self).opens += 1
        if type(self).failures > 0:
            type(self).failures -= 1
            raise ConnectionResetError("transient")
        return super()._open(path, *args, **kwargs)


def test_fsspec_reads_are_retried_and_checked() -> None:
    fs = FlakyMemoryFS()
    fs.pipe_file("/d/f.bin", bytes(range(256)) * 4)
    FlakyMemoryFS.failures, FlakyMemoryFS.opens = 2, 0
    assert read_range("/d/f.bin", 10, 20, fs=fs, backoff=0) == (bytes(range(256)) * 4)[10:30]
    assert FlakyMemoryFS.opens == 3
    FlakyMemoryFS.failures = 5
    with pytest.raises(RemoteError) as info:
        read_range("/d/f.bin", 10, 20, fs=fs, retries=1, backoff=0)
    assert info.value.attempts == 2
    assert info.value.url == "flakymem:///d/f.bin"
    FlakyMemoryFS.failures = 0
    with pytest.raises(IntegrityError):
        read_range("/d/f.bin", 1000, 100, fs=fs)
    with RangeFile("/d/f.bin", fs=fs, block_size=16) as f:
        f.seek(250)
        assert f.read(12) == bytes([250, 251, 252, 253, 254, 255, 0, 1, 2, 3, 4, 5])


def test_memory_root_index_and_glob() -> None:
    fs = MemoryFileSystem()
    fs.pipe_file(f"/sparkle/{SHARD}", make_tar([10, 600]))
    fs.pipe_file("/sparkle/prompts/location_train.csv", b"x")
    assert sfs.glob("memory://sparkle", "*.tar") == [SHARD]
    assert sfs.glob("memory://sparkle", "**/*.csv") == ["prompts/location_train.csv"]
    index = build_index(f"memory://sparkle/{SHARD}")
    assert [e.size for e in index] == [10, 600]
    assert index.source == f"memory:///sparkle/{SHARD}"


def test_local_helpers(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.tar").write_bytes(b"123")
    (tmp_path / "y.tar").write_bytes(b"4")
    assert sfs.glob(tmp_path, "*.tar") == ["y.tar"]
    assert sfs.glob(tmp_path, "**/*.tar") == ["a/x.tar", "y.tar"]
    assert sfs.ls(tmp_path) == ["a", "y.tar"]
    assert sfs.size(tmp_path / "y.tar") == 1
    assert sfs.exists(tmp_path / "a")
    assert sfs.info(tmp_path / "a" / "x.tar").etag
    with sfs.open_binary(tmp_path / "a" / "x.tar") as f:
        assert f.read() == b"123"
    with pytest.raises(ValueError, match=r"'\.\.'"):
        sfs.join(str(tmp_path), "../etc")
    assert sfs.join("hf://datasets/a/b@main", "x/y.tar") == "hf://datasets/a/b@main/x/y.tar"


def test_hub_info_mapping_and_resolution() -> None:
    fs, path = sfs.resolve("hf://datasets/stdKonjac/Sparkle@main/")
    assert type(fs).__name__ == "HfFileSystem"
    assert path == "datasets/stdKonjac/Sparkle@main"
    assert sfs.unresolve(fs, path + "/x.tar") == "hf://datasets/stdKonjac/Sparkle@main/x.tar"

    class Lfs:
        sha256 = "ab" * 32

    meta = {"name": "x", "size": 5, "type": "file", "blob_id": "b1", "lfs": Lfs()}
    assert sfs._file_info("hf://x", meta) == sfs.FileInfo("hf://x", 5, "b1", "ab" * 32)
    meta["lfs"] = {"sha256": "cd" * 32, "size": 5}
    assert sfs._file_info("hf://x", meta).sha256 == "cd" * 32


class HfFileSystem(MemoryFileSystem):  # type: ignore[misc]
    """Stands in for ``huggingface_hub.HfFileSystem``: listings carry ``blob_id`` and ``lfs``."""

    protocol = "fakehf"

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> list[Any]:
        out: list[Any] = super().ls(path, detail=True, **kwargs)
        for entry in out:
            if entry["type"] == "file":
                entry["blob_id"] = "blob-" + entry["name"].rsplit("/", 1)[-1]
                entry["lfs"] = {"sha256": "ef" * 32, "size": entry["size"]}
        return out


def test_hub_like_filesystem_info_and_index() -> None:
    fs = HfFileSystem()
    fs.pipe_file(f"/datasets/a/b@main/{SHARD}", make_tar([7, 700]))
    path = f"/datasets/a/b@main/{SHARD}"
    info = sfs.info(path, fs=fs)
    assert (info.etag, info.sha256) == (f"blob-{SHARD}", "ef" * 32)
    assert info.location == f"hf://{path}"
    index = build_index(path, fs=fs)
    assert (index.sha256, [e.size for e in index]) == ("ef" * 32, [7, 700])
    assert (
        read_member(path, index.entries[1], fs=fs)
        == make_tar([7, 700])[index.entries[1].offset : index.entries[1].end]
    )


class _RangeReads(torch_data.IterableDataset[bool]):
    """Each DataLoader worker reads many ranges through ``read_range``'s shared connections."""

    def __init__(self, url: str, data: bytes) -> None:
        self.url, self.data = url, data

    def __iter__(self) -> Iterator[bool]:
        info = torch_data.get_worker_info()
        worker = info.id if info is not None else 0
        for k in range(60):
            off = (k * 7919 + worker * 104729) % (len(self.data) - 5000)
            yield read_range(self.url, off, 4096) == self.data[off : off + 4096]


def test_forked_workers_do_not_share_kept_alive_connections(
    shard: tuple[Path, LoopbackServer, bytes],
) -> None:
    """A forked worker inherits the parent's kept-alive sockets; two processes talking over
    one connection read each other's answers. Each process must open its own."""
    _, server, data = shard
    url = server.url(SHARD)
    assert read_range(url, 0, 100) == data[:100]  # the parent now keeps a connection open
    loader = torch_data.DataLoader(
        _RangeReads(url, data), batch_size=None, num_workers=2, multiprocessing_context="fork"
    )
    results = list(loader)
    assert len(results) == 120
    assert all(results)
    assert read_range(url, 200, 100) == data[200:300]  # the parent's connection still works
