"""Paired WebDataset export: stock webdataset, stock datasets, and sparkle-data's tar tools."""

from __future__ import annotations

import hashlib
import json
import tarfile
from pathlib import Path

import pytest

from sparkle_data.catalog import Catalog, build_catalog
from sparkle_data.errors import LayoutError, UnsafeArchiveError
from sparkle_data.export import ExportReport, export_wds, validate_wds_member
from sparkle_data.export._writer import TAR_MTIME
from sparkle_data.export.wds import SHARD_LIST, WDS_INDEX
from sparkle_data.io.index import read_indexes, read_member
from sparkle_data.io.safetar import iter_tar_members
from sparkle_data.layout import edit_type_of
from sparkle_data.testing import SampleTreeSummary

FIELDS = {
    "json": None,
    "src.mp4": "source_video",
    "tgt.mp4": "edited_video",
    "mask.npz": "source_video_mask",
    "bg.mp4": "edited_background_video",
    "canny.mp4": "edited_video_canny",
}
MAX_SHARD_BYTES = 400_000


@pytest.fixture(scope="module")
def catalog(sample_tree: SampleTreeSummary) -> Catalog:
    return build_catalog(sample_tree.root, cache=False)


@pytest.fixture(scope="module")
def exported(catalog: Catalog, tmp_path_factory: pytest.TempPathFactory) -> ExportReport:
    out = tmp_path_factory.mktemp("wds") / "wds"
    return export_wds(
        catalog,
        list(catalog.corpus().index),
        out,
        include_mask=True,
        include_background=True,
        include_canny=True,
        max_shard_bytes=MAX_SHARD_BYTES,
        progress=False,
    )


def _shards(report: ExportReport) -> list[str]:
    return sorted(str(p) for p in report.out.glob("shard-*.tar"))


def test_stock_webdataset_iterates_every_sample(catalog: Catalog, exported: ExportReport) -> None:
    import webdataset as wds

    ids = list(catalog.corpus().index)
    seen = []
    for sample in wds.WebDataset(_shards(exported), shardshuffle=False):
        sid = sample["__key__"]
        seen.append(sid)
        assert set(FIELDS) <= set(sample)
        for field, artifact in FIELDS.items():
            if artifact is not None:
                assert sample[field] == catalog.read_bytes(sid, artifact), (sid, field)
        doc = json.loads(sample["json"])
        assert doc["id"] == sid
        assert doc["prompt"] == catalog.table.loc[sid, "prompt"]
        assert doc["scores"]["video_mean_o_score"] == pytest.approx(
            catalog.table.loc[sid, "video_mean_o_score"]
        )
        assert doc["scores"]["video_frame_index_0"] == 1
    # card order: edit type (location, season, time, style, openve3m), then id
    order = ["location", "season", "time", "style", "openve3m"]
    assert seen == sorted(ids, key=lambda s: (order.index(edit_type_of(s)), s))


def test_stock_datasets_loads_the_shards(exported: ExportReport, tmp_path: Path) -> None:
    import datasets

    ds = datasets.load_dataset(
        "webdataset",
        data_files={"train": _shards(exported)},
        split="train",
        cache_dir=str(tmp_path / "hf"),
    )
    assert ds.num_rows == 30
    assert set(FIELDS) <= set(ds.column_names)
    for field in FIELDS:  # videos load as bytes: no torchcodec needed
        if field.endswith(".mp4"):
            ds = ds.cast_column(field, datasets.Video(decode=False))
    first = ds[0]
    assert first["json"]["id"] == first["__key__"]
    assert first["json"]["metadata"]["edit_type"] == "location"
    src = first["src.mp4"]["bytes"]
    assert src[4:8] == b"ftyp"
    assert list(first["mask.npz"]["shape"])[1:] == [54, 96]


def test_own_tools_read_the_shards(catalog: Catalog, exported: ExportReport) -> None:
    out = exported.out
    listing = json.loads((out / SHARD_LIST).read_text())
    indexes = read_indexes(out / WDS_INDEX)
    assert [s["name"] for s in listing["shards"]] == [Path(p).name for p in _shards(exported)]
    assert sum(s["samples"] for s in listing["shards"]) == 30 == listing["samples"]
    for shard in listing["shards"]:
        path = out / shard["name"]
        data = path.read_bytes()
        assert len(data) == shard["size"]
        assert hashlib.sha256(data).hexdigest() == shard["sha256"]
        assert shard["size"] <= MAX_SHARD_BYTES or shard["samples"] == 1
        with open(path, "rb") as f:
            members = list(iter_tar_members(f, validate=validate_wds_member))
        index = indexes[shard["name"]]
        assert [(m.name, m.offset, m.size) for m in members] == [
            (e.name, e.offset, e.size) for e in index.entries
        ]
        assert index.sha256 == shard["sha256"]
        for entry in index.entries:
            sid, _, field = entry.name.partition(".")
            artifact = FIELDS[field]
            if artifact is not None:
                assert read_member(path, entry) == catalog.read_bytes(sid, artifact)
        with tarfile.open(path) as tar:  # fixed headers
            for info in tar.getmembers():
                assert (info.mtime, info.mode, info.uid, info.gid) == (TAR_MTIME, 0o644, 0, 0)
                assert info.uname == info.gname == ""


def test_member_validation_is_strict() -> None:
    assert validate_wds_member("Sparkle_time_000001.src.mp4") == "Sparkle_time_000001.src.mp4"
    for bad in ("x/Sparkle_time_000001.json", "Sparkle_time_000001.exe", "../a.json", "a.json"):
        with pytest.raises(LayoutError):
            validate_wds_member(bad)
    import io

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("../evil.json")
        tar.addfile(info, io.BytesIO(b""))
    buf.seek(0)
    with pytest.raises(UnsafeArchiveError):
        list(iter_tar_members(buf, validate=validate_wds_member))


def test_sample_limits_and_deterministic_bytes(catalog: Catalog, tmp_path: Path) -> None:
    ids = list(catalog.corpus().index)[:7]
    a = export_wds(catalog, ids, tmp_path / "a", max_shard_samples=3, progress=False, workers=1)
    b = export_wds(
        catalog, ids[::-1], tmp_path / "b", max_shard_samples=3, progress=False, workers=3
    )
    assert a.units == 3
    for name in ("shard-000000.tar", "shard-000002.tar", SHARD_LIST, WDS_INDEX, "export.json"):
        assert (a.out / name).read_bytes() == (b.out / name).read_bytes()
