"""The synthetic Sparkle tree: one default tiny build, checked against the dataset card.

Oracles are the card's own helpers (``load_mask``, ``normalize_bbox``, copied verbatim) and
the ``tar`` binary, so the tree is judged by the card, not by this package's readers.
"""

from __future__ import annotations

import csv
import hashlib
import itertools
import json
import math
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from av.video.reformatter import VideoReformatter
from PIL import Image

from sparkle_data import layout
from sparkle_data.cli import main
from sparkle_data.testing import (
    BENCH_DIR,
    DATASET_DIR,
    MARKER_NAME,
    THRESHOLDS,
    SampleTreeSummary,
    make_sample_tree,
)
from sparkle_data.testing.synth.shard import TAR_MTIME

# --------------------------------------------------------------------------- card oracles


def load_mask(mask_path: str) -> np.ndarray:
    data = np.load(mask_path)
    packed_mask = data["mask"]
    shape = tuple(int(s) for s in data["shape"])
    total = shape[0] * shape[1] * shape[2]
    video_mask = np.unpackbits(packed_mask)[:total].reshape(shape).astype(bool)
    return video_mask  # boolean array of shape (T, H, W)  # noqa: RET504 (card, verbatim)


def normalize_bbox(bbox, video_width: int, video_height: int):  # type: ignore[no-untyped-def]
    """Convert a Qwen3-VL [0, 1000]-normalized bbox to absolute pixel coordinates."""
    x1 = int(bbox[0] / 1000.0 * video_width)
    y1 = int(bbox[1] / 1000.0 * video_height)
    x2 = int(bbox[2] / 1000.0 * video_width)
    y2 = int(bbox[3] / 1000.0 * video_height)

    # Clamp to frame bounds and ensure x1 <= x2, y1 <= y2.
    x1 = max(0, min(min(x1, x2), video_width - 1))
    y1 = max(0, min(min(y1, y2), video_height - 1))
    x2 = max(0, min(max(x1, x2), video_width - 1))
    y2 = max(0, min(max(y1, y2), video_height - 1))
    return x1, y1, x2, y2


# --------------------------------------------------------------------------- helpers

W, H = 96, 54


def tree_hashes(out: Path) -> dict[str, str]:
    return {
        p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(out.rglob("*"))
        if p.is_file()
    }


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def read_csv(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def decode(path: Path) -> tuple[np.ndarray, Any]:
    with av.open(str(path)) as c:
        assert len(c.streams.audio) == 0
        stream = c.streams.video[0]
        stream.thread_count = 1  # tiny clips: threads cost more than they save
        info = {
            "fps": stream.average_rate,
            "codec": stream.codec_context.name,
            "pix_fmt": stream.codec_context.pix_fmt,
            "size": (stream.width, stream.height),
        }
        rgb = VideoReformatter()  # one converter for all frames: much faster than to_ndarray
        frames = np.stack([rgb.reformat(f, format="rgb24").to_ndarray() for f in c.decode(stream)])
    return frames, info


def mask_bbox(mask: np.ndarray) -> tuple[int, int, int, int]:
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]), int(rows[-1])


def erode(mask: np.ndarray, n: int) -> np.ndarray:
    m = mask.copy()
    for _ in range(n):
        inner = m.copy()
        inner[1:, :] &= m[:-1, :]
        inner[:-1, :] &= m[1:, :]
        inner[:, 1:] &= m[:, :-1]
        inner[:, :-1] &= m[:, 1:]
        m = inner
    return m


def tar_names(path: Path) -> list[str]:
    out = subprocess.run(["tar", "-tf", str(path)], check=True, capture_output=True, text=True)
    return out.stdout.splitlines()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SampleTreeSummary]:
    out = tmp_path_factory.mktemp("sample")
    return out, make_sample_tree(out, preset="tiny")


@pytest.fixture(scope="module")
def summary(built: tuple[Path, SampleTreeSummary]) -> SampleTreeSummary:
    return built[1]


