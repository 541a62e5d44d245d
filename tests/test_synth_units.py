"""Pieces of the synthetic tree factory: funnel, boxes, shards, scores, pixels, CLI sizes."""

from __future__ import annotations

import argparse
import hashlib
import math
import tarfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sparkle_data import layout
from sparkle_data.cli.make_sample import parse_size
from sparkle_data.errors import LayoutError
from sparkle_data.testing import FAIL_RATES, SAMPLE_PRESETS, STAGES, THRESHOLDS, make_sample_tree
from sparkle_data.testing.synth.encode import Mp4Encoder
from sparkle_data.testing.synth.funnel import plan_funnel
from sparkle_data.testing.synth.grounding import grounding_frame_indices, to_qwen_box
from sparkle_data.testing.synth.preset import Preset
from sparkle_data.testing.synth.render import edge_map, render_frames, render_parts
from sparkle_data.testing.synth.scene import make_scene_spec
from sparkle_data.testing.synth.scores import (
    make_image_editscore,
    make_video_editscore,
    video_score_frames,
)
from sparkle_data.testing.synth.shard import ShardWriter, tar_file_size, tar_member_size


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


# --------------------------------------------------------------------------- funnel


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(layout.EDIT_TYPES), st.integers(1, 60), st.integers(0, 2**32))
def test_funnel_keeps_exactly_the_requested_samples(
    edit_type: str, samples: int, seed: int
) -> None:
    candidates = plan_funnel(edit_type, samples, np.random.default_rng(seed))
    assert [c.index for c in candidates] == list(range(len(candidates)))
    assert candidates[0].in_corpus
    assert sum(c.in_corpus for c in candidates) == samples
    for stage in STAGES:
        reached = [c for c in candidates if stage in c.stages_reached]
        failed = [c for c in reached if c.rejected_at == stage]
        assert failed  # every stage rejects someone
        if samples >= 20:
            assert abs(len(failed) / len(reached) - FAIL_RATES[stage]) < 0.06
    for c in candidates:
        assert layout.parse_sample_id(c.sample_id).index == c.index
        if c.gap:
            assert c.records == ()
        elif c.in_corpus:
            assert c.records == layout.RECORD_FILES
            assert all(c.passes(s) for s in STAGES)
        else:
            assert c.rejected_at is not None
            assert not c.passes(c.rejected_at)


def test_funnel_rejects_bad_sample_counts() -> None:
    with pytest.raises(ValueError, match="samples"):
        plan_funnel("time", 0, np.random.default_rng(0))


# --------------------------------------------------------------------------- boxes


@given(st.data())
def test_qwen_boxes_map_back_through_the_card_helper(data: st.DataObject) -> None:
    width = data.draw(st.integers(2, 2000))
    height = data.draw(st.integers(2, 2000))
    x1 = data.draw(st.integers(0, width - 1))
    x2 = data.draw(st.integers(x1, width - 1))
    y1 = data.draw(st.integers(0, height - 1))
    y2 = data.draw(st.integers(y1, height - 1))
    box = to_qwen_box((x1, y1, x2, y2), width, height)
    assert all(isinstance(v, int) and 0 <= v <= 1000 for v in box)
    back = normalize_bbox(box, width, height)
    # Exact where 1000 units resolve a pixel; within one unit's worth of pixels otherwise.
    tol = 0 if max(width, height) <= 1000 else math.ceil(max(width, height) / 1000)
    for got, want in zip(back, (x1, y1, x2, y2), strict=True):
        assert want <= got <= want + tol


def test_qwen_box_survives_the_cards_float_arithmetic() -> None:
    # ceil(29 * 1000 / 50) = 580, but 580 / 1000.0 * 50 == 28.999...: the card gives 28
    box = to_qwen_box((0, 0, 29, 0), 50, 2)
    assert box == [0, 0, 581, 0]
    assert normalize_bbox(box, 50, 2) == (0, 0, 29, 0)


def test_grounding_frames_are_2fps() -> None:
    assert list(grounding_frame_indices(81)) == [0, 8, 16, 24, 32, 40, 48, 56, 64, 72, 80]
    for n in range(69, 82):
        assert len(grounding_frame_indices(n)) == math.ceil(n / 8)


