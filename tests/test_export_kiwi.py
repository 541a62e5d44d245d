"""Kiwi-Edit export: CSV read by pandas, videos opened by imageio (else PyAV), pairs that match."""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path
from typing import Any

import av
import numpy as np
import pandas as pd
import pytest

from sparkle_data.catalog import Catalog, build_catalog
from sparkle_data.export import ExportError, export_kiwi, read_manifest
from sparkle_data.export.kiwi import KIWI_CSV
from sparkle_data.layout import artifact_relpath, edit_type_of, member_name
from sparkle_data.readers.video import probe_video
from sparkle_data.testing import SampleTreeSummary

MISMATCH_FRAMES = "Sparkle_location_000000"  # 69 frames; gets the 79-frame clip of 000001
MISMATCH_SIZE = "Sparkle_season_000000"  # gets a 64x48 edited clip
ODD_FRAMES = "Sparkle_location_000001"  # 79 frames on both sides: not 4k+1


@pytest.fixture(scope="module")
def catalog(sample_tree: SampleTreeSummary) -> Catalog:
    return build_catalog(sample_tree.root, cache=False)


def _encode(frames: int, width: int, height: int) -> bytes:
    buf = io.BytesIO()
    with av.open(buf, mode="w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=16)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(frames):
            img = np.full((height, width, 3), (i * 7) % 255, dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return buf.getvalue()


@pytest.fixture(scope="module")
def damaged(tmp_path_factory: pytest.TempPathFactory, sample_tree: SampleTreeSummary) -> Catalog:
    """A copy of the tree where two pairs no longer match (their loose edited clips)."""
    root = tmp_path_factory.mktemp("damaged") / "Sparkle"
    shutil.copytree(sample_tree.root, root)
    shutil.copyfile(
        root / artifact_relpath(ODD_FRAMES, "edited_video"),
        root / artifact_relpath(MISMATCH_FRAMES, "edited_video"),
    )
    (root / artifact_relpath(MISMATCH_SIZE, "edited_video")).write_bytes(_encode(17, 64, 48))
    return build_catalog(root, cache=False)


def _open_video(path: Path) -> tuple[int, tuple[int, ...]]:
    """(frame count, first frame shape) the way Kiwi-Edit reads it (imageio), else PyAV."""
    try:
        import imageio
    except ImportError:
        with av.open(str(path)) as c:
            frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
        return len(frames), frames[0].shape
    reader = imageio.get_reader(str(path))
    try:
        return int(reader.count_frames()), reader.get_data(0).shape
    finally:
        reader.close()


def test_tree_loads_like_kiwi_edit(catalog: Catalog, tmp_path: Path) -> None:
    ids = list(catalog.corpus().index)
    out = tmp_path / "kiwi"
    report = export_kiwi(catalog, ids, out, progress=False)
    assert (report.requested, report.samples, report.dropped) == (30, 30, {})
    df = pd.read_csv(out / KIWI_CSV)
    assert list(df.columns) == ["prompt", "src_video", "tgt_video"]
    assert len(df) == 30
    prompts = catalog.table.loc[ids, "prompt"]
    seen_types: set[str] = set()
    for row in df.itertuples():
        sid = Path(row.src_video).stem
        assert row.src_video == member_name(sid, "source_video")
        assert row.prompt == prompts[sid]
        assert probe_video(out / row.src_video).shape == probe_video(out / row.tgt_video).shape
        assert (out / row.src_video).read_bytes() == catalog.read_bytes(sid, "source_video")
        assert (out / row.tgt_video).read_bytes() == catalog.read_bytes(sid, "edited_video")
        edit_type = edit_type_of(sid)
        if edit_type not in seen_types:  # Kiwi-Edit's own reading, one pair per edit type
            seen_types.add(edit_type)
            src, tgt = _open_video(out / row.src_video), _open_video(out / row.tgt_video)
            assert src == tgt  # same frame count and first-frame size: Kiwi-Edit's check
    assert len(seen_types) == 5
    manifest = read_manifest(out)
    assert manifest is not None
    assert manifest["kind"] == "kiwi"
    assert len(manifest["files"]) == 61  # 30 pairs + metadata.csv
    assert not (out / ".sparkle-export").exists()


def test_mismatched_pairs_are_dropped_and_counted(damaged: Catalog, tmp_path: Path) -> None:
    ids = list(damaged.corpus().index)
    out = tmp_path / "kiwi"
    report = export_kiwi(damaged, ids, out, progress=False)
    assert report.samples == 28
    assert report.dropped == {"frame_count_mismatch": 1, "size_mismatch": 1}
    assert report.dropped_examples["frame_count_mismatch"] == (MISMATCH_FRAMES,)
    df = pd.read_csv(out / KIWI_CSV)
    assert MISMATCH_FRAMES not in set(df["src_video"].map(lambda p: Path(p).stem))
    assert not (out / member_name(MISMATCH_SIZE, "source_video")).exists()
    manifest = read_manifest(out)
    assert manifest is not None
    dropped = {d["id"]: d for d in manifest["summary"]["dropped"]}
    assert dropped[MISMATCH_SIZE]["detail"] == "source 96x54, edited 64x48"
    assert "69 frames" in dropped[MISMATCH_FRAMES]["detail"]
    assert "dropped 1 (size_mismatch)" in str(report)


def test_trim_4k1_reencodes_to_a_common_count(damaged: Catalog, tmp_path: Path) -> None:
    ids = [MISMATCH_FRAMES, ODD_FRAMES, MISMATCH_SIZE, "Sparkle_location_000004"]
    out = tmp_path / "kiwi"
    report = export_kiwi(damaged, ids, out, trim_4k1=True, progress=False)
    assert report.dropped == {"size_mismatch": 1}  # sizes are never fixed by trimming
    expected = {MISMATCH_FRAMES: 69, ODD_FRAMES: 77, "Sparkle_location_000004": 69}
    for sid, frames in expected.items():
        src = probe_video(out / member_name(sid, "source_video"))
        tgt = probe_video(out / member_name(sid, "edited_video"))
        assert src.num_frames == tgt.num_frames == frames
        assert (frames - 1) % 4 == 0
        assert _open_video(out / member_name(sid, "edited_video"))[0] == frames
    # an already-matching 4k+1 pair is copied, not re-encoded
    copied = (out / member_name("Sparkle_location_000004", "source_video")).read_bytes()
    assert copied == damaged.read_bytes("Sparkle_location_000004", "source_video")
    manifest = read_manifest(out)
    assert manifest is not None
    assert manifest["summary"]["reencoded"] == 2


def test_stage3_base_dir_and_links(catalog: Catalog, tmp_path: Path) -> None:
    time_ids = list(catalog.corpus().query("edit_type == 'time'").index)
    ids = [time_ids[0], time_ids[-1]]  # a loose preview, a shard member
    out = tmp_path / "data" / "kiwi"
    export_kiwi(
        catalog, ids, out, stage3=True, base_dir=tmp_path / "data", link=True, progress=False
    )
    df = pd.read_csv(out / KIWI_CSV)
    assert list(df.columns) == ["prompt", "src_video", "tgt_video", "ref_image"]
    assert df["ref_image"][0] == "kiwi/" + member_name(ids[0], "edited_frame0_foreground_removed")
    from PIL import Image

    for row in df.itertuples():
        with Image.open(tmp_path / "data" / row.ref_image) as im:
            assert im.size == (96, 54)
        assert (tmp_path / "data" / row.tgt_video).is_file()
    loose = Path(catalog.root) / artifact_relpath(ids[0], "source_video")
    linked = out / member_name(ids[0], "source_video")
    assert os.path.samefile(loose, linked) or linked.is_symlink()
    assert catalog.locate(ids[1], "source_video").kind == "shard"
    assert not (out / member_name(ids[1], "source_video")).is_symlink()


def test_bad_requests_are_refused(catalog: Catalog, tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="more than once"):
        export_kiwi(catalog, ["Sparkle_time_000000"] * 2, tmp_path / "a", progress=False)
    rejected = str(catalog.rejected().index[0])
    with pytest.raises(ExportError, match="no prompt"):
        export_kiwi(catalog, [rejected], tmp_path / "b", progress=False)
    with pytest.raises(ExportError, match="base_dir"):
        export_kiwi(
            catalog,
            ["Sparkle_time_000000"],
            tmp_path / "c",
            base_dir=tmp_path / "x",
            progress=False,
        )
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "notes.txt").write_text("mine")
    with pytest.raises(ExportError, match="not empty"):
        export_kiwi(catalog, ["Sparkle_time_000000"], tmp_path / "d", progress=False)


def test_pairs_are_judged_from_the_member_checks_headers(
    damaged: Catalog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The member check already read every clip's header: a pair unit reads none again,
    and its verdicts are the same; a finished export's repair (whose manifest keeps only the
    drops) reads the headers of the pairs it redoes."""
    import sparkle_data.export.kiwi as kiwi

    probed: list[str] = []
    real = kiwi._probe

    def counting(ref: Any, sample_id: str) -> tuple[int, int, int]:
        probed.append(sample_id)
        return real(ref, sample_id)

    monkeypatch.setattr(kiwi, "_probe", counting)
    ids = list(damaged.corpus().index)
    out = tmp_path / "kiwi"
    report = export_kiwi(damaged, ids, out, progress=False)
    assert probed == []
    assert report.samples == 28
    assert report.dropped == {"frame_count_mismatch": 1, "size_mismatch": 1}
    manifest = read_manifest(out)
    assert manifest is not None
    dropped = {d["id"]: d for d in manifest["summary"]["dropped"]}
    assert dropped[MISMATCH_SIZE]["detail"] == "source 96x54, edited 64x48"

    kept = next(s for s in ids if s not in (MISMATCH_FRAMES, MISMATCH_SIZE))
    before = (out / member_name(kept, "edited_video")).read_bytes()
    (out / member_name(kept, "edited_video")).unlink()
    again = export_kiwi(damaged, ids, out, progress=False)
    assert probed == [kept, kept]
    assert again.samples == 28
    assert (out / member_name(kept, "edited_video")).read_bytes() == before
