"""Grounding readers, normalize_bbox (against the card's function) and frame mapping."""

from __future__ import annotations

import copy
import io
import json
import math
from collections.abc import Sequence
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sparkle_data.errors import CorruptRecordError, LayoutError
from sparkle_data.policy import SkipReport
from sparkle_data.readers.grounding import (
    MAX_GROUNDING_FRAMES,
    GroundedObject,
    GroundingR1Record,
    GroundingR2Record,
    boxes_array,
    grounding_frame_indices,
    iter_grounding_r2,
    load_grounding_r1,
    load_grounding_r2,
    load_grounding_summary_table,
    normalize_bbox,
)


# The dataset card's function, copied verbatim: the oracle.
def card_normalize_bbox(bbox, video_width: int, video_height: int):  # type: ignore[no-untyped-def]
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


NAME = "intermediate_data/location/foreground_grounding_r2.jsonl"
LABELS = [
    "woman in brown hat and coat",
    "clasped hands with ring",
    "striped shirt under coat",
    "brown wide-brimmed hat",
]
BOXES = [[447, 27, 765, 998], [515, 800, 615, 980], [490, 398, 615, 800], [505, 27, 710, 258]]


def sid(i: int) -> str:
    return f"Sparkle_location_{i:06d}"


def objects(boxes: list[object] | None = None, labels: list[str] | None = None) -> list[object]:
    return [
        {"bbox_2d": b, "label": lab}
        for b, lab in zip(boxes or BOXES, labels or LABELS, strict=True)
    ]


def r1(i: int, **kw: object) -> dict[str, object]:
    rec: dict[str, object] = {
        "id": sid(i),
        "prompt": "Shift the background to a rooftop.",
        "edit_type": "location",
        "round1_labels": list(LABELS),
        "round1_objects": objects(),
    }
    rec.update(kw)
    return rec


def r2(i: int, frames: int = MAX_GROUNDING_FRAMES, **kw: object) -> dict[str, object]:
    rec = r1(i)
    rec["frame_objects"] = [objects() for _ in range(frames)]
    rec.update(kw)
    return rec


def jsonl(*objs: object) -> bytes:
    return b"".join(json.dumps(o).encode() + b"\n" for o in objs)


def with_frame_box(i: int, f: int, j: int, box: object) -> dict[str, object]:
    rec = r2(i)
    frame_objects = copy.deepcopy(rec["frame_objects"])
    frame_objects[f][j]["bbox_2d"] = box  # type: ignore[index]
    rec["frame_objects"] = frame_objects
    return rec


# --------------------------------------------------------------------------- valid records


def test_r1_and_r2_valid() -> None:
    (rec1,) = load_grounding_r1(io.BytesIO(jsonl(r1(0))), edit_type="location")
    assert rec1.round1_labels == tuple(LABELS)
    assert [o.bbox for o in rec1.round1_objects] == [tuple(b) for b in BOXES]
    (rec2,) = load_grounding_r2(io.BytesIO(jsonl(r2(0))))
    assert rec2.num_frames == 11
    assert all(tuple(o.label for o in f) == tuple(LABELS) for f in rec2.frame_objects)
    assert isinstance(rec2, GroundingR1Record)


def test_empty_bbox_is_valid_and_keeps_labels_aligned() -> None:
    rec = with_frame_box(0, 3, 1, [])
    (got,) = load_grounding_r2(io.BytesIO(jsonl(rec)))
    assert got.frame_objects[3][1] == GroundedObject(LABELS[1], None)
    assert not got.frame_objects[3][1].localized
    assert got.frame_objects[3][2].label == LABELS[2]


