"""Per-member checksums: written by ``sparkle-data index --checksums``, verified on every read."""

from __future__ import annotations

import zlib
from pathlib import Path

import pytest

from sparkle_data.catalog import build_catalog
from sparkle_data.cli import main
from sparkle_data.errors import IntegrityError
from sparkle_data.io.index import (
    IndexEntry,
    ShardIndex,
    add_checksums,
    build_index,
    decode_indexes,
    encode_indexes,
    open_member,
    read_index,
    read_indexes,
    read_member,
)
from sparkle_data.testing.http import Faults, serve_directory

INDEX = "indexes/sparkle.sparkle-index"


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPARKLE_DATA_CACHE", str(tmp_path / "sparkle-cache"))


def _a_shard(root: Path) -> Path:
    return sorted(root.glob("location_source_video_part*.tar"))[0]


def test_add_checksums_round_trips_in_format_version_2(sample_tree_copy: Path) -> None:
    shard = _a_shard(sample_tree_copy)
    plain = build_index(shard)
    with_crc = add_checksums(plain, shard)
    data = shard.read_bytes()
    for e in with_crc:
        assert e.crc32 == zlib.crc32(data[e.offset : e.end])
    assert with_crc == plain  # same places: equality ignores the checksum
    blob = encode_indexes([with_crc])
    assert b'"version":2' in blob
    assert b'"version":1' in encode_indexes([plain])  # no checksums: readable by v1 readers
    (back,) = decode_indexes(blob)
    assert [e.crc32 for e in back] == [e.crc32 for e in with_crc]
    half = ShardIndex(
        plain.shard,
        plain.shard_size,
        (*with_crc.entries[:1], *plain.entries[1:]),
        plain.end_offset,
    )
    with pytest.raises(ValueError, match="every entry"):
        encode_indexes([half])


def test_a_flipped_byte_is_an_integrity_error_naming_sample_and_member(
    sample_tree_copy: Path,
) -> None:
    shard = _a_shard(sample_tree_copy)
    index = add_checksums(build_index(shard), shard)
    entry = index.entries[1]
    assert read_member(shard, entry) == shard.read_bytes()[entry.offset : entry.end]
    raw = bytearray(shard.read_bytes())
    raw[entry.offset + 7] ^= 0x10
    shard.write_bytes(bytes(raw))
    with pytest.raises(IntegrityError, match="member checksum") as info:
        read_member(shard, entry)
    assert info.value.member == entry.name
    assert info.value.sample_id == entry.sample_id
    assert entry.sample_id in str(info.value)
    with pytest.raises(IntegrityError, match="member checksum"):
        open_member(shard, entry)
    other = index.entries[0]  # untouched members still read
    assert read_member(shard, other)


def test_cli_index_checksums_then_every_catalog_read_is_verified(
    sample_tree_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = sample_tree_copy / INDEX
    rc = main(["index", str(sample_tree_copy), "--checksums", "--out", str(out), "-q"])
    assert rc == 0, capsys.readouterr().err
    published = read_indexes(out)
    assert all(e.crc32 is not None for ix in published.values() for e in ix)
    catalog = build_catalog(sample_tree_copy, edit_types=["location"])
    assert all(e.crc32 is not None for ix in catalog.indexes.values() for e in ix)
    sid = next(
        str(s)
        for s in catalog.corpus().index
        if catalog.locate(str(s), "source_video").kind == "shard"
    )
    loc = catalog.locate(sid, "source_video")
    good = catalog.read_bytes(sid, "source_video")
    path = sample_tree_copy / loc.path
    raw = bytearray(path.read_bytes())
    assert loc.offset is not None
    raw[loc.offset + 3] ^= 1
    path.write_bytes(bytes(raw))
    with pytest.raises(IntegrityError, match=sid):
        catalog.read_bytes(sid, "source_video")
    with pytest.raises(IntegrityError, match="member checksum"):
        catalog.open(sid, "source_video")
    assert len(good) == loc.size


def test_cli_refuses_checksums_of_a_remote_root(
    sample_tree_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with serve_directory(sample_tree_copy) as server:
        rc = main(["index", server.url(), "--checksums"])
    assert rc == 2
    assert "--checksums" in capsys.readouterr().err


@pytest.mark.network
def test_a_bit_flipped_on_the_wire_is_read_again(sample_tree_copy: Path) -> None:
    shard = _a_shard(sample_tree_copy)
    index = add_checksums(build_index(shard), shard)
    entry = index.entries[0]
    with serve_directory(sample_tree_copy) as server:
        url = server.url(shard.name)
        server.faults = Faults(flip_first=1, flip_at=5)
        assert read_member(url, entry) == shard.read_bytes()[entry.offset : entry.end]
        assert server.count("GET") == 2  # the damaged answer, then a good one
        server.reset(Faults(flip_first=-1, flip_at=5))  # every answer damaged
        with pytest.raises(IntegrityError, match="3 reads"):
            read_member(url, entry)
        plain = IndexEntry(entry.name, entry.offset, entry.size)  # no checksum: undetected
        assert read_member(url, plain) != shard.read_bytes()[entry.offset : entry.end]


def test_read_index_keeps_checksums(tmp_path: Path, sample_tree_copy: Path) -> None:
    shard = _a_shard(sample_tree_copy)
    index = add_checksums(build_index(shard), shard)
    from sparkle_data.io.index import write_index

    write_index(tmp_path / "one.sparkle-index", index)
    back = read_index(tmp_path / "one.sparkle-index")
    assert [e.crc32 for e in back] == [e.crc32 for e in index]
