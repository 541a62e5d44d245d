"""``sparkle_data.io.index`` is the import path of code that lives in package-private modules,
one job each; the names are the same objects wherever they are reached."""

from __future__ import annotations

import importlib
import io
import tarfile

import pytest

import sparkle_data.io as sio
from sparkle_data.errors import IntegrityError
from sparkle_data.io import index

SHARD = "location_source_video_part00.tar"
JOBS = (
    "_index_model",
    "_index_scan",
    "_index_members",
    "_index_format",
    "_index_files",
    "_index_cache",
)


def test_every_name_of_the_index_module_is_a_re_export_of_one_job_module() -> None:
    homes: dict[str, str] = {}
    for job in JOBS:
        module = importlib.import_module(f"sparkle_data.io.{job}")
        for name in module.__all__:
            assert name not in homes, f"{name} is in {homes.get(name)} and {job}"
            homes[name] = job
            if hasattr(index, name):
                assert getattr(index, name) is getattr(module, name)
    assert set(index.__all__) <= set(homes)
    for name in ("ShardInput", "MAGIC", "INDEX_READ_AHEAD"):  # importable, not in __all__
        assert getattr(index, name) is not None
    for name in ("IndexEntry", "ShardIndex", "build_index", "read_member", "write_indexes"):
        assert getattr(sio, name) is getattr(index, name)


def _tar(names: list[str]) -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        for i, member in enumerate(names):
            data = bytes([i]) * (100 * i + 1)
            info = tarfile.TarInfo(member)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    buf.seek(0)
    return buf


def test_checksums_read_back_and_a_damaged_index_file_is_refused() -> None:
    names = [f"location/source_video/Sparkle_location_{i:06d}.mp4" for i in (0, 3, 4)]
    shard = _tar(names)
    built = index.add_checksums(index.build_index(shard, shard_name=SHARD), shard)
    (back,) = index.decode_indexes(index.encode_indexes([built]))
    assert [(e.name, e.offset, e.size, e.crc32) for e in back] == [
        (e.name, e.offset, e.size, e.crc32) for e in built
    ]
    assert index.read_member(shard, back.entry("Sparkle_location_000004")) == bytes([2]) * 201
    first, second = built.entries[:2]
    again = index.IndexEntry(first.name, second.offset, second.size)
    plain = index.IndexEntry(first.name, first.offset, first.size)
    twice = index.ShardIndex(SHARD, built.shard_size, (plain, again), None)  # one name twice
    damaged = index.encode_indexes([twice])
    with pytest.raises(IntegrityError, match="duplicate member names"):
        index.decode_indexes(damaged, where="all.sparkle-index")