@pytest.fixture(scope="module")
def root(summary: SampleTreeSummary) -> Path:
    return summary.root


@pytest.fixture(scope="module")
def extracted(tmp_path_factory: pytest.TempPathFactory, root: Path) -> Path:
    """Shards and prompts only, copied and extracted with ``tar -xf`` as the card says."""
    dst = tmp_path_factory.mktemp("extracted")
    shutil.copytree(root / layout.PROMPTS_DIR, dst / layout.PROMPTS_DIR)
    (dst / layout.INTERMEDIATE_DIR).mkdir()
    for shard in root.glob("*.tar"):
        shutil.copy(shard, dst / shard.name)
    for shard in (root / layout.INTERMEDIATE_DIR).glob("*.tar"):
        shutil.copy(shard, dst / layout.INTERMEDIATE_DIR / shard.name)
    for shard in sorted(dst.glob("*.tar")):
        subprocess.run(["tar", "-xf", shard.name], cwd=dst, check=True)
    for shard in sorted((dst / layout.INTERMEDIATE_DIR).glob("*.tar")):
        subprocess.run(["tar", "-xf", shard.name], cwd=dst / layout.INTERMEDIATE_DIR, check=True)
    return dst


def corpus_items(summary: SampleTreeSummary) -> Iterator[tuple[str, str]]:
    for e in summary.edit_types:
        for sid in e.corpus_ids:
            yield e.edit_type, sid


# --------------------------------------------------------------------------- layout


def test_builds_every_part_of_the_card(built: tuple[Path, SampleTreeSummary]) -> None:
    out, summary = built
    root = summary.root
    assert root == out / DATASET_DIR
    assert summary.bench_root == out / BENCH_DIR
    assert [e.edit_type for e in summary.edit_types] == list(layout.EDIT_TYPES)
    for e in summary.edit_types:
        t = e.edit_type
        assert len(e.corpus_ids) == 6
        assert (root / layout.prompts_csv_path(t)).is_file()
        assert (root / layout.prompts_metadata_path(t)).is_file()
        for record in layout.RECORD_FILES:
            assert (root / layout.record_path(t, record)).is_file()
        for artifact in layout.ARTIFACTS:
            shards = [s for s in e.shards if s.artifact == artifact]
            assert shards, (t, artifact)
            assert [s.part for s in shards] == list(range(len(shards)))
            for s in shards:
                assert s.path == layout.shard_path(t, artifact, s.part)
                assert (root / s.path).stat().st_size == s.size
            assert sorted(i for s in shards for i in s.sample_ids) == list(e.corpus_ids)
    marker = json.loads((out / MARKER_NAME).read_text())
    assert marker["complete"] is True
    assert marker["summary"] == summary.to_dict()


def test_every_file_is_named_by_the_layout(root: Path) -> None:
    for p in root.rglob("*"):
        if p.is_dir():
            continue
        rel = p.relative_to(root).as_posix()
        if rel == "README.md" or rel.startswith(layout.PROMPTS_DIR + "/"):
            continue
        if rel.endswith(".tar"):
            shard = layout.parse_shard_name(rel)
            assert rel == shard.path
        elif rel.endswith(".jsonl"):
            t, record = rel.split("/")[1], rel.rsplit("/", 1)[1][: -len(".jsonl")]
            assert rel == layout.record_path(t, record)
        else:
            layout.parse_artifact_relpath(rel)


def test_shards_hold_only_card_member_names(root: Path, summary: SampleTreeSummary) -> None:
    for info in summary.shards:
        shard = layout.parse_shard_name(info.path)
        names = tar_names(root / info.path)
        assert names == sorted(names)
        assert names == [layout.member_name(i, shard.artifact) for i in info.sample_ids]
        for name in names:
            member = layout.parse_member_name(name)
            assert member.artifact == shard.artifact
            assert member.sample_id.edit_type == shard.edit_type
        with tarfile.open(root / info.path) as tf:
            for m in tf.getmembers():
                assert m.isreg()
                assert (m.mode, m.uid, m.gid, m.uname, m.gname) == (0o644, 0, 0, "", "")
                assert m.mtime == TAR_MTIME


