"""EditScore readers: records and fast tables, one set of rules; bad inputs built here."""

from __future__ import annotations

import io
import json
import math
import pathlib

import numpy as np
import pytest

from sparkle_data.errors import CorruptRecordError, JoinError
from sparkle_data.policy import SkipReport
from sparkle_data.readers.scores import (
    FrameScore,
    ImageEditScore,
    VideoEditScore,
    iter_image_scores,
    load_image_score_table,
    load_image_scores,
    load_video_score_table,
    load_video_scores,
)

NAME = "intermediate_data/location/edited_video_score.jsonl"


def sid(i: int) -> str:
    return f"Sparkle_location_{i:06d}"


def image(i: int, **es: object) -> dict[str, object]:
    editscore: dict[str, object] = {
        "prompt_following": 9.7,
        "consistency": 8.8,
        "perceptual_quality": 8.5,
        "overall": 8.62887857991077,
        "SC_reasoning": "follows the instruction",
        "PQ_reasoning": "realistic",
    }
    editscore.update(es)
    return {"id": sid(i), "prompt": "Shift the background.", "editscore": editscore}


def frame(o: object = 8.7, **kw: object) -> dict[str, object]:
    out: dict[str, object] = {
        "SC_score": 9.0,
        "PQ_score": 8.5,
        "O_score": o,
        "SC_score_reasoning": "ok",
        "PQ_score_reasoning": "ok",
        "SC_raw_output": '{"reasoning": "...", "score": [9]}',
        "PQ_raw_output": '{"reasoning": "...", "score": [8, 9]}',
    }
    out.update(kw)
    return out


def video(i: int, o: tuple[object, ...] = (8.7, 8.4, 8.1, 8.3), **kw: object) -> dict[str, object]:
    rec: dict[str, object] = {
        "id": sid(i),
        "prompt": "Shift the background.",
        "frame_indices": [1, 26, 51, 76][: len(o)],
        "editscore": [frame(x) for x in o],
    }
    rec.update(kw)
    return rec


def jsonl(*objs: object) -> bytes:
    # json.dumps writes NaN / Infinity literals, exactly as the real pipeline would have.
    return b"".join(json.dumps(o).encode() + b"\n" for o in objs)


# --------------------------------------------------------------------------- image scores


def test_image_scores_valid(tmp_path: pathlib.Path) -> None:
    p = tmp_path / "edited_frame0_score.jsonl"
    p.write_bytes(jsonl(image(0), image(1, overall=8, consistency=10)))
    recs = load_image_scores(p, edit_type="location")
    assert recs[0] == ImageEditScore(
        sid(0),
        "Shift the background.",
        9.7,
        8.8,
        8.5,
        8.62887857991077,
        "follows the instruction",
        "realistic",
    )
    assert (recs[1].overall, type(recs[1].overall)) == (8.0, float)
    table = load_image_score_table(p)
    assert list(table.columns) == [
        "sample_id",
        "prompt_following",
        "consistency",
        "perceptual_quality",
        "overall",
    ]
    assert table["sample_id"].tolist() == [sid(0), sid(1)]
    assert table["overall"].tolist() == [r.overall for r in recs]
    assert all(table[c].dtype == np.float64 for c in table.columns[1:])
    text = load_image_score_table(p, with_text=True)
    assert text["sc_reasoning"].tolist() == ["follows the instruction"] * 2
    assert text["prompt"].tolist() == ["Shift the background."] * 2


@pytest.mark.parametrize(
    ("value", "rule", "reason"),
    [
        (float("nan"), "must be finite", "non_finite_score"),
        (float("inf"), "must be finite", "non_finite_score"),
        (float("-inf"), "must be finite", "non_finite_score"),
        (10.5, r"must be in \[0, 10\]", "invalid_score"),
        (-0.1, r"must be in \[0, 10\]", "invalid_score"),
        (2**70, r"must be in \[0, 10\]", "invalid_score"),  # > 64 bits: orjson fails, json not
        ("8.5", "must be a number", "invalid_score"),
        (True, "must be a number", "invalid_score"),
        (None, "must be a number", "invalid_score"),
    ],
)
def test_image_score_bad_values(value: object, rule: str, reason: str) -> None:
    data = jsonl(image(0), image(1, overall=value), image(2))
    for load in (load_image_scores, load_image_score_table):
        with pytest.raises(CorruptRecordError, match=rule) as e:
            load(io.BytesIO(data), name=NAME)
        err = e.value
        assert (err.path, err.line, err.sample_id) == (NAME, 2, sid(1))
        assert str(err).startswith("Invalid editscore.overall ")
    report = SkipReport("skip")
    table = load_image_score_table(io.BytesIO(data), on_error="skip", report=report)
    assert table["sample_id"].tolist() == [sid(0), sid(2)]
    assert dict(report.counts) == {reason: 1}


