"""Member indexes: building, random reads, verification, the on-disk format and the cache."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import pickle
import tarfile
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sparkle_data.errors import IntegrityError, LayoutError, MissingArtifactError
from sparkle_data.io.cache import CACHE_ENV, IndexCacheWarning
from sparkle_data.io.index import (
    FORMAT_VERSION,
    IndexEntry,
    ShardIndex,
    build_index,
    build_indexes,
    decode_indexes,
    encode_indexes,
    index_cache_path,
    index_matches,
    load_or_build_index,
    open_member,
    read_index,
    read_indexes,
    read_member,
    verify_shard,
    write_index,
    write_indexes,
)
from sparkle_data.io.safetar import BLOCK_SIZE, iter_tar_files, padded_size
from sparkle_data.layout import validate_member_path
from sparkle_data.policy import SkipReport

SHARD = "location_source_video_part00.tar"
SIZES = st.one_of(st.sampled_from([0, 1, 511, 512, 513, 1024, 1025]), st.integers(0, 3000))


def name(i: int) -> str:
    return f"location/source_video/Sparkle_location_{i:06d}.mp4"


def make_tar(sizes: list[int], *, fmt: int = tarfile.GNU_FORMAT, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        for d in ("location", "location/source_video"):
            ti = tarfile.TarInfo(d)
            ti.type = tarfile.DIRTYPE
            tf.addfile(ti)
        for i, size in enumerate(sizes):
            ti = tarfile.TarInfo(name(i * 7 % 1000))
            ti.size = size
            tf.addfile(ti, io.BytesIO(rng.bytes(size)))
    return buf.getvalue()


def write_shard(folder: Path, sizes: list[int], shard: str = SHARD, **kwargs: int) -> Path:
    path = folder / shard
    path.write_bytes(make_tar(sizes, **kwargs))
    return path


# --------------------------------------------------------------------------- random reads


@settings(max_examples=40, deadline=None)
@given(sizes=st.lists(SIZES, min_size=0, max_size=8), fmt=st.sampled_from([0, 1, 2]))
def test_random_read_through_index_equals_sequential_scan(sizes: list[int], fmt: int) -> None:
    data = make_tar(sizes, fmt=[tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT][fmt])
    index = build_index(io.BytesIO(data), shard_name=SHARD)
    streamed = {m.name: d for m, d in iter_tar_files(io.BytesIO(data))}
    assert [e.name for e in index] == list(streamed)
    f = io.BytesIO(data)
    for k in np.random.default_rng(len(sizes)).permutation(len(index)):
        entry = index.entries[k]
        assert read_member(f, entry) == streamed[entry.name]
        with open_member(f, entry) as m:
            assert m.read() == streamed[entry.name]
    assert decode_indexes(encode_indexes([index])) == [index]


def test_local_paths_and_member_files(tmp_path: Path) -> None:
    path = write_shard(tmp_path, [0, 511, 512, 513, 4000])
    index = build_index(path)
    assert index.shard == SHARD
    assert index.shard_size == path.stat().st_size
    assert index.etag is not None
    assert index.source == str(path)
    with path.open("rb") as f:
        streamed = {m.name: d for m, d in iter_tar_files(f)}
    entry = index.entries[4]
    assert read_member(path, entry) == streamed[entry.name]
    with open_member(path, entry) as m:
        assert m.seekable()
        assert m.name.endswith("::" + entry.name)
        assert m.seek(-10, os.SEEK_END) == entry.size - 10
        assert m.read() == streamed[entry.name][-10:]
        assert m.read() == b""
        m.seek(100)
        assert m.read(3) == streamed[entry.name][100:103]
        assert m.tell() == 103


def test_lookup_by_name_and_sample_id(tmp_path: Path) -> None:
    index = build_index(write_shard(tmp_path, [10, 20, 30]))
    entry = index.entries[1]
    assert index[entry.name] is entry
    assert index.entry(entry.sample_id) is entry
    assert entry.sample_id in index
    assert "nope" not in index
    assert index.get("nope") is None
    with pytest.raises(MissingArtifactError, match="nope"):
        index.entry("nope")
    with pytest.raises(KeyError):
        index["nope"]
    assert len(index) == 3
    assert pickle.loads(pickle.dumps(index)) == index  # noqa: S301 (as DataLoader workers do)
    assert repr(index) == f"ShardIndex('{SHARD}', 3 members, {index.shard_size} bytes)"


def test_shard_name_is_validated(tmp_path: Path) -> None:
    bad = tmp_path / "random.tar"
    bad.write_bytes(make_tar([1]))
    with pytest.raises(LayoutError, match="shard name"):
        build_index(bad)
    with pytest.raises(TypeError, match="shard_name"):
        build_index(io.BytesIO(make_tar([1])))


# --------------------------------------------------------------------------- integrity


def test_verify_shard_catches_truncation_at_a_member_boundary(tmp_path: Path) -> None:
    path = write_shard(tmp_path, [100, 200, 300])
    index = build_index(path)
    verify_shard(path, index)
    entry = index.entries[1]
    cut = tmp_path / "cut" / SHARD
    cut.parent.mkdir()
    cut.write_bytes(path.read_bytes()[: entry.offset + padded_size(entry.size)])
    with tarfile.open(cut) as tf:  # tarfile: no error, one member fewer
        assert len([m for m in tf.getmembers() if m.isfile()]) == 2
    with pytest.raises(IntegrityError, match="shard size"):
        verify_shard(cut, index)
    with pytest.raises(IntegrityError, match="end-of-archive"):
        build_index(cut)
    # same size, different structure: caught by the header rescan
    other = tmp_path / "other" / SHARD
    other.parent.mkdir()
    other.write_bytes(make_tar([300, 200, 100]))  # same total size, other member sizes
    assert other.stat().st_size == path.stat().st_size
    with pytest.raises(IntegrityError, match="the index says"):
        verify_shard(other, index)


def test_verify_shard_sha256(tmp_path: Path) -> None:
    path = write_shard(tmp_path, [100, 200])
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    index = dataclasses.replace(build_index(path), sha256=sha)
    verify_shard(path, index, check_sha256=True)
    data = bytearray(path.read_bytes())
    data[index.entries[0].offset] ^= 1  # same structure, one flipped data byte
    path.write_bytes(bytes(data))
    verify_shard(path, index)
    with pytest.raises(IntegrityError, match="sha256"):
        verify_shard(path, index, check_sha256=True)


def test_read_member_of_a_truncated_shard_raises(tmp_path: Path) -> None:
    path = write_shard(tmp_path, [100, 2000])
    index = build_index(path)
    entry = index.entries[1]
    path.write_bytes(path.read_bytes()[: entry.offset + 10])
    with pytest.raises(IntegrityError) as info:
        read_member(path, entry)
    assert info.value.member == entry.name
    with pytest.raises(IntegrityError), path.open("rb") as f:
        read_member(f, entry)
    short = r"ends (inside|before)"
    with open_member(path, entry) as m, pytest.raises(IntegrityError, match=short):
        m.read()


def test_lenient_build_of_a_truncated_shard(tmp_path: Path) -> None:
    path = write_shard(tmp_path, [100, 200, 300])
    full = build_index(path)
    path.write_bytes(path.read_bytes()[: full.entries[2].offset + 5])
    report = SkipReport(on_error="skip")
    index = build_index(path, report=report)
    assert index.truncated
    assert len(index) == 2
    assert report.counts["truncated_shard"] == 1
    assert decode_indexes(encode_indexes([index])) == [index]


def test_index_invariants_are_checked() -> None:
    with pytest.raises(IntegrityError, match="512-byte header"):
        ShardIndex(SHARD, 10_000, (IndexEntry(name(1), 100, 5),), 2048)
    with pytest.raises(IntegrityError, match="ends after"):
        ShardIndex(SHARD, 10_000, (IndexEntry(name(1), 512, 5000),), 2048)


# --------------------------------------------------------------------------- format


def _synthetic(count: int, *, shuffled: bool, seed: int = 0) -> ShardIndex:
    rng = np.random.default_rng(seed)
    ids = list(range(count))
    if shuffled:
        ids = [int(i) for i in rng.permutation(ids)]
    entries = []
    pos = 0
    for i in ids:
        size = int(rng.integers(1_000_000, 6_000_000))
        entries.append(IndexEntry(name(i), pos + BLOCK_SIZE, size))
        pos += BLOCK_SIZE + padded_size(size)
    return ShardIndex(SHARD, pos + 10240, tuple(entries), pos, etag='"abc"', sha256="0" * 64)


@pytest.mark.parametrize("shuffled", [False, True])
def test_bytes_per_member_on_10k_members(shuffled: bool) -> None:
    index = _synthetic(10_000, shuffled=shuffled)
    blob = encode_indexes([index])
    per_member = len(blob) / len(index)
    print(f"bytes/member ({'shuffled' if shuffled else 'sorted'} ids): {per_member:.2f}")
    assert per_member <= 32
    assert decode_indexes(blob) == [index]


def test_generic_names_fall_back_to_a_name_list() -> None:
    entries = (IndexEntry("a/b.bin", 512, 3), IndexEntry("a/longer-name.dat", 1536, 0))
    index = ShardIndex(SHARD, 4096, entries, 2048)
    (back,) = decode_indexes(encode_indexes([index]))
    assert back == index
    data = make_tar([5])
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        assert tf.getnames()
    custom = build_index(io.BytesIO(data), shard_name=SHARD, validate=validate_member_path)
    assert decode_indexes(encode_indexes([custom])) == [custom]


def test_round_trip_files_and_combined_index(tmp_path: Path) -> None:
    a = build_index(write_shard(tmp_path, [1, 2, 3]))
    b = build_index(write_shard(tmp_path, [4, 5], shard="location_source_video_part01.tar"))
    write_index(tmp_path / "a.sparkle-index", a)
    assert read_index(tmp_path / "a.sparkle-index") == a
    write_indexes(tmp_path / "all.sparkle-index", [a, b])
    assert read_indexes(tmp_path / "all.sparkle-index") == {a.shard: a, b.shard: b}
    assert read_index(tmp_path / "all.sparkle-index", shard=b.shard) == b
    with pytest.raises(MissingArtifactError, match="pass shard="):
        read_index(tmp_path / "all.sparkle-index")
    with pytest.raises(ValueError, match="twice"):
        encode_indexes([a, a])


def test_unknown_version_and_corruption_are_clear_errors(tmp_path: Path) -> None:
    blob = encode_indexes([_synthetic(10, shuffled=False)])
    newer = blob.replace(b'"version":1', b'"version":9')
    with pytest.raises(IntegrityError, match=r"index format version 9.*reads versions 1, 2 only"):
        decode_indexes(newer)
    flipped = bytearray(blob)
    flipped[-40] ^= 1
    with pytest.raises(IntegrityError, match="checksum"):
        decode_indexes(bytes(flipped))
    with pytest.raises(IntegrityError, match="bad magic"):
        decode_indexes(b"PK\x03\x04" + blob)
    with pytest.raises(IntegrityError):
        decode_indexes(blob[: len(blob) // 2])
    assert FORMAT_VERSION == 2


# --------------------------------------------------------------------------- cache


def test_cache_hit_corrupt_and_stale(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    path = write_shard(tmp_path, [10, 20, 30])
    first = load_or_build_index(path)
    cpath = Path(index_cache_path(str(path), SHARD, first.shard_size))
    assert cpath.is_file()
    assert cpath.is_relative_to(tmp_path / "cache")
    assert read_index(cpath) == first
    # a hit does not rescan
    stamp = cpath.stat().st_mtime_ns
    assert load_or_build_index(path) == first
    assert cpath.stat().st_mtime_ns == stamp
    # corrupt cache file: rebuilt with a warning
    cpath.write_bytes(cpath.read_bytes()[:-5] + b"xxxxx")
    with pytest.warns(IndexCacheWarning, match="unreadable"):
        assert load_or_build_index(path) == first
    assert read_index(cpath) == first
    # stale: the shard changed (size differs): rebuilt, no warning
    write_shard(tmp_path, [10, 20, 30, 40])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = load_or_build_index(path)
    assert len(again) == 4
    # same size, new content: the etag (mtime) makes it stale too
    os.utime(path, ns=(1, 1))
    assert load_or_build_index(path) == dataclasses.replace(again, etag=f"mtime-ns:{1}")


def test_build_indexes_in_parallel(tmp_path: Path) -> None:
    paths = [
        write_shard(tmp_path, [i + 1] * (i + 1), shard=f"location_source_video_part{i:02d}.tar")
        for i in range(4)
    ]
    indexes = build_indexes(paths, max_workers=3, progress=False, cache_dir=tmp_path / "c")
    assert [len(ix) for ix in indexes] == [1, 2, 3, 4]
    assert [ix.shard for ix in indexes] == [p.name for p in paths]
    with pytest.raises(LayoutError):
        build_indexes([tmp_path / "x.tar"], progress=False, cache=False)


def test_public_io_api_is_stable_and_lazy() -> None:
    import subprocess
    import sys

    import sparkle_data.io as sio

    for name in sio.__all__:
        assert getattr(sio, name) is not None, name
    code = "import sys, sparkle_data.io; print('fsspec' in sys.modules, 'numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_index_matches(tmp_path: Path) -> None:
    from sparkle_data.io.fs import info

    path = write_shard(tmp_path, [10, 20])
    index, fi = build_index(path), info(path)
    assert index_matches(index, fi)
    assert not index_matches(index, dataclasses.replace(fi, size=fi.size + 512))
    assert not index_matches(index, dataclasses.replace(fi, etag="other"))
    assert index_matches(index, dataclasses.replace(fi, etag="other"), use_etag=False)
    with_sha = dataclasses.replace(index, sha256="a" * 64)
    assert not index_matches(with_sha, dataclasses.replace(fi, sha256="b" * 64), use_etag=False)
    assert not index_matches(index, fi, shard="location_source_video_part01.tar")


def test_regen_inputs_read_shard_members_by_exact_range(tmp_path: Path) -> None:
    from sparkle_data.regen.planner import InputRef
    from sparkle_data.regen.worker import read_input

    data = bytes(range(200))
    (tmp_path / "cut.tar").write_bytes(data)
    ref = InputRef("source_video", "root", "cut.tar", offset=10, size=50)
    assert read_input(ref, str(tmp_path), "") == data[10:60]
    cut = dataclasses.replace(ref, offset=180)  # a member of a truncated shard
    with pytest.raises(IntegrityError, match="truncated or replaced") as info:
        read_input(cut, str(tmp_path), "")
    assert "cut.tar" in str(info.value)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "packed.tar").write_bytes(data)
    packed = dataclasses.replace(ref, where="out", path="packed.tar")
    assert read_input(packed, "", str(tmp_path / "out")) == data[10:60]
