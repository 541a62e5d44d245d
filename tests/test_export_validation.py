"""Every export checks the members it copies (one hook, ``export._validate``): a broken
member fails the export naming file, member and sample, or with ``on_error="skip"`` drops
its sample (counted); a strict failure then a lenient rerun resumes, never losing a file."""

from __future__ import annotations

import errno
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from media_fakes import faststart, small_location_tree

from sparkle_data.catalog import Catalog, build_catalog
from sparkle_data.errors import (
    CorruptImageError,
    CorruptMaskError,
    CorruptVideoError,
    ReadError,
    SparkleError,
)
from sparkle_data.export import export_hub, export_kiwi, export_sparkle, export_wds
from sparkle_data.export._resume import MANIFEST_NAME, STATE_DIR
from sparkle_data.layout import artifact_relpath
from sparkle_data.readers.mask import encode_mask_npz, probe_mask

LOOSE = "Sparkle_location_000000"
"""A corpus sample with loose (preview) files: they are what the catalog reads."""
SHARD_ONLY = "Sparkle_location_000006"
SOURCE_SHARD = "location_source_video_part03.tar"
SOURCE_MEMBER = f"location/source_video/{SHARD_ONLY}.mp4"


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return small_location_tree(tmp_path_factory.mktemp("export-validation"))