def test_image_score_missing_and_malformed() -> None:
    no_es = {"id": sid(1), "prompt": "p"}
    es_list = {"id": sid(2), "prompt": "p", "editscore": []}
    missing = image(3)
    del missing["editscore"]["overall"]  # type: ignore[attr-defined]
    no_text = image(4, SC_reasoning=None)
    data = jsonl(image(0), no_es, es_list, missing, no_text) + b'{"id": "Sparkle_loc'
    with pytest.raises(CorruptRecordError, match=r"editscore.*line 2.*required field is missing"):
        load_image_scores(io.BytesIO(data))
    report = SkipReport("skip")
    rows = load_image_scores(io.BytesIO(data), on_error="skip", report=report)
    assert [r.sample_id for r in rows] == [sid(0)]
    assert dict(report.counts) == {"invalid_field": 3, "invalid_score": 1, "truncated_line": 1}


def test_image_scores_duplicates_and_lazy_iteration() -> None:
    data = jsonl(image(0), image(0))
    it = iter_image_scores(io.BytesIO(data), on_error="skip")
    assert next(it).sample_id == sid(0)
    with pytest.raises(JoinError):
        next(it)


def test_image_score_direct_construction_rejects_nan() -> None:
    with pytest.raises(CorruptRecordError, match=r"overall nan.*finite"):
        ImageEditScore(sid(0), "p", 9, 9, 9, math.nan, "a", "b")


def test_empty_files_give_empty_tables() -> None:
    image_table = load_image_score_table(io.BytesIO(b""))
    assert image_table.shape == (0, 5)
    video_table = load_video_score_table(io.BytesIO(b"\n"))
    assert video_table.shape == (0, 21)
    assert video_table["frame_index_0"].dtype == np.int64


# --------------------------------------------------------------------------- video scores


def test_video_scores_valid_and_table_matches_records() -> None:
    data = jsonl(video(0), video(1, (10, 0, 7.25, 9.999)), video(2, (0.1, 0.2, 0.3, 0.7)))
    recs = load_video_scores(io.BytesIO(data))
    r = recs[0]
    assert r.frame_indices == (1, 26, 51, 76)
    assert r.o_scores == (8.7, 8.4, 8.1, 8.3)
    assert r.min_o_score == 8.1
    assert r.mean_o_score == (8.7 + 8.4 + 8.1 + 8.3) / 4
    assert r.frames[0].sc_raw_output.startswith('{"reasoning"')
    table = load_video_score_table(io.BytesIO(data))
    assert table["sample_id"].tolist() == [x.sample_id for x in recs]
    # Bit-for-bit the same aggregates as the record properties.
    assert table["mean_o_score"].tolist() == [x.mean_o_score for x in recs]
    assert table["min_o_score"].tolist() == [x.min_o_score for x in recs]
    assert table["mean_sc_score"].tolist() == [x.mean_sc_score for x in recs]
    assert table["mean_pq_score"].tolist() == [x.mean_pq_score for x in recs]
    for i in range(4):
        assert table[f"o_score_{i}"].tolist() == [x.frames[i].o_score for x in recs]
        assert table[f"frame_index_{i}"].tolist() == [x.frame_indices[i] for x in recs]
    assert table.loc[0, "sc_score_0"] == 9.0
    assert table.loc[0, "pq_score_3"] == 8.5