def test_frames_listing_fewer_or_reordered_objects_are_realigned() -> None:
    rec = r2(0)
    frames = rec["frame_objects"]
    assert isinstance(frames, list)
    frames[2] = objects(BOXES[:2], LABELS[:2])  # fewer objects
    frames[4] = list(reversed(objects()))  # another order
    frames[5] = []  # nothing at all
    (got,) = load_grounding_r2(io.BytesIO(jsonl(rec)))
    assert [o.bbox for o in got.frame_objects[2]] == [tuple(BOXES[0]), tuple(BOXES[1]), None, None]
    assert [o.bbox for o in got.frame_objects[4]] == [tuple(b) for b in BOXES]
    assert [o.bbox for o in got.frame_objects[5]] == [None] * 4
    summary = load_grounding_summary_table(io.BytesIO(jsonl(rec)))
    assert summary["num_empty_boxes"].tolist() == [6]


def test_integral_floats_and_openve3m_alias() -> None:
    rec = r1(0, round1_objects=objects([[447.0, 27, 765, 998], *BOXES[1:]]))
    (got,) = load_grounding_r1(io.BytesIO(jsonl(rec)))
    assert got.round1_objects[0].bbox == (447, 27, 765, 998)
    assert all(type(v) is int for v in got.round1_objects[0].bbox or ())
    ove = r1(0, id="Sparkle_openve3m_000000", edit_type="openve3m_background_change")
    (got,) = load_grounding_r1(io.BytesIO(jsonl(ove)))
    assert got.edit_type == "openve3m"


# --------------------------------------------------------------------------- bad boxes


@pytest.mark.parametrize(
    ("box", "rule", "reason", "repaired"),
    [
        ([447, 27, 1200, 998], r"in \[0, 1000\]", "bbox_clamped", (447, 27, 1000, 998)),
        ([-5, 27, 765, 998], r"in \[0, 1000\]", "bbox_clamped", (0, 27, 765, 998)),
        ([765, 27, 447, 998], "swapped", "bbox_clamped", (447, 27, 447, 998)),
        ([447, 998, 765, 27], "swapped", "bbox_clamped", (447, 27, 765, 27)),
        ([447.5, 27, 765, 998], "integers", "bbox_clamped", (447, 27, 765, 998)),
        ([447, 27, 765], "4 coordinates", "bbox_unusable", None),
        ([447, 27, 765, 998, 1], "4 coordinates", "bbox_unusable", None),
        ([447, float("nan"), 765, 998], "finite", "bbox_unusable", None),
        ([447, 27, float("inf"), 998], "finite", "bbox_unusable", None),
        ([447, "27", 765, 998], "numbers", "bbox_unusable", None),
        ({"x": 1}, "array", "bbox_unusable", None),
        (None, "array", "bbox_unusable", None),
    ],
)
def test_bad_boxes(box: object, rule: str, reason: str, repaired: object) -> None:
    data = jsonl(r2(0), with_frame_box(1, 6, 2, box), r2(2))
    with pytest.raises(CorruptRecordError, match=rule) as e:
        load_grounding_r2(io.BytesIO(data), name=NAME)
    err = e.value
    assert (err.path, err.line, err.sample_id) == (NAME, 2, sid(1))
    assert str(err).startswith("Invalid frame_objects[6][2].bbox_2d ")
    with pytest.raises(CorruptRecordError, match=rule):
        load_grounding_summary_table(io.BytesIO(data))
    report = SkipReport("skip")
    recs = load_grounding_r2(io.BytesIO(data), on_error="skip", report=report)
    assert [r.sample_id for r in recs] == [sid(0), sid(1), sid(2)]  # record kept
    assert recs[1].frame_objects[6][2] == GroundedObject(LABELS[2], repaired)  # type: ignore[arg-type]
    assert dict(report.counts) == {reason: 1}


def test_missing_bbox_key_is_a_structural_error() -> None:
    rec = r1(0, round1_objects=[{"label": lab} for lab in LABELS])
    with pytest.raises(CorruptRecordError, match=r"round1_objects\[0\].bbox_2d.*missing"):
        load_grounding_r1(io.BytesIO(jsonl(rec)))