# --------------------------------------------------------------------------- scores


def test_video_score_frames() -> None:
    assert video_score_frames(81) == [1, 26, 51, 76]
    for n in range(69, 82):
        idx = video_score_frames(n)
        assert len(idx) == 4
        assert 1 == idx[0] < idx[-1] < n


@pytest.mark.parametrize("passed", [True, False])
def test_scores_land_on_the_requested_side(passed: bool) -> None:
    rng = np.random.default_rng(1)
    for _ in range(50):
        for stage in ("edited_frame0_score", "edited_frame0_foreground_removed_score"):
            es = make_image_editscore(rng, "x", threshold=THRESHOLDS[stage], passed=passed)
            assert (es["overall"] >= THRESHOLDS[stage]) == passed
            assert es["overall"] == math.sqrt(
                min(es["prompt_following"], es["consistency"]) * es["perceptual_quality"]
            )
        frames = make_video_editscore(rng, "x", threshold=8.0, passed=passed)
        mean = sum(f["O_score"] for f in frames) / 4
        assert (mean >= 8.0) == passed


# --------------------------------------------------------------------------- pixels


def test_layers_agree_before_encoding() -> None:
    spec = make_scene_spec(np.random.default_rng(7), 96, 54, 73)
    layers = render_frames(spec, range(spec.n_frames))
    mask = layers.mask
    assert mask.shape == (73, 54, 96)
    assert mask.any(axis=(1, 2)).all()
    for t in (0, 36, 72):
        union = np.zeros((54, 96), dtype=bool)
        for part in render_parts(spec, (t,)):
            p = part.mask[0]
            union[part.top : part.top + p.shape[0], part.left : part.left + p.shape[1]] |= p
        assert (union == mask[t]).all()
    m = mask[..., None]
    assert (np.where(m, layers.source, 0) == np.where(m, layers.edited, 0)).all()
    assert (np.where(m, 0, layers.background) == np.where(m, 0, layers.edited)).all()
    assert (np.where(m, 0, layers.source) != np.where(m, 0, layers.edited)).any(
        axis=-1
    ).mean() > 0.5
    edges = np.where(mask, edge_map(layers.source), edge_map(layers.background))
    assert (layers.canny[..., 0] == edges * 255).all()
    assert (layers.canny[..., 0] == layers.canny[..., 2]).all()


def test_figure_moves() -> None:
    spec = make_scene_spec(np.random.default_rng(3), 96, 54, 81)
    boxes = {render_parts(spec, (t,))[0].bbox() for t in range(0, 81, 8)}
    assert len(boxes) > 3


def test_mp4_encoder_is_deterministic() -> None:
    spec = make_scene_spec(np.random.default_rng(11), 96, 54, 81)
    frames = render_frames(spec, range(81)).source

    def encode() -> bytes:
        enc = Mp4Encoder(96, 54, fps=16, crf=20, preset="veryfast")
        for f in frames:
            enc.add(f)
        return enc.finish()

    junk = [np.random.default_rng(i).random(500 + 37 * i) for i in range(200)]
    first = encode()
    del junk[::2]
    assert encode() == first
    with pytest.raises(ValueError, match="frame"):
        Mp4Encoder(96, 54, fps=16, crf=20, preset="veryfast").add(frames[0][:10])


def test_presets_keep_masks_byte_aligned() -> None:
    for p in SAMPLE_PRESETS.values():
        assert (p.width * p.height) % 8 == 0
    real = SAMPLE_PRESETS["real"]
    assert (real.width, real.height, real.fps) == (1280, 720, 16)
    with pytest.raises(ValueError, match="multiple of 8"):
        Preset("tiny", 98, 54, 16, 20, "veryfast", 1024)
    with pytest.raises(ValueError, match="even"):
        Preset("tiny", 96, 55, 16, 20, "veryfast", 1024)


# --------------------------------------------------------------------------- shards