def test_shards_are_cut_by_size_and_misaligned(summary: SampleTreeSummary) -> None:
    size = summary.preset.shard_size
    for e in summary.edit_types:
        for s in e.shards:
            assert s.size <= size or len(s.sample_ids) == 1
        src = [s.sample_ids for s in e.shards if s.artifact == "source_video"]
        edited = [s.sample_ids for s in e.shards if s.artifact == "edited_video"]
        assert len(src) >= 2
        assert len(edited) >= 2
        assert src[0] != edited[0]


def test_previews_equal_shard_members(root: Path, summary: SampleTreeSummary) -> None:
    for e in summary.edit_types:
        assert e.preview_ids == e.corpus_ids[:3]
        for s in e.shards:
            with tarfile.open(root / s.path) as tf:
                for m in tf.getmembers():
                    sid = str(layout.parse_member_name(m.name).sample_id)
                    loose = root / layout.artifact_relpath(sid, s.artifact)
                    if sid in e.preview_ids:
                        f = tf.extractfile(m)
                        assert f is not None
                        assert loose.read_bytes() == f.read()
                    else:
                        assert not loose.exists()


def test_csv_paths_resolve_after_extracting_shards(extracted: Path) -> None:
    for t in layout.EDIT_TYPES:
        rows = read_csv(extracted / layout.prompts_csv_path(t))
        assert rows[0] == list(layout.PROMPTS_CSV_COLUMNS)
        for prompt, src, tgt, task in rows[1:]:
            assert prompt
            assert src == layout.artifact_relpath(task, "source_video")
            assert tgt == layout.artifact_relpath(task, "edited_video")
            assert (extracted / src).is_file()
            assert (extracted / tgt).is_file()
            for artifact in layout.INTERMEDIATE_ARTIFACTS:
                assert (extracted / layout.artifact_relpath(task, artifact)).is_file()


def test_csv_quoting_and_metadata(root: Path, summary: SampleTreeSummary) -> None:
    quoted = 0
    for e in summary.edit_types:
        t = e.edit_type
        text = (root / layout.prompts_csv_path(t)).read_text(encoding="utf-8")
        quoted += '""' in text
        rows = read_csv(root / layout.prompts_csv_path(t))
        assert [r[3] for r in rows[1:]] == list(e.corpus_ids)
        assert all(len(r) == 4 for r in rows)
        assert any("," in r[0] for r in rows[1:])
        meta = read_jsonl(root / layout.prompts_metadata_path(t))
        assert [m["id"] for m in meta] == list(e.corpus_ids)
        assert [m["prompt"] for m in meta] == [r[0] for r in rows[1:]]
        for m in meta:
            assert m["metadata"]["edit_type"] == layout.metadata_edit_type(t)
            assert layout.canonical_edit_type(m["metadata"]["edit_type"]) == t
            assert m["metadata"]["original_scene"]
            if t == "openve3m":
                assert "chosen_keyword" not in m["metadata"]
                assert m["metadata"]["edit_type"] == "openve3m_background_change"
            else:
                layout.split_chosen_keyword(m["metadata"]["chosen_keyword"])
    assert quoted == len(summary.edit_types)


# --------------------------------------------------------------------------- pixels


def test_masks_load_with_the_card_helper(root: Path, extracted: Path) -> None:
    for t, sid in corpus_items_from(extracted):
        mask = load_mask(str(extracted / layout.artifact_relpath(sid, "source_video_mask")))
        assert mask.dtype == bool
        assert mask.shape[1:] == (H, W)
        assert 69 <= mask.shape[0] <= 81
        assert mask[0].sum() > 50
        assert not mask[:, 0, :].any()
        assert t in sid