def test_lenient_box_counts_are_exact_and_only_for_kept_records() -> None:
    bad = with_frame_box(1, 0, 0, [1, 2, 3, 2000])
    bad["frame_objects"][1][1]["bbox_2d"] = [float("nan")] * 4  # type: ignore[index]
    bad["frame_objects"][2][3]["bbox_2d"] = [9, 9, 1, 1]  # type: ignore[index]
    # Same box problems, but the record is dropped for an unknown label: boxes not counted.
    dropped = copy.deepcopy(bad)
    dropped["id"] = sid(2)
    dropped["frame_objects"][4][0]["label"] = "a dog"  # type: ignore[index]
    report = SkipReport("skip")
    table = load_grounding_summary_table(
        io.BytesIO(jsonl(r2(0), bad, dropped)), on_error="skip", report=report
    )
    assert table["sample_id"].tolist() == [sid(0), sid(1)]
    assert dict(report.counts) == {"bbox_clamped": 2, "bbox_unusable": 1, "label_mismatch": 1}
    assert table["num_empty_boxes"].tolist() == [0, 1]


# --------------------------------------------------------------------------- bad structure


@pytest.mark.parametrize(
    ("record", "field", "rule", "reason"),
    [
        (
            r1(1, round1_objects=objects(labels=[*LABELS[:3], "a dog"])),
            "round1_objects[3].label",
            "not one of round1_labels",
            "label_mismatch",
        ),
        (
            r2(1, frame_objects=[objects(labels=[LABELS[0], LABELS[0], *LABELS[2:]])]),
            "frame_objects[0][1].label",
            "listed twice",
            "label_mismatch",
        ),
        (
            r2(
                1,
                round1_labels=["person", "person"],
                round1_objects=objects(BOXES[:2], ["person", "person"]),
                frame_objects=[objects(BOXES[:1], ["person"])],
            ),
            "frame_objects[0]",
            "repeats a label",
            "label_mismatch",
        ),
        (r2(1, frames=12), "frame_objects", "at most 11 frames", "invalid_frames"),
        (r2(1, frame_objects={}), "frame_objects", "array", "invalid_field"),
        (r2(1, frame_objects=[[3]]), "frame_objects[0][0]", "object", "invalid_field"),
        (r2(1, edit_type="season"), "edit_type", "disagrees", "edit_type_mismatch"),
        (r2(1, round1_labels="person"), "round1_labels", "array", "invalid_field"),
        (r2(1, round1_labels=[1, 2, 3, 4]), "round1_labels[0]", "string", "invalid_field"),
        (r2(1, prompt=""), "prompt", "empty", "invalid_field"),
    ],
)
def test_bad_structure(record: dict[str, object], field: str, rule: str, reason: str) -> None:
    record.setdefault("frame_objects", [])
    data = jsonl(r2(0), record)
    with pytest.raises((CorruptRecordError, LayoutError), match=rule) as e:
        load_grounding_r2(io.BytesIO(data), name=NAME)
    assert str(e.value).startswith(f"Invalid {field} ")
    assert (e.value.line, e.value.sample_id) == (2, sid(1))
    report = SkipReport("skip")
    assert len(load_grounding_r2(io.BytesIO(data), on_error="skip", report=report)) == 1
    assert dict(report.counts) == {reason: 1}


def test_direct_construction() -> None:
    assert GroundedObject("x", [1, 2, 3, 4]).bbox == (1, 2, 3, 4)  # type: ignore[arg-type]
    assert GroundedObject("x", ()).bbox is None  # type: ignore[arg-type]
    with pytest.raises(CorruptRecordError, match="swapped"):
        GroundedObject("x", (5, 2, 3, 4))
    objs = (GroundedObject("a", None), GroundedObject("b", (0, 0, 1, 1)))
    ok = GroundingR2Record(sid(0), "p", "location", ("a", "b"), objs, (objs,))
    assert ok.num_frames == 1
    ove = GroundingR1Record(
        "Sparkle_openve3m_000001", "p", "openve3m_background_change", ("a", "b"), objs
    )  # type: ignore[arg-type]
    assert ove.edit_type == "openve3m"
    with pytest.raises(CorruptRecordError, match="labels must equal round1_labels"):
        GroundingR1Record(sid(0), "p", "location", ("b", "a"), objs)


# --------------------------------------------------------------------------- normalize_bbox