@pytest.mark.parametrize(
    ("record", "field", "rule", "reason"),
    [
        (video(1, (8, 8, float("nan"), 8)), "editscore[2].O_score", "finite", "non_finite_score"),
        (video(1, (8, 8, 8, 11)), "editscore[3].O_score", r"\[0, 10\]", "invalid_score"),
        (
            video(1, editscore=[frame(), frame(SC_score=-1), frame(), frame()]),
            "editscore[1].SC_score",
            r"\[0, 10\]",
            "invalid_score",
        ),
        (
            video(1, editscore=[frame(), frame(), frame(PQ_score=float("inf")), frame()]),
            "editscore[2].PQ_score",
            "finite",
            "non_finite_score",
        ),
        (video(1, frame_indices=[1, 26, 51]), "frame_indices", "editscore has 4", "invalid_frames"),
        (video(1, (8, 8, 8)), "frame_indices", "expected 4", "invalid_frames"),
        (video(1, frame_indices=[1, 51, 26, 76]), "frame_indices", "increasing", "invalid_frames"),
        (video(1, frame_indices=[1, 1, 26, 76]), "frame_indices", "increasing", "invalid_frames"),
        (video(1, frame_indices=[-1, 1, 2, 3]), "frame_indices", "increasing", "invalid_frames"),
        (video(1, frame_indices=[1, 26, 51, 81]), "frame_indices", r"\[0, 81\)", "invalid_frames"),
        (video(1, frame_indices=[1, 2.0, 3, 4]), "frame_indices", "integers", "invalid_frames"),
        (video(1, frame_indices=[True, 2, 3, 4]), "frame_indices", "integers", "invalid_frames"),
        (video(1, frame_indices=[]), "frame_indices", "empty", "invalid_frames"),
        (video(1, editscore={}), "editscore", "array", "invalid_field"),
        (
            video(1, editscore=[frame(), frame(), 3, frame()]),
            "editscore[2]",
            "object",
            "invalid_field",
        ),
        (
            video(1, editscore=[frame(), frame(), frame(), frame(PQ_raw_output=None)]),
            "editscore[3].PQ_raw_output",
            "string",
            "invalid_field",
        ),
    ],
)
def test_video_bad_records(record: dict[str, object], field: str, rule: str, reason: str) -> None:
    data = jsonl(video(0), record, video(2))
    for load in (load_video_scores, load_video_score_table):
        with pytest.raises(CorruptRecordError, match=rule) as e:
            load(io.BytesIO(data), name=NAME)
        err = e.value
        assert (err.path, err.line, err.sample_id) == (NAME, 2, sid(1))
        assert str(err).startswith(f"Invalid {field} ")
    report = SkipReport("skip")
    recs = load_video_scores(io.BytesIO(data), on_error="skip", report=report)
    assert [r.sample_id for r in recs] == [sid(0), sid(2)]
    assert dict(report.counts) == {reason: 1}


def test_video_other_frame_counts() -> None:
    data = jsonl(video(0, (8, 9, 9)), video(1, (8, 9, 9)))
    recs = load_video_scores(io.BytesIO(data), num_frames=None)
    assert [len(r.frames) for r in recs] == [3, 3]
    table = load_video_score_table(io.BytesIO(data), num_frames=3)
    assert "o_score_3" not in table.columns
    assert table["mean_o_score"].tolist() == [r.mean_o_score for r in recs]
    with pytest.raises(ValueError, match="num_frames"):
        load_video_score_table(io.BytesIO(data), num_frames=0)


def test_lenient_counts_are_exact_across_many_lines() -> None:
    records = []
    expected = []
    for i in range(60):
        if i % 7 == 3:
            records.append(video(i, (8, 8, float("nan"), 8)))
        elif i % 11 == 5:
            records.append(video(i, frame_indices=[1, 2]))
        else:
            records.append(video(i))
            expected.append(sid(i))
    data = jsonl(*records)
    report = SkipReport("skip")
    table = load_video_score_table(io.BytesIO(data), on_error="skip", report=report)
    assert table["sample_id"].tolist() == expected
    assert dict(report.counts) == {"non_finite_score": 9, "invalid_frames": 4}  # 38 is NaN
    assert report.total + len(expected) == 60


def test_video_score_direct_construction() -> None:
    f = FrameScore(9, 8, 8.5, "a", "b", "c", "d")
    rec = VideoEditScore(sid(0), "p", [1, 26], [f, f])  # type: ignore[arg-type]
    assert rec.frame_indices == (1, 26)
    assert isinstance(rec.frames, tuple)
    with pytest.raises(CorruptRecordError, match="editscore has 2"):
        VideoEditScore(sid(0), "p", (1,), (f, f))
    with pytest.raises(CorruptRecordError, match="FrameScore"):
        VideoEditScore(sid(0), "p", (1,), ({"O_score": 9},))  # type: ignore[arg-type]
    with pytest.raises(CorruptRecordError, match="finite"):
        FrameScore(9, 8, math.inf, "a", "b", "c", "d")