def corpus_items_from(extracted: Path) -> Iterator[tuple[str, str]]:
    for t in layout.EDIT_TYPES:
        for row in read_csv(extracted / layout.prompts_csv_path(t))[1:]:
            yield t, row[3]


def test_videos_decode_and_agree_with_mask_and_frame0(
    extracted: Path, summary: SampleTreeSummary
) -> None:
    for t, sid in corpus_items(summary):
        n = summary[t].frame_counts[sid]
        src, info = decode(extracted / layout.artifact_relpath(sid, "source_video"))
        edited, info2 = decode(extracted / layout.artifact_relpath(sid, "edited_video"))
        bg, _ = decode(extracted / layout.artifact_relpath(sid, "edited_background_video"))
        canny, _ = decode(extracted / layout.artifact_relpath(sid, "edited_video_canny"))
        for i in (info, info2):
            assert i == {"fps": 16, "codec": "h264", "pix_fmt": "yuv420p", "size": (W, H)}
        assert src.shape == edited.shape == bg.shape == canny.shape == (n, H, W, 3)
        mask = load_mask(str(extracted / layout.artifact_relpath(sid, "source_video_mask")))
        assert mask.shape == (n, H, W)
        inner = np.stack([erode(m, 2) for m in mask])
        outer = ~np.stack([erode(~m, 2) for m in mask])
        diff = np.abs(src.astype(np.int16) - edited.astype(np.int16)).mean(axis=-1)
        assert diff[inner].mean() < 12, sid  # same figure
        assert diff[~outer].mean() > 25, sid  # new backdrop
        bg_diff = np.abs(bg.astype(np.int16) - edited.astype(np.int16)).mean(axis=-1)
        assert bg_diff[~outer].mean() < 12, sid  # background video = edited minus figure
        assert bg_diff[inner].mean() > 25, sid
        assert canny.mean() > 2  # some edges (OpenCV Canny, see regen), mostly black
        assert (canny.mean(axis=-1) < 128).mean() > 0.5
        # source_frame0 is frame 0 *decoded* from the source video, as the pipeline extracts
        # it; the edited first frames are model outputs, close to the videos' frame 0.
        frame0 = np.asarray(Image.open(extracted / layout.artifact_relpath(sid, "source_frame0")))
        assert np.array_equal(frame0, src[0]), sid
        for png, video in (
            ("edited_frame0", edited),
            ("edited_frame0_foreground_removed", bg),
        ):
            image = np.asarray(Image.open(extracted / layout.artifact_relpath(sid, png)))
            assert image.shape == (H, W, 3)
            assert np.abs(image.astype(np.int16) - video[0].astype(np.int16)).mean() < 8, png


def test_frame_counts_are_realistic(summary: SampleTreeSummary) -> None:
    counts = [n for e in summary.edit_types for n in e.frame_counts.values()]
    assert all(69 <= n <= 81 for n in counts)
    regular = sum((n - 1) % 4 == 0 for n in counts)
    assert regular / len(counts) > 0.6
    assert regular < len(counts)  # some are not 4k+1
    for e in summary.edit_types:
        assert (e.frame_counts[e.corpus_ids[1]] - 1) % 4 != 0


# --------------------------------------------------------------------------- records


def records(root: Path, t: str, name: str) -> list[dict[str, Any]]:
    return read_jsonl(root / layout.record_path(t, name))


def test_ids_are_sparse_and_records_hold_rejected_ids(
    root: Path, summary: SampleTreeSummary
) -> None:
    for e in summary.edit_types:
        indices = [layout.parse_sample_id(i).index for i in e.corpus_ids]
        assert indices[0] == 0
        assert indices != list(range(len(indices)))  # gaps left by filtering
        csv_ids = {r[3] for r in read_csv(root / layout.prompts_csv_path(e.edit_type))[1:]}
        for name in layout.RECORD_FILES:
            ids = [r["id"] for r in records(root, e.edit_type, name)]
            assert ids == sorted(ids)
            assert ids == list(e.record_ids(name))
            assert set(ids) - csv_ids, name  # rejected ids live only in the records
            assert csv_ids <= set(ids)
        for stage, rejected in e.rejected_ids.items():
            assert rejected
            assert not set(rejected) & csv_ids, stage
        assert not set(e.gap_ids) & set(e.record_ids("edited_frame0_score"))