coordinate = st.one_of(
    st.integers(-3000, 3000),
    st.floats(-1e5, 1e5, allow_nan=False, allow_infinity=False),
)


@given(
    st.lists(coordinate, min_size=4, max_size=4),
    st.integers(1, 4096),
    st.integers(1, 4096),
)
@settings(max_examples=400, deadline=None)
def test_normalize_bbox_matches_card_exactly(bbox: list[float], w: int, h: int) -> None:
    assert normalize_bbox(bbox, w, h) == card_normalize_bbox(bbox, w, h)


def test_normalize_bbox_card_quirks_and_errors() -> None:
    # The card clamps to W-1 and collapses a swapped pair onto its smaller coordinate.
    assert normalize_bbox([0, 0, 1000, 1000], 1280, 720) == (0, 0, 1279, 719)
    assert normalize_bbox([800, 0, 200, 1000], 1000, 1000) == (200, 0, 200, 999)
    with pytest.raises(CorruptRecordError, match="finite"):
        normalize_bbox([math.nan, 0, 1, 1], 10, 10)
    with pytest.raises(CorruptRecordError, match="4 coordinates"):
        normalize_bbox([0, 0, 1], 10, 10)
    with pytest.raises(ValueError, match="video_width"):
        normalize_bbox([0, 0, 1, 1], 0, 10)


@given(
    st.lists(st.integers(-3000, 3000), min_size=4, max_size=4),
    st.integers(1, 4096),
    st.integers(1, 4096),
)
@settings(max_examples=150, deadline=None)
def test_lenient_repair_gives_the_card_pixels(bbox: list[int], w: int, h: int) -> None:
    rec = r1(0, round1_labels=["x"], round1_objects=[{"bbox_2d": bbox, "label": "x"}])
    (got,) = load_grounding_r1(io.BytesIO(jsonl(rec)), on_error="skip")
    box = got.round1_objects[0].bbox
    assert box is not None
    assert normalize_bbox(box, w, h) == card_normalize_bbox(bbox, w, h)


# --------------------------------------------------------------------------- frames, arrays


def test_grounding_frame_indices_card_case() -> None:
    assert grounding_frame_indices(11) == list(range(0, 81, 8))
    assert grounding_frame_indices(11, num_video_frames=81) == list(range(0, 81, 8))
    assert grounding_frame_indices(0) == []
    with pytest.raises(CorruptRecordError, match="past the end of a 69-frame video") as e:
        grounding_frame_indices(10, num_video_frames=69)
    assert "has 9 grounding frames" in str(e.value)
    with pytest.raises(ValueError, match="grounding_fps"):
        grounding_frame_indices(3, grounding_fps=0)
    with pytest.raises(ValueError, match="num_grounding_frames"):
        grounding_frame_indices(-1)


