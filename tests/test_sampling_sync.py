"""One plan, applied to source, edited and mask alike; grounding boxes; frame-count policies."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch

from sparkle_data.errors import CorruptVideoError
from sparkle_data.readers.grounding import BoxesArray, grounding_frame_indices
from sparkle_data.readers.mask import encode_mask_npz, read_mask
from sparkle_data.sampling import (
    FieldMismatchError,
    FrameSampler,
    Resize,
    SamplePlan,
    ShortClipError,
    decode_mask_field,
    decode_video_field,
    plan_sample,
    probe_fields,
    transform_boxes,
)
from sparkle_data.testing import SampleTreeSummary, make_sample_tree
from sparkle_data.testing.synth.encode import Mp4Encoder

Paths = dict[str, Path]


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> SampleTreeSummary:
    return make_sample_tree(
        tmp_path_factory.mktemp("sampling"),
        preset="tiny",
        edit_types=["location"],
        samples=2,
        bench=False,
    )


def sample_paths(tree: SampleTreeSummary, k: int = 0) -> tuple[str, Paths, Paths]:
    sid = tree.edit_types[0].corpus_ids[k]
    root = tree.root
    videos = {
        "source_video": root / "location" / "source_video" / f"{sid}.mp4",
        "edited_video": root / "location" / "edited_video" / f"{sid}.mp4",
    }
    masks = {
        "source_video_mask": root
        / "intermediate_data"
        / "location"
        / "source_video_mask"
        / f"{sid}.npz"
    }
    return sid, videos, masks


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


RESIZES = [
    Resize(),
    Resize(height=32, width=48),
    Resize(height=40, width=40, crop="none"),
    Resize(height=64, width=64),
    Resize(height=32, width=48, crop="top_left"),
]


@pytest.mark.parametrize("resize", RESIZES, ids=["div16", "small", "none", "up", "top_left"])
def test_fields_share_shape_and_mask_aligns_with_foreground(
    tree: SampleTreeSummary, resize: Resize
) -> None:
    sid, videos, masks = sample_paths(tree)
    plan = plan_sample(
        probe_fields(videos, masks, sample_id=sid),
        FrameSampler("stride", stride=3),
        resize,
        sample_id=sid,
    )
    src = decode_video_field(videos["source_video"], plan, "source_video")
    tgt = decode_video_field(videos["edited_video"], plan, "edited_video")
    mask = decode_mask_field(masks["source_video_mask"], plan)
    t, h, w = plan.shape
    assert src.shape == tgt.shape == (t, 3, h, w)
    assert src.dtype == torch.uint8
    assert mask.shape == (t, h, w)
    assert mask.dtype == torch.bool
    # The synthetic foreground is the same in source and edited: where they agree is the
    # foreground, which the mask must cover after the same resize and crop.
    fg = (src.int() - tgt.int()).abs().sum(dim=1).numpy() < 30
    m = mask.numpy()
    aligned = iou(fg, m)
    shifted = iou(fg, np.roll(m, 3, axis=2))
    assert aligned > 0.6, aligned
    assert aligned > shifted + 0.2, (aligned, shifted)


def test_numpy_output_and_layouts(tree: SampleTreeSummary) -> None:
    _, videos, _ = sample_paths(tree)
    plan = plan_sample(probe_fields(videos), FrameSampler("kiwi", num_frames=5))
    thwc = decode_video_field(videos["source_video"], plan, "source_video", output="numpy")
    tchw = decode_video_field(videos["source_video"], plan, "source_video", layout="TCHW")
    assert thwc.shape == (5, 48, 96, 3)
    assert isinstance(thwc, np.ndarray)
    assert np.array_equal(thwc.transpose(0, 3, 1, 2), tchw.numpy())
    assert not thwc.flags.c_contiguous  # the crop (3 rows) is a view
    dense = decode_video_field(
        videos["source_video"], plan, "source_video", output="numpy", contiguous=True
    )
    assert dense.flags.c_contiguous
    assert np.array_equal(dense, thwc)


def test_mask_nearest_resize_matches_torch_nearest_exact(tree: SampleTreeSummary) -> None:
    _sid, videos, masks = sample_paths(tree)
    plan = plan_sample(
        probe_fields(videos, masks),
        FrameSampler("uniform", num_frames=4),
        Resize(height=40, width=40),
    )
    got = decode_mask_field(masks["source_video_mask"], plan, output="numpy")
    full = read_mask(masks["source_video_mask"], frames=plan.indices)
    g = plan.geometry["source_video_mask"]
    resized = torch.nn.functional.interpolate(
        torch.from_numpy(full)[:, None].float(), size=g.resize, mode="nearest-exact"
    )[:, 0].bool()
    rows, cols = g.crop_slices()
    assert np.array_equal(got, resized[:, rows, cols].numpy())


def test_plan_is_frozen_and_prints_shapes(tree: SampleTreeSummary) -> None:
    sid, videos, masks = sample_paths(tree)
    plan = plan_sample(probe_fields(videos, masks), sample_id=sid)
    text = repr(plan)
    assert "indices=int64[" in text
    assert sid in text
    assert "source_video_mask" in text
    assert not plan.indices.flags.writeable
    with pytest.raises(TypeError):
        plan.geometry["x"] = plan.geometry["source_video"]  # type: ignore[index]
    with pytest.raises(AttributeError):
        plan.reference = "edited_video"  # type: ignore[misc]
    with pytest.raises(KeyError, match="covers"):
        decode_video_field(videos["source_video"], plan, "edited_background_video")


# --------------------------------------------------------------------------- frame counts


def test_frame_count_mismatch_policies() -> None:
    fields = {
        "source_video": (81, 720, 1280),
        "edited_video": (77, 720, 1280),
        "source_video_mask": (81, 720, 1280),
    }
    with pytest.raises(FieldMismatchError, match=r"'edited_video': 77") as info:
        plan_sample(fields, sample_id="Sparkle_style_000298")
    assert info.value.sample_id == "Sparkle_style_000298"
    plan = plan_sample(fields, FrameSampler("kiwi", num_frames=81), frame_mismatch="min")
    assert plan.indices.tolist() == list(range(77))
    assert dict(plan.available) == {k: t for k, (t, _, _) in fields.items()}
    with pytest.raises(ShortClipError):
        plan_sample(
            fields,
            FrameSampler("kiwi", num_frames=81, on_short="error"),
            frame_mismatch="min",
        )


def test_decode_checks_the_probed_frame_count(tree: SampleTreeSummary) -> None:
    _, videos, _ = sample_paths(tree)
    real = probe_fields(videos)
    t = real["source_video"].num_frames
    lying = {"source_video": (t + 4, 54, 96)}
    plan = plan_sample(lying, FrameSampler("kiwi", num_frames=5))
    with pytest.raises(CorruptVideoError, match="expected"):
        decode_video_field(videos["source_video"], plan, "source_video")


def test_mask_of_another_size_is_refused(tree: SampleTreeSummary) -> None:
    data = encode_mask_npz(np.zeros((5, 8, 16), dtype=bool))
    plan = plan_sample({"source_video_mask": (5, 16, 16)}, resize=Resize(division=1))
    with pytest.raises(FieldMismatchError, match="16x8"):
        decode_mask_field(data, plan)


# --------------------------------------------------------------------------- 720 vs 704


def _pair(width: int = 128, height: int = 72, cut: int = 4) -> tuple[bytes, bytes]:
    """A source clip and its "Kiwi-Edit output": the same frames without ``cut`` rows top and
    bottom (as 1280x704 outputs are the center crop of 1280x720 inputs)."""
    yy, xx = np.mgrid[0:height, 0:width]
    src = Mp4Encoder(width, height, fps=16, crf=4, preset="veryfast")
    tgt = Mp4Encoder(width, height - 2 * cut, fps=16, crf=4, preset="veryfast")
    for t in range(5):
        frame = np.stack(
            [(xx * 2 + t * 9) % 256, (yy * 3) % 256, ((xx // 16 + yy // 12) % 2) * 200], axis=-1
        ).astype(np.uint8)
        src.add(frame)
        tgt.add(np.ascontiguousarray(frame[cut : height - cut]))
    return src.finish(), tgt.finish()


def test_720_vs_704_pair_each_policy() -> None:
    src, tgt = _pair()
    probes = probe_fields({"source_video": io.BytesIO(src), "edited_video": io.BytesIO(tgt)})
    assert probes["source_video"].shape[1:] == (72, 128)
    assert probes["edited_video"].shape[1:] == (64, 128)

    with pytest.raises(FieldMismatchError, match=r"128x72.*128x64"):
        plan_sample(probes, resize=Resize(division=8, size_mismatch="error"))

    common = plan_sample(probes, resize=Resize(division=8, size_mismatch="crop_to_common"))
    a = decode_video_field(io.BytesIO(src), common, "source_video").int()
    b = decode_video_field(io.BytesIO(tgt), common, "edited_video").int()
    assert a.shape == b.shape == (5, 3, 64, 128)
    assert (a - b).abs().float().mean() < 4  # pixel-aligned (only the codec differs)

    to_source = plan_sample(probes, resize=Resize(division=8))
    a = decode_video_field(io.BytesIO(src), to_source, "source_video")
    b = decode_video_field(io.BytesIO(tgt), to_source, "edited_video")
    assert a.shape == b.shape == (5, 3, 72, 128)

    stretched = plan_sample(probes, resize=Resize(division=8, crop="none"))
    b = decode_video_field(io.BytesIO(tgt), stretched, "edited_video")
    assert b.shape == (5, 3, 72, 128)


# --------------------------------------------------------------------------- boxes


def _grounding(num_frames: int = 81, labels: int = 2) -> BoxesArray:
    frames = grounding_frame_indices(len(range(0, num_frames, 8)))
    boxes = np.zeros((len(frames), labels, 4), dtype=np.int32)
    for f, v in enumerate(frames):
        boxes[f, 0] = (v, 100, v + 200, 300)  # x1 follows the video frame: easy to trace
        boxes[f, 1] = (0, 0, 1279, 719)
    valid = np.ones((len(frames), labels), dtype=bool)
    valid[3, 1] = False
    return BoxesArray(boxes, valid, ("person", "frame"), np.asarray(frames, dtype=np.int64))


def test_boxes_exact_keeps_only_sampled_grounding_frames() -> None:
    plan = plan_sample({"source_video": (81, 720, 1280)}, FrameSampler("stride", stride=3))
    out = transform_boxes(_grounding(), plan)
    # sampled 0, 3, 6, ...; grounding 0, 8, 16, ...: common 0, 24, 48, 72
    assert out.frame_indices.tolist() == [0, 8, 16, 24]  # positions in the decoded clip
    assert plan.indices[out.frame_indices].tolist() == [0, 24, 48, 72]
    assert out.boxes[:, 0, 0].tolist() == [0, 24, 48, 72]
    assert out.labels == ("person", "frame")
    assert out.valid[:, 0].all()
    assert out.valid[:, 1].tolist() == [True, False, True, True]  # grounding frame 24 had none


def test_boxes_nearest_fills_every_output_frame_within_max_gap() -> None:
    plan = plan_sample({"source_video": (81, 720, 1280)}, FrameSampler("kiwi", num_frames=33))
    out = transform_boxes(_grounding(), plan, frames="nearest")
    assert out.boxes.shape == (33, 2, 4)
    assert out.frame_indices.tolist() == list(range(33))
    # frames 0..4 -> grounding 0 (4 ties with 0 and 8: the earlier wins), 5..12 -> 8, ...
    assert out.boxes[:5, 0, 0].tolist() == [0] * 5
    assert out.boxes[5:13, 0, 0].tolist() == [8] * 8
    assert out.valid[:, 0].all()
    assert not out.valid[21:29, 1].any()  # grounding frame 24 had no box for label 1
    tight = transform_boxes(_grounding(), plan, frames="nearest", max_gap=1)
    assert tight.valid[:, 0].tolist() == [v % 8 in (0, 1, 7) for v in range(33)]


def test_boxes_follow_the_crop_and_round1_records() -> None:
    plan = plan_sample({"source_video": (81, 720, 1280)}, resize=Resize(division=32))
    out = transform_boxes(_grounding(), plan)
    assert out.boxes[0, 1].tolist() == [0, 0, 1279, 703]  # full frame, 8 rows cropped
    assert out.boxes[0, 0].tolist() == [0, 92, 200, 292]
    r1 = BoxesArray(np.array([[10, 10, 20, 20]], np.int32), np.array([True]), ("a",), np.array([0]))
    got = transform_boxes(r1, plan)
    assert got.boxes.shape == (1, 1, 4)
    assert got.boxes[0, 0].tolist() == [10, 2, 20, 12]
    late = plan_sample({"source_video": (81, 720, 1280)}, FrameSampler("stride", stride=2))
    assert transform_boxes(r1, late).boxes.shape == (1, 1, 4)
    window = SamplePlan(np.arange(5, 9), late.geometry, late.available, late.reference, None)
    assert transform_boxes(r1, window).boxes.shape == (0, 1, 4)  # frame 0 not sampled


# --------------------------------------------------------------------------- end to end


def test_dataloader_over_planned_samples(tree: SampleTreeSummary) -> None:
    from torch.utils.data import DataLoader

    from sparkle_data.sampling import collate_pad

    items = [sample_paths(tree, k) for k in range(2)]

    def load(i: int) -> dict[str, object]:
        sid, videos, masks = items[i]
        plan = plan_sample(
            probe_fields(videos, masks, sample_id=sid),
            FrameSampler("stride", stride=4),
            Resize(height=32, width=48),
            sample_id=sid,
        )
        out: dict[str, object] = {"sample_id": sid, "frame_indices": plan.indices}
        for name, source in videos.items():
            out[name] = decode_video_field(source, plan, name)
        out["source_video_mask"] = decode_mask_field(masks["source_video_mask"], plan)
        return out

    loader: DataLoader[int] = DataLoader(
        list(range(2)),  # type: ignore[arg-type]
        batch_size=2,
        collate_fn=lambda ids: collate_pad(
            [load(i) for i in ids],
            time_keys=["source_video", "edited_video", "source_video_mask", "frame_indices"],
        ),
    )
    (batch,) = list(loader)
    counts = [probe_fields(v)["source_video"].num_frames for _, v, _ in items]
    expected = [(t - 1) // 4 + 1 for t in counts]
    assert batch["lengths"].tolist() == expected
    assert batch["source_video"].shape == (2, max(expected), 3, 32, 48)
    assert batch["source_video_mask"].shape == (2, max(expected), 32, 48)
    assert batch["frame_mask"].sum(dim=1).tolist() == expected
    assert batch["sample_id"] == [sid for sid, _, _ in items]


@pytest.mark.real_clips
def test_real_pair_kiwi_480x832(real_clips: Path) -> None:
    videos = {
        "source_video": real_clips / "Sparkle_openve3m_000006_source.mp4",
        "edited_video": real_clips / "Sparkle_openve3m_000006_edited.mp4",
    }
    plan = plan_sample(
        probe_fields(videos), FrameSampler("kiwi", num_frames=17), Resize(height=480, width=832)
    )
    assert plan.geometry["source_video"].resize == (480, 853)
    src = decode_video_field(videos["source_video"], plan, "source_video")
    tgt = decode_video_field(videos["edited_video"], plan, "edited_video")
    assert src.shape == tgt.shape == (17, 3, 480, 832)