def _image_fails(rec: dict[str, Any], threshold: float) -> bool:
    return bool(rec["editscore"]["overall"] < threshold)


def _video_mean(rec: dict[str, Any]) -> float:
    return sum(f["O_score"] for f in rec["editscore"]) / len(rec["editscore"])


def test_scores_fail_where_the_funnel_says(root: Path, summary: SampleTreeSummary) -> None:
    total = {s: [0, 0] for s in THRESHOLDS}
    for e in summary.edit_types:
        t = e.edit_type
        corpus = set(e.corpus_ids)
        for stage in ("edited_frame0_score", "edited_frame0_foreground_removed_score"):
            for rec in records(root, t, stage):
                fails = _image_fails(rec, THRESHOLDS[stage])
                assert fails == (rec["id"] in e.rejected_ids[stage]), (stage, rec["id"])
                assert not (fails and rec["id"] in corpus)
                total[stage][0] += fails
                total[stage][1] += 1
        for rec in records(root, t, "edited_video_score"):
            fails = _video_mean(rec) < THRESHOLDS["edited_video_score"]
            assert fails == (rec["id"] in e.rejected_ids["edited_video_score"])
            total["edited_video_score"][0] += fails
            total["edited_video_score"][1] += 1
    for stage, (failed, n) in total.items():
        assert 0.08 <= failed / n <= 0.3, (stage, failed, n)


def test_image_score_records_have_every_field(root: Path) -> None:
    for t in layout.EDIT_TYPES:
        for name in ("edited_frame0_score", "edited_frame0_foreground_removed_score"):
            for rec in records(root, t, name):
                assert list(rec) == ["id", "prompt", "editscore"]
                es = rec["editscore"]
                assert list(es) == [
                    "prompt_following",
                    "consistency",
                    "perceptual_quality",
                    "overall",
                    "SC_reasoning",
                    "PQ_reasoning",
                ]
                for k in ("prompt_following", "consistency", "perceptual_quality", "overall"):
                    assert math.isfinite(es[k])
                    assert 0 <= es[k] <= 10
                assert es["SC_reasoning"]
                assert es["PQ_reasoning"]


def test_video_score_records_have_every_field(root: Path, summary: SampleTreeSummary) -> None:
    for e in summary.edit_types:
        for rec in records(root, e.edit_type, "edited_video_score"):
            n = e.frame_counts[rec["id"]]
            idx = rec["frame_indices"]
            assert len(idx) == 4
            assert 1 <= idx[0] < idx[-1] < n
            assert len({b - a for a, b in itertools.pairwise(idx)}) == 1  # uniform
            if n == 81:
                assert idx == [1, 26, 51, 76]
            assert len(rec["editscore"]) == 4
            for f in rec["editscore"]:
                assert set(f) == {
                    "SC_score",
                    "PQ_score",
                    "O_score",
                    "SC_score_reasoning",
                    "PQ_score_reasoning",
                    "SC_raw_output",
                    "PQ_raw_output",
                }
                for head in ("SC", "PQ"):
                    raw = json.loads(f[f"{head}_raw_output"])
                    assert raw["reasoning"] == f[f"{head}_score_reasoning"]
                    assert isinstance(raw["score"], list)
                    assert min(raw["score"]) == f[f"{head}_score"]