@pytest.fixture
def root(pristine: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "Sparkle"
    shutil.copytree(pristine, copy)
    return copy


def loose(root: Path, artifact: str, sample_id: str = LOOSE) -> Path:
    return root / artifact_relpath(sample_id, artifact)


def truncate_after_moov(root: Path, tmp: Path) -> None:
    path = loose(root, "source_video")
    data = path.read_bytes()
    path.write_bytes(faststart(data, tmp)[: len(data) * 3 // 4])


def zero_png(root: Path, tmp: Path) -> None:
    loose(root, "source_frame0").write_bytes(b"")


def wrong_mask_shape(root: Path, tmp: Path) -> None:
    path = loose(root, "source_video_mask")
    t, h, w = probe_mask(path.read_bytes()).shape
    path.write_bytes(encode_mask_npz(np.zeros((t, w, h), dtype=np.bool_)))


CASES: dict[str, tuple[Callable[[Path, Path], None], type[SparkleError], str, str]] = {
    # damage, error, reason, what the strict message says
    "truncated-after-moov": (truncate_after_moov, CorruptVideoError, "corrupt_video", "header"),
    "zero-byte-png": (zero_png, CorruptImageError, "corrupt_image", "source_frame0"),
    "wrong-mask-shape": (wrong_mask_shape, CorruptMaskError, "inconsistent", "mask shape"),
}

EXPORTS: dict[str, Callable[..., Any]] = {
    "wds": lambda c, ids, out, **kw: export_wds(
        c,
        ids,
        out,
        artifacts=("source_video", "edited_video", "source_frame0"),
        include_mask=True,
        **kw,
    ),
    "sparkle": lambda c, ids, out, **kw: export_sparkle(c, ids, out, **kw),
    "hub": lambda c, ids, out, **kw: export_hub(
        c,
        ids,
        out,
        format="wds",
        artifacts=("source_video", "source_frame0"),
        include_mask=True,
        **kw,
    ),
}


def tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and STATE_DIR not in p.parts
    }


def catalog_ids(root: Path) -> tuple[Catalog, list[str]]:
    catalog = build_catalog(root, cache=False)
    return catalog, [str(i) for i in catalog.corpus().index]


def exported_ids(out: Path) -> set[str]:
    """The sample ids named in the export's files (paths and bytes; not its manifest)."""
    found: set[str] = set()
    for rel, data in tree(out).items():
        if rel == MANIFEST_NAME:
            continue
        for k in range(12):
            sid = f"Sparkle_location_{k:06d}"
            if sid in rel or sid.encode() in data:
                found.add(sid)
    return found


@pytest.mark.parametrize("fmt", sorted(EXPORTS))
@pytest.mark.parametrize("case", sorted(CASES))
def test_broken_member_fails_or_drops_its_sample(
    root: Path, tmp_path: Path, fmt: str, case: str
) -> None:
    damage, error, reason, says = CASES[case]
    damage(root, tmp_path)
    catalog, ids = catalog_ids(root)
    export = EXPORTS[fmt]
    out = tmp_path / "out"
    with pytest.raises(error, match=says) as e:
        export(catalog, ids, out, progress=False, workers=1)
    assert e.value.sample_id == LOOSE
    assert f"{LOOSE}." in str(e.value)  # the file (loose path or member) is named
    assert not (out / MANIFEST_NAME).exists()

    # the same folder, lenient: resumes (no "another plan"), drops the sample, counts it
    report = export(catalog, ids, out, progress=False, workers=2, on_error="skip")
    assert report.dropped == {reason: 1}
    assert report.dropped_examples[reason] == (LOOSE,)
    assert report.samples == len(ids) - 1
    assert LOOSE not in exported_ids(out)
    assert exported_ids(out) >= set(ids) - {LOOSE}
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    (drop,) = [d for d in manifest["summary"]["dropped"] if d["id"] == LOOSE]
    assert drop["reason"] == reason
    assert LOOSE in drop["detail"]

    # identical to a fresh lenient export, and rerunning it writes nothing
    fresh = export(catalog, ids, tmp_path / "fresh", progress=False, on_error="skip")
    assert tree(fresh.out) == tree(out)
    again = export(catalog, ids, out, progress=False, on_error="skip")
    assert (again.written, again.dropped) == (0, {reason: 1})


def test_strict_rerun_of_a_lenient_export_raises_and_keeps_every_file(
    root: Path, tmp_path: Path
) -> None:
    zero_png(root, tmp_path)
    catalog, ids = catalog_ids(root)
    out = tmp_path / "wds"
    export_wds(catalog, ids, out, artifacts=("source_frame0",), progress=False, on_error="skip")
    before = tree(out)
    with pytest.raises(CorruptImageError, match="on_error='skip'") as e:
        export_wds(catalog, ids, out, artifacts=("source_frame0",), progress=False)
    assert e.value.sample_id == LOOSE
    assert tree(out) == before


def test_a_broken_shard_member_is_named_with_its_shard(root: Path, tmp_path: Path) -> None:
    catalog, ids = catalog_ids(root)
    entry = catalog.indexes[SOURCE_SHARD].get(SHARD_ONLY)
    assert entry is not None
    shard = root / SOURCE_SHARD
    data = bytearray(shard.read_bytes())
    data[entry.offset : entry.offset + entry.size] = bytes(entry.size)  # same size, no video
    shard.write_bytes(bytes(data))
    catalog, ids = catalog_ids(root)
    with pytest.raises(CorruptVideoError) as e:
        export_sparkle(catalog, ids, tmp_path / "s", artifacts=["source_video"], progress=False)
    assert e.value.sample_id == SHARD_ONLY
    assert f"{SOURCE_SHARD}::{SOURCE_MEMBER}" in str(e.value)
    report = export_sparkle(
        catalog,
        ids,
        tmp_path / "s",
        artifacts=["source_video"],
        progress=False,
        on_error="skip",
    )
    assert report.dropped == {"corrupt_video": 1}
    rows = (tmp_path / "s/prompts/location_train.csv").read_text()
    assert SHARD_ONLY not in rows  # dropped from the CSV too
    assert LOOSE in rows


def test_kiwi_checks_the_reference_image_too(root: Path, tmp_path: Path) -> None:
    loose(root, "edited_frame0_foreground_removed").write_bytes(b"\x89PNG\r\n\x1a\n")
    catalog, ids = catalog_ids(root)
    with pytest.raises(CorruptImageError) as e:
        export_kiwi(catalog, ids, tmp_path / "k", stage3=True, progress=False)
    assert e.value.sample_id == LOOSE
    report = export_kiwi(catalog, ids, tmp_path / "k", stage3=True, progress=False, on_error="skip")
    assert report.dropped == {"corrupt_image": 1}
    assert LOOSE not in (tmp_path / "k/metadata.csv").read_text()


def test_on_error_is_validated() -> None:
    with pytest.raises(ValueError, match="on_error"):
        export_wds(None, [], "x", on_error="ignore")  # type: ignore[arg-type]


def test_an_unreadable_member_fails_or_is_dropped_as_unreadable(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog, ids = catalog_ids(root)
    real = os.open

    def eio(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if os.fspath(path).endswith(f"edited_video/{LOOSE}.mp4"):
            raise OSError(errno.EIO, os.strerror(errno.EIO), os.fspath(path))
        return real(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", eio)
    with pytest.raises(ReadError, match="EIO") as e:
        export_wds(catalog, ids, tmp_path / "w", progress=False)
    assert isinstance(e.value, OSError)
    assert (e.value.sample_id, e.value.errno) == (LOOSE, errno.EIO)
    report = export_wds(catalog, ids, tmp_path / "w", progress=False, on_error="skip")
    assert report.dropped == {"unreadable": 1}


@pytest.mark.parametrize("fmt", ["wds", "sparkle"])
def test_subset_skip_corrupt_works_for_every_format(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    from sparkle_data.cli import main

    truncate_after_moov(root, tmp_path)
    out = tmp_path / fmt
    argv = ["subset", str(root), "--preset", "none", "--format", fmt, "--out", str(out), "--quiet"]
    assert main(argv) == 1
    assert LOOSE in capsys.readouterr().err
    assert main([*argv, "--skip-corrupt"]) == 0
    assert LOOSE not in exported_ids(out)
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    assert [d["id"] for d in manifest["summary"]["dropped"]] == [LOOSE]


def test_hub_card_describes_the_samples_kept(root: Path, tmp_path: Path) -> None:
    from sparkle_data.export._resume import read_manifest, verify_files
    from sparkle_data.export._writer import FileDigest
    from sparkle_data.export.hub import CARD_NAME, dataset_card
    from sparkle_data.export.wds import JSON_FIELD, WDS_FIELDS
    from sparkle_data.filters import ids_sha256

    zero_png(root, tmp_path)
    catalog, ids = catalog_ids(root)
    out = tmp_path / "hub"
    kw: dict[str, Any] = {"format": "wds", "artifacts": ("source_frame0",), "progress": False}
    report = export_hub(catalog, ids, out, on_error="skip", **kw)
    kept = [sid for sid in ids if sid != LOOSE]
    card = (out / CARD_NAME).read_text()
    assert ids_sha256(kept) in card
    assert ids_sha256(ids) not in card
    fields = [JSON_FIELD, WDS_FIELDS["source_frame0"]]
    assert card == dataset_card("wds", kept, source=catalog.root, fields=fields)
    manifest = read_manifest(out)
    assert manifest is not None
    digests = {k: FileDigest.from_json(v) for k, v in manifest["files"].items()}
    assert not verify_files(out, digests, verify="sha256", workers=1)  # export.json agrees
    assert report.bytes == sum(d.size for d in digests.values())
    again = export_hub(catalog, ids, out, on_error="skip", **kw)  # resumes, nothing written
    assert again.written == 0
    assert (out / CARD_NAME).read_text() == card


def test_checks_record_shapes_only_for_a_planner_that_uses_them(root: Path) -> None:
    """The Kiwi planner judges pairs from the check's headers; other formats ignore shapes,
    so their verdicts do not carry them (and their plan is not made again for them)."""
    from sparkle_data.export._source import artifact_refs
    from sparkle_data.export._validate import checked_shapes, member_checks
    from sparkle_data.readers.video import probe_video

    catalog, ids = catalog_ids(root)
    sid = ids[0]
    refs = {a: artifact_refs(catalog, [sid], a) for a in ("source_video", "edited_video")}
    plain = member_checks([sid], refs, on_error="error")[0].run(root)
    assert plain.data == {}
    assert checked_shapes(plain.data) == {}
    kept = member_checks([sid], refs, on_error="error", record_shapes=True)[0].run(root)
    want = {a: probe_video(catalog.read_bytes(sid, a)).shape for a in refs}
    assert checked_shapes(kept.data) == want
    assert json.loads(json.dumps(kept.data)) == kept.data  # it goes into the JSONL journal