@given(
    st.integers(0, 200),
    st.one_of(st.integers(1, 240), st.sampled_from([23.976, 29.97, 59.94, 12.5])),
    st.integers(1, 30),
)
@settings(max_examples=200, deadline=None)
def test_grounding_frame_indices_property(n: int, video_fps: float, grounding_fps: int) -> None:
    got = grounding_frame_indices(n, video_fps=video_fps, grounding_fps=grounding_fps)
    assert len(got) == n
    step = Fraction(video_fps) / grounding_fps
    for i, idx in enumerate(got):
        # frame idx is the one showing time i / grounding_fps
        assert idx <= i * step < idx + 1
    assert got == sorted(got)
    if isinstance(video_fps, int) and video_fps % grounding_fps == 0:
        assert got == [i * (video_fps // grounding_fps) for i in range(n)]
    if got:
        kw = {"video_fps": video_fps, "grounding_fps": grounding_fps}
        assert grounding_frame_indices(n, num_video_frames=got[-1] + 1, **kw) == got
        with pytest.raises(CorruptRecordError, match="past the end"):
            grounding_frame_indices(n, num_video_frames=got[-1], **kw)


def test_boxes_array_r2_and_r1() -> None:
    rec = with_frame_box(0, 3, 1, [])
    (got,) = load_grounding_r2(io.BytesIO(jsonl(rec)))
    arr = boxes_array(got, 1280, 720, num_video_frames=81)
    assert arr.boxes.shape == (11, 4, 4)
    assert arr.boxes.dtype == np.int32
    assert arr.valid.shape == (11, 4)
    assert arr.valid.sum() == 43
    assert not arr.valid[3, 1]
    assert arr.boxes[3, 1].tolist() == [0, 0, 0, 0]
    assert arr.labels == tuple(LABELS)
    assert arr.frame_indices.tolist() == list(range(0, 81, 8))
    assert arr.frame_indices.dtype == np.int64
    assert arr.boxes[0, 0].tolist() == list(card_normalize_bbox(BOXES[0], 1280, 720))
    assert repr(arr) == (
        "BoxesArray(boxes=int32[11, 4, 4], valid=bool[11, 4], labels=4, frame_indices=int64[11])"
    )
    (one,) = load_grounding_r1(io.BytesIO(jsonl(r1(0))))
    arr1 = boxes_array(one, 832, 480)
    assert (arr1.boxes.shape, arr1.valid.shape, arr1.frame_indices.tolist()) == ((4, 4), (4,), [0])
    assert arr1.boxes[2].tolist() == list(card_normalize_bbox(BOXES[2], 832, 480))
    with pytest.raises(CorruptRecordError, match="past the end"):
        boxes_array(got, 1280, 720, num_video_frames=60)


def test_summary_table() -> None:
    recs = [r2(0), with_frame_box(1, 0, 0, []), r2(2, frames=3)]
    empty = r2(3, round1_labels=[], round1_objects=[], frame_objects=[[], []])
    table = load_grounding_summary_table(io.BytesIO(jsonl(*recs, empty)))
    assert table.drop(columns=["max_box_area", "mean_box_area"]).to_dict("list") == {
        "sample_id": [sid(0), sid(1), sid(2), sid(3)],
        "num_labels": [4, 4, 4, 0],
        "num_frames": [11, 11, 3, 2],
        "num_empty_boxes": [0, 1, 0, 0],
        "empty_box_share": [0.0, 1 / 44, 0.0, 1.0],
    }
    assert _areas(table) == [  # the largest box is BOXES[0]; sid(1) lost one of its 44
        [0.308778, 0.10609575],
        [0.308778, (11 * AREA_SUM - 308778) / (43 * 1e6)],
        [0.308778, 0.10609575],
        [None, None],
    ]
    assert list(table.dtypes.astype(str)) == [
        *("str", "int64", "int64", "int64"),
        *("float64", "float64", "float64"),
    ]
    r1_table = load_grounding_summary_table(
        io.BytesIO(jsonl(r1(0))), record="foreground_grounding_r1"
    )
    assert r1_table[["num_labels", "num_frames", "num_empty_boxes"]].values.tolist() == [[4, 1, 0]]
    assert r1_table[["max_box_area", "mean_box_area"]].values.tolist() == [[0.308778, 0.10609575]]


AREA_SUM = 318 * 971 + 100 * 180 + 125 * 402 + 205 * 231  # the areas of BOXES, [0, 1000] units


def _areas(table: object) -> list[list[float | None]]:
    """``max_box_area`` and ``mean_box_area`` per row, NaN as None (comparable with ==)."""
    import pandas as pd

    assert isinstance(table, pd.DataFrame)
    cols = table[["max_box_area", "mean_box_area"]]
    return [[None if math.isnan(v) else v for v in row] for row in cols.values.tolist()]


def _record_areas(recs: Sequence[GroundingR1Record]) -> list[list[float | None]]:
    """The same from the record readers: the boxes of the counted slots, summed in numpy."""
    out: list[list[float | None]] = []
    for r in recs:
        slots = r.frame_objects if isinstance(r, GroundingR2Record) else (r.round1_objects,)
        boxes = np.array([o.bbox for f in slots for o in f if o.bbox is not None], dtype=np.int64)
        if not len(boxes):
            out.append([None, None])
            continue
        area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        out.append([int(area.max()) / 1e6, int(area.sum()) / (len(area) * 1e6)])
    return out


def test_summary_box_areas() -> None:
    def pair(a: list[int], b: list[int]) -> list[object]:
        return objects([a, b], LABELS[:2])

    def rec(i: int, round1: list[object], frames: list[list[object]]) -> dict[str, object]:
        return r2(i, round1_labels=LABELS[:2], round1_objects=round1, frame_objects=frames)

    two, none = pair([0, 0, 500, 500], [100, 100, 200, 300]), pair([], [])
    recs = [
        rec(0, none, [two, none]),
        rec(1, two, [none, none, none]),
        rec(2, two, []),  # no frame: no slot
        rec(3, none, [pair([], [0, 0, 1000, 1000])]),
        rec(4, two, [pair([7, 7, 7, 900], [])]),
    ]
    data = jsonl(*recs)
    table = load_grounding_summary_table(io.BytesIO(data))
    assert _areas(table) == [
        [0.25, (250_000 + 20_000) / 2e6],
        [None, None],
        [None, None],
        [1.0, 1.0],
        [0.0, 0.0],  # a degenerate box is localized, with area 0
    ]
    assert table["mean_box_area"][0] == pytest.approx((0.25 + 0.02) / 2)
    assert _areas(table) == _record_areas(load_grounding_r2(io.BytesIO(data)))
    r1_table = load_grounding_summary_table(io.BytesIO(data), record="foreground_grounding_r1")
    assert _areas(r1_table) == [
        [None, None],
        [0.25, 0.135],
        [0.25, 0.135],
        [None, None],
        [0.25, 0.135],
    ]
    assert _areas(r1_table) == _record_areas(load_grounding_r1(io.BytesIO(data)))


def test_summary_box_areas_of_repaired_boxes() -> None:
    """Boxes as the lenient readers keep them: clamped, or not localized when unusable."""
    clamped = with_frame_box(1, 4, 0, [-500, 0, 2000, 1000])  # -> (0, 0, 1000, 1000)
    clamped["round1_objects"][2]["bbox_2d"] = [765, 27, 447, 998]  # type: ignore[index]
    unusable = with_frame_box(2, 0, 0, [1, 2, 3])  # the largest box of frame 0, dropped
    data = jsonl(r2(0), clamped, unusable, r2(3))
    report = SkipReport("skip")
    table = load_grounding_summary_table(io.BytesIO(data), report=report)
    assert _areas(table) == _record_areas(load_grounding_r2(io.BytesIO(data), on_error="skip"))
    assert report.counts["bbox_clamped"] == 2  # r2 checks round 1 too
    report = SkipReport("skip")
    table = load_grounding_summary_table(
        io.BytesIO(data), record="foreground_grounding_r1", report=report
    )
    assert _areas(table) == _record_areas(load_grounding_r1(io.BytesIO(data), on_error="skip"))
    assert report.counts["bbox_clamped"] == 1
    r2_table = load_grounding_summary_table(io.BytesIO(data), on_error="skip")
    assert r2_table["max_box_area"].tolist() == [0.308778, 1.0, 0.308778, 0.308778]
    expected = (11 * AREA_SUM - 308778 + 1_000_000) / (44 * 1e6)
    assert r2_table["mean_box_area"][1] == expected
    assert r2_table["mean_box_area"][2] == (11 * AREA_SUM - 308778) / (43 * 1e6)
    r1_table = load_grounding_summary_table(
        io.BytesIO(data), record="foreground_grounding_r1", on_error="skip"
    )
    swapped = (AREA_SUM - 125 * 402) / 4e6  # (447, 27, 447, 998): width 0, area 0
    assert r1_table["mean_box_area"].tolist()[1] == swapped


def test_iter_is_lazy() -> None:
    it = iter_grounding_r2(io.BytesIO(jsonl(r2(0)) + b"{broken\n"))
    assert next(it).sample_id == sid(0)
    with pytest.raises(CorruptRecordError, match="line 2"):
        next(it)