def test_grounding_boxes_match_the_mask(root: Path, extracted: Path) -> None:
    empty = 0
    for t in layout.EDIT_TYPES:
        r1 = {r["id"]: r for r in records(root, t, "foreground_grounding_r1")}
        r2 = records(root, t, "foreground_grounding_r2")
        assert {r["id"] for r in r2} <= set(r1)
        for rec in r1.values():
            assert list(rec) == ["id", "prompt", "edit_type", "round1_labels", "round1_objects"]
            assert rec["edit_type"] == t
            assert [o["label"] for o in rec["round1_objects"]] == rec["round1_labels"]
            for o in rec["round1_objects"]:
                assert normalize_bbox(o["bbox_2d"], W, H)
        for rec in r2:
            assert {k: v for k, v in rec.items() if k != "frame_objects"} == r1[rec["id"]]
            frames = rec["frame_objects"]
            mask_path = extracted / layout.artifact_relpath(rec["id"], "source_video_mask")
            mask = load_mask(str(mask_path)) if mask_path.exists() else None
            if mask is not None:
                assert len(frames) == math.ceil(mask.shape[0] / 8)
            for k, objs in enumerate(frames):
                assert [o["label"] for o in objs] == rec["round1_labels"]
                for o in objs:
                    if o["bbox_2d"] == []:
                        empty += 1
                        continue
                    box = o["bbox_2d"]
                    assert len(box) == 4
                    assert all(0 <= v <= 1000 for v in box)
                    assert box[0] <= box[2]
                    assert box[1] <= box[3]
                    normalize_bbox(box, W, H)
                whole = objs[0]["bbox_2d"]
                if mask is not None and whole:
                    # The first label is the whole figure: its box is the mask's box.
                    assert normalize_bbox(whole, W, H) == mask_bbox(mask[8 * k])
                    if k == 0:
                        first = rec["round1_objects"][0]["bbox_2d"]
                        assert normalize_bbox(first, W, H) == mask_bbox(mask[0])
    assert empty >= len(layout.EDIT_TYPES)


# --------------------------------------------------------------------------- bench


def test_bench_tree(summary: SampleTreeSummary, root: Path) -> None:
    bench = summary.bench_root
    assert bench is not None
    assert not list(bench.glob("openve3m*"))
    for t in layout.BENCH_EDIT_TYPES:
        e = summary[t]
        assert e.bench_ids == e.rejected_ids["edited_video_score"]
        rows = read_csv(bench / layout.bench_csv_path(t))
        assert rows[0] == list(layout.BENCH_CSV_COLUMNS)
        meta = read_jsonl(bench / layout.bench_metadata_path(t))
        assert [m["id"] for m in meta] == list(e.bench_ids)
        train_ids = set(e.corpus_ids)
        for (edited_type, prompt, video), m in zip(rows[1:], meta, strict=True):
            assert edited_type == t
            assert prompt == m["prompt"]
            assert video == layout.bench_source_video_path(m["id"])
            assert layout.parse_bench_source_video_path(video) == layout.parse_sample_id(m["id"])
            assert m["id"] not in train_ids
            assert m["metadata"]["edit_type"] == t
            layout.split_chosen_keyword(m["metadata"]["chosen_keyword"])
            frames, _ = decode(bench / video)
            assert frames.shape == (e.frame_counts[m["id"]], H, W, 3)
            ref = Image.open(bench / layout.bench_ref_image_path(m["id"]))
            assert ref.size == (W, H)
    assert summary["openve3m"].bench_ids == ()


# --------------------------------------------------------------------------- determinism, CLI


def test_same_seed_same_bytes_via_cli(
    built: tuple[Path, SampleTreeSummary], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, summary = built
    assert main(["make-sample", str(tmp_path), "--preset", "tiny", "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "location_source_video_part00.tar" in printed
    assert str(tmp_path / BENCH_DIR) in printed
    assert "rejected" in printed
    first, second = tree_hashes(out), tree_hashes(tmp_path)
    assert first == second
    assert len(first) == summary.files + summary.bench_files + 1  # + marker
    assert str(summary).replace(str(out), str(tmp_path)) in printed


def test_string_summary_reports_counts(summary: SampleTreeSummary) -> None:
    text = str(summary)
    for t in layout.EDIT_TYPES:
        assert t in text
    for s in summary.shards:
        assert s.path in text
    assert "source_video_mask.npz" in text