def test_shard_writer_cuts_by_size(tmp_path: Path) -> None:
    sizes = [3000, 9000, 100, 40000, 5000, 5000, 5000]
    ids = [layout.format_sample_id("time", 3 * i + 1) for i in range(len(sizes))]
    limit = 20480
    with ShardWriter(tmp_path, "time", "source_video", shard_size=limit) as w:
        for sid, n in zip(ids, sizes, strict=True):
            w.add(sid, bytes([n % 251]) * n)
    assert (
        [s.sample_ids for s in w.shards]
        == [
            tuple(ids[:3]),
            (ids[3],),  # bigger than a shard: alone
            tuple(ids[4:7]),
        ]
    )
    for s in w.shards:
        path = tmp_path / s.path
        assert path.stat().st_size == s.size
        n = sum(tar_member_size(sizes[ids.index(i)]) for i in s.sample_ids)
        assert s.size == tar_file_size(n)
        assert s.size <= limit or len(s.sample_ids) == 1
        with tarfile.open(path) as tf:
            assert tf.getnames() == [layout.member_name(i, "source_video") for i in s.sample_ids]


def test_shard_writer_first_shard_size(tmp_path: Path) -> None:
    with ShardWriter(
        tmp_path, "style", "edited_video", shard_size=40960, first_shard_size=20480
    ) as w:
        for i in range(8):
            w.add(layout.format_sample_id("style", i), b"x" * 8000)
    assert [len(s.sample_ids) for s in w.shards] == [2, 4, 2]


def test_shard_writer_leaves_no_temp_on_error(tmp_path: Path) -> None:
    def write_then_fail() -> None:
        with ShardWriter(tmp_path, "time", "source_video", shard_size=1 << 20) as w:
            w.add(layout.format_sample_id("time", 0), b"abc")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        write_then_fail()
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- options


def _member_hashes(root: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for shard in sorted(root.rglob("*.tar")):
        with tarfile.open(shard) as tf:
            for m in tf.getmembers():
                f = tf.extractfile(m)
                assert f is not None
                out[m.name] = hashlib.sha256(f.read()).hexdigest()
    return out


def test_content_does_not_depend_on_shard_or_preview_options(tmp_path: Path) -> None:
    kw: dict[str, object] = {"edit_types": ("season",), "samples": 3, "bench": False}
    a = make_sample_tree(tmp_path / "a", **kw)  # type: ignore[arg-type]
    b = make_sample_tree(
        tmp_path / "b",
        shard_size=12 * 1024,
        misaligned_shards=False,
        preview_count=0,
        **kw,  # type: ignore[arg-type]
    )
    assert _member_hashes(a.root) == _member_hashes(b.root)
    assert len(b.shards) > len(a.shards)
    assert b["season"].preview_ids == ()
    assert not (b.root / "season").exists()
    for rel in (
        layout.prompts_csv_path("season"),
        layout.record_path("season", "edited_video_score"),
    ):
        assert (a.root / rel).read_bytes() == (b.root / rel).read_bytes()


def test_other_seed_other_bytes(tmp_path: Path) -> None:
    kw: dict[str, object] = {"edit_types": ("style",), "samples": 2, "bench": False}
    a = make_sample_tree(tmp_path / "a", seed=0, **kw)  # type: ignore[arg-type]
    b = make_sample_tree(tmp_path / "b", seed=1, **kw)  # type: ignore[arg-type]
    ha, hb = _member_hashes(a.root), _member_hashes(b.root)
    assert not set(ha.values()) & set(hb.values())
    csv = layout.prompts_csv_path("style")
    assert (a.root / csv).read_bytes() != (b.root / csv).read_bytes()


@pytest.mark.parametrize(
    ("text", "value"),
    [("4096", 4096), ("64K", 65536), ("64KiB", 65536), ("1.5M", 1572864), ("5G", 5 << 30)],
)
def test_parse_size(text: str, value: int) -> None:
    assert parse_size(text) == value


@pytest.mark.parametrize("text", ["", "0", "-1", "5X", "K", "1.5.2M"])
def test_parse_size_rejects(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        parse_size(text)


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="samples"):
        make_sample_tree(tmp_path, samples=0)
    with pytest.raises(ValueError, match="preset"):
        make_sample_tree(tmp_path, preset="huge")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="once"):
        make_sample_tree(tmp_path, edit_types=("time", "time"))
    with pytest.raises(LayoutError):
        make_sample_tree(tmp_path, edit_types=("weather",))
    assert list(tmp_path.iterdir()) == []
