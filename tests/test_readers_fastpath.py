# ruff: noqa: S311
# (seeded random.Random: reproducible test data, not cryptography)
"""The fast paths of the readers against their line-by-line paths (one rule set).

Every table loader vouches for the common case in bulk (whole records checked at once, or, for
the grounding summaries, lines parsed and checked by pyarrow) and hands anything else to the
record-by-record path. These tests build valid records, mutate them at random (wrong types,
out-of-range and swapped boxes, integral floats, NaN, bools, missing keys, reordered labels,
duplicate ids, broken JSON, blank lines, BOMs...) and check that the table loaders give
exactly what the record readers give: the same rows, or the same error (type, message, file,
line, sample id), and the same skip counts under the lenient policies.
"""

from __future__ import annotations

import copy
import io
import json
import math
import random
import re
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sparkle_data.catalog.table as catalog_table
from sparkle_data import layout as L  # noqa: N812
from sparkle_data.catalog import build_catalog
from sparkle_data.errors import LayoutError
from sparkle_data.policy import SkipReport
from sparkle_data.readers import _grounding, _grounding_bulk, _lines, grounding_summary
from sparkle_data.readers import grounding as G  # noqa: N812
from sparkle_data.readers import prompts as P  # noqa: N812
from sparkle_data.readers import scores as S  # noqa: N812
from sparkle_data.readers._fields import NOWHERE
from sparkle_data.testing import SampleTreeSummary

# --------------------------------------------------------------------------- sample ids

_ID_FULLMATCH = re.compile(L._ID_RE.pattern)


def _regex_parse(text: str) -> tuple[str, int] | None:
    m = _ID_FULLMATCH.fullmatch(text)
    return None if m is None else (m.group(1), int(m.group(2)))


near_ids = st.builds(
    lambda et, digits, pre, post: f"{pre}Sparkle_{et}_{digits}{post}",
    st.sampled_from([*L.EDIT_TYPES, "beach", "", "Location", "openve3m_background_change"]),
    st.text(alphabet="0123456789a٣²", min_size=0, max_size=8),
    st.sampled_from(["", " ", "x", "\n"]),
    st.sampled_from(["", " ", "\n", ".mp4", "_"]),
)


@given(st.one_of(st.text(max_size=30), near_ids))
@settings(max_examples=500, deadline=None)
def test_parse_sample_id_is_the_regex(text: str) -> None:
    expected = _regex_parse(text)
    if expected is None:
        with pytest.raises(LayoutError, match="sample id"):
            L.parse_sample_id(text)
    else:
        sid = L.parse_sample_id(text)
        assert (sid.edit_type, sid.index) == expected
        assert sid == L.SampleId(*expected)
        assert hash(sid) == hash(L.SampleId(*expected))
        assert str(sid) == text


# --------------------------------------------------------------------------- random records

NAME = "intermediate_data/location/x.jsonl"
LABELS = ["woman in brown hat", "clasped hands", "striped shirt", "brown hat"]


def _box(rng: random.Random) -> list[int]:
    x1, y1 = rng.randrange(0, 900), rng.randrange(0, 900)
    return [x1, y1, rng.randrange(x1, 1001), rng.randrange(y1, 1001)]


def _objects(rng: random.Random, labels: list[str], empty: float) -> list[dict[str, object]]:
    return [{"bbox_2d": [] if rng.random() < empty else _box(rng), "label": lab} for lab in labels]


def grounding(i: int, rng: random.Random, frames: bool) -> dict[str, object]:
    labels = LABELS[: rng.randrange(1, 5)]
    empty = rng.choice([0.1, 0.1, 0.1, 0.9, 1.0])  # some records with no box at all
    rec: dict[str, object] = {
        "id": f"Sparkle_location_{i:06d}",
        "prompt": "Shift the background to a rooftop.",
        "edit_type": "location",
        "round1_labels": list(labels),
        "round1_objects": _objects(rng, labels, empty),
    }
    if frames:
        rec["frame_objects"] = [_objects(rng, labels, empty) for _ in range(rng.randrange(0, 12))]
    return rec


def image(i: int, rng: random.Random) -> dict[str, object]:
    es = {
        k: round(rng.uniform(0, 10), 3)
        for k in ("prompt_following", "consistency", "perceptual_quality", "overall")
    }
    return {
        "id": f"Sparkle_location_{i:06d}",
        "prompt": "Shift the background.",
        "editscore": {**es, "SC_reasoning": "ok", "PQ_reasoning": "fine"},
    }


def video(i: int, rng: random.Random) -> dict[str, object]:
    frames = [
        {
            "SC_score": round(rng.uniform(0, 10), 2),
            "PQ_score": round(rng.uniform(0, 10), 2),
            "O_score": round(rng.uniform(0, 10), 2),
            "SC_score_reasoning": "a",
            "PQ_score_reasoning": "b",
            "SC_raw_output": "{}",
            "PQ_raw_output": "{}",
        }
        for _ in range(4)
    ]
    return {
        "id": f"Sparkle_location_{i:06d}",
        "prompt": "Shift the background.",
        "frame_indices": [1, 26, 51, 76],
        "editscore": frames,
    }


def metadata(i: int, rng: random.Random) -> dict[str, object]:
    et = rng.choice(["location", "openve3m"])
    md: dict[str, object] = {
        "edit_type": "openve3m_background_change" if et == "openve3m" else et,
        "original_scene": "A street.",
    }
    if et != "openve3m" or rng.random() < 0.3:
        md["chosen_keyword"] = "urban: rooftop overlooking skyline"
    return {"id": f"Sparkle_{et}_{i:06d}", "prompt": "Replace the background.", "metadata": md}


ODD: list[object] = [
    None,
    True,
    False,
    0,
    -1,
    1,
    1000,
    1001,
    447.0,
    447.5,
    -0.0,
    float("nan"),
    float("inf"),
    2**70,
    "",
    " ",
    "\x1c",
    "x",
    [],
    [1, 2, 3, 4],
    {},
    10,
    10.5,
    "Sparkle_location_000001",
    "season",
    "openve3m_background_change",
    "no separator",
    "a: b",
]


def _paths(obj: object, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if prefix:
        yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for j, v in enumerate(obj):
            yield from _paths(v, (*prefix, j))


def mutate(obj: dict[str, object], rng: random.Random) -> dict[str, object]:
    obj = copy.deepcopy(obj)
    paths = list(_paths(obj))
    for _ in range(rng.choice([1, 1, 2])):
        path = rng.choice(paths)
        parent: Any = obj
        try:
            for p in path[:-1]:
                parent = parent[p]
            key, value = path[-1], parent[path[-1]]
        except (KeyError, IndexError, TypeError):
            continue
        r = rng.random()
        if r < 0.4:
            parent[key] = rng.choice(ODD)
        elif r < 0.5:
            del parent[key]
        elif r < 0.6 and isinstance(value, list) and len(value) > 1:
            value.reverse()
        elif r < 0.7 and isinstance(value, list) and value:
            value.append(copy.deepcopy(value[0]))
        elif r < 0.8 and isinstance(value, list) and len(value) == 4:
            parent[key] = [value[2], value[1], value[0], value[3]]  # maybe swapped corners
        elif r < 0.9 and isinstance(parent, dict):
            parent["extra"] = rng.choice(ODD)
        elif isinstance(value, str):
            parent[key] = value + " "
    return obj


def jsonl(rng: random.Random, make: Callable[[int, random.Random], dict[str, object]]) -> bytes:
    lines = []
    odd = rng.choice([0.0, 0.02, 0.15])  # some files clean, some with a few bad lines
    for i in range(rng.randrange(0, 40)):
        rec = make(i, rng)
        if rng.random() < odd:
            rec = mutate(rec, rng)
        line = json.dumps(rec).encode()
        r = rng.random() / max(odd, 0.01) * 0.15
        if r < 0.02:
            line = line[: len(line) // 2]
        elif r < 0.03:
            line = b"\xef\xbb\xbf" + line
        elif r < 0.04:
            line = line[:5] + b"\xff" + line[5:]
        elif r < 0.05:
            line = line + b"\r"
        elif r < 0.06:
            line = b"  "
        lines.append(line)
        if rng.random() < odd / 15:
            lines.append(line)  # a duplicate id
    data = b"\n".join(lines)
    if rng.random() < 0.8:
        data += b"\n"
    if rng.random() < 0.1:
        data = b"\xef\xbb\xbf" + data
    return data


def outcome(load: Callable[..., Any], data: bytes, policy: str) -> tuple[object, ...]:
    """What ``load`` gives for ``data``: its value, or the error; the report, the warnings."""
    report = SkipReport(policy)  # type: ignore[arg-type]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            value, error = load(io.BytesIO(data), report), None
        except Exception as e:
            info = (
                getattr(e, "path", None),
                getattr(e, "line", None),
                getattr(e, "sample_id", None),
            )
            value, error = None, (type(e).__name__, str(e), info)
    return (
        value,
        error,
        dict(report.counts),
        [str(x) for x in report.examples],
        [str(w.message) for w in caught],
    )


def assert_same(fast: tuple[object, ...], slow: tuple[object, ...]) -> None:
    assert fast[1:] == slow[1:]
    if isinstance(fast[0], pd.DataFrame) or isinstance(slow[0], pd.DataFrame):
        assert isinstance(fast[0], pd.DataFrame)
        assert isinstance(slow[0], pd.DataFrame)
        pd.testing.assert_frame_equal(fast[0], slow[0], check_exact=True)
    else:
        assert fast[0] == slow[0]


POLICIES = ("error", "skip", "warn")


# --------------------------------------------------------------------------- grounding


def _summary_from_records(
    records: Sequence[G.GroundingR1Record], with_frames: bool
) -> pd.DataFrame:
    rows = []
    for r in records:
        slots = r.frame_objects if with_frames else (r.round1_objects,)  # type: ignore[attr-defined]
        empty = sum(o.bbox is None for f in slots for o in f)
        boxes = [o.bbox for f in slots for o in f if o.bbox is not None]
        areas = [(x2 - x1) * (y2 - y1) for x1, y1, x2, y2 in boxes]
        largest = max(areas) / 1_000_000 if areas else math.nan
        mean = sum(areas) / (len(areas) * 1_000_000) if areas else math.nan
        rows.append((r.sample_id, len(r.round1_labels), len(slots), empty, largest, mean))
    ids = [row[0] for row in rows]
    table = pd.DataFrame(
        {
            "sample_id": pd.array(ids, dtype="str"),
            "num_labels": pd.array([row[1] for row in rows], dtype="int64"),
            "num_frames": pd.array([row[2] for row in rows], dtype="int64"),
            "num_empty_boxes": pd.array([row[3] for row in rows], dtype="int64"),
        }
    )
    total = table["num_labels"] * table["num_frames"]
    share = (table["num_empty_boxes"] / total.where(total > 0)).fillna(1.0)
    table["empty_box_share"] = share.astype("float64")
    table["max_box_area"] = np.array([row[4] for row in rows], dtype=np.float64)
    table["mean_box_area"] = np.array([row[5] for row in rows], dtype=np.float64)
    for c in ("num_labels", "num_frames", "num_empty_boxes"):
        table[c] = table[c].to_numpy()
    out: pd.DataFrame = table
    return out


@pytest.fixture(params=["whole", "segments", "blocks"])
def bulk_mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Whole-file parses; in small segments (a bad line fails its segment, retried in small
    groups); or small blocks of lines and retries, with the whole-file parse refused."""
    if request.param != "whole":
        monkeypatch.setattr(grounding_summary, "_BULK_RETRY_LINES", (5, 2))
    if request.param == "segments":
        monkeypatch.setattr(grounding_summary, "_SEGMENT_BYTES", 3000)
    if request.param == "blocks":
        monkeypatch.setattr(grounding_summary, "_parse_whole", lambda *a: None)
        monkeypatch.setattr(grounding_summary, "_BULK_BYTES", 2000)
        monkeypatch.setattr(_lines, "CHUNK_SIZE", 333)
    return str(request.param)


@pytest.mark.parametrize("with_frames", [False, True])
def test_grounding_summary_is_the_record_path(bulk_mode: str, with_frames: bool) -> None:
    rng = random.Random(1234 + with_frames)
    record: Literal["foreground_grounding_r1", "foreground_grounding_r2"] = (
        "foreground_grounding_r2" if with_frames else "foreground_grounding_r1"
    )
    read = G.load_grounding_r2 if with_frames else G.load_grounding_r1

    def fast(src: io.BytesIO, report: SkipReport) -> pd.DataFrame:
        return G.load_grounding_summary_table(
            src, record=record, edit_type="location", name=NAME, report=report
        )

    def slow(src: io.BytesIO, report: SkipReport) -> pd.DataFrame:
        recs = read(src, edit_type="location", name=NAME, report=report)
        return _summary_from_records(list(recs), with_frames)

    vouched = 0
    for _ in range(60):
        data = jsonl(rng, lambda i, r: grounding(i, r, with_frames))
        prepared = G.prepare_summary(
            io.BytesIO(data), with_frames=with_frames, name=NAME, edit_type="location"
        )
        vouched += sum(e[3] is not None for e in prepared.entries)
        for policy in POLICIES:
            assert_same(outcome(fast, data, policy), outcome(slow, data, policy))
    assert vouched > 300  # the bulk path did the work


def _same_row(a: tuple[object, ...] | None, b: tuple[object, ...] | None) -> bool:
    """Summary rows equal, NaN equal to NaN (the box areas of a record with no box)."""
    if a is None or b is None:
        return a is b
    return len(a) == len(b) and all(
        x == y
        or (isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y))
        for x, y in zip(a, b, strict=True)
    )


@pytest.mark.parametrize("with_frames", [False, True])
def test_grounding_bulk_rows_are_the_line_rows(with_frames: bool) -> None:
    """Each line the bulk check vouches for has the summary (box areas included, bit for bit)
    the line-by-line path gives it; the lines it leaves are the ones the other tests cover."""
    rng = random.Random(77 + with_frames)
    convert = _grounding.converter(with_frames)
    lines = [json.dumps(grounding(i, rng, with_frames)).encode() for i in range(400)]
    rows = grounding_summary._vouch_rows(lines, with_frames, "location", False, ())
    assert all(row is not None for row in rows)
    nan_rows = 0
    for line, row in zip(lines, rows, strict=True):
        obj = json.loads(line)
        values = convert(obj, L.parse_sample_id(obj["id"]), NOWHERE)
        assert _same_row(row, _grounding.summary_of(values)), line
        assert row is not None
        areas = row[4:]
        assert all(0.0 <= a <= 1.0 for a in areas if not math.isnan(a))
        nan_rows += math.isnan(row[4])
    assert 10 < nan_rows < 200  # records with no box, and many with boxes


def test_grounding_box_areas_in_any_row_order() -> None:
    """The per-row max does not rely on the boxes being grouped by row (as they are built)."""
    row = np.array([2, 0, 2, 0, 3], dtype=np.int64)
    area = np.array([5, 7, 9, 1, 0], dtype=np.int64)
    grouped = np.argsort(row, kind="stable")
    for order in (np.arange(5), grouped):
        largest, mean = _grounding_bulk.box_areas(row[order], area[order], 5)
        np.testing.assert_array_equal(largest, [7e-6, np.nan, 9e-6, 0.0, np.nan])  # NaN == NaN
        np.testing.assert_array_equal(mean, [4e-6, np.nan, 7e-6, 0.0, np.nan])


def test_grounding_ahead_on_a_thread_is_the_same() -> None:
    rng = random.Random(7)
    for _ in range(20):
        data = jsonl(rng, lambda i, r: grounding(i, r, True))
        parsed = G.parse_ahead(io.BytesIO(data), with_frames=True, use_threads=False)
        ahead = G.prepare_parsed(parsed, name=NAME, edit_type="location")
        here = G.prepare_summary(io.BytesIO(data), with_frames=True, name=NAME, edit_type=None)
        assert [e[:3] for e in ahead.entries] == [e[:3] for e in here.entries]


def test_grounding_reading_errors_come_after_the_lines_before_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_lines, "MAX_LINE_BYTES", 4000)
    monkeypatch.setattr(_lines, "CHUNK_SIZE", 1000)
    rng = random.Random(3)
    good = [json.dumps(grounding(i, rng, True)).encode() for i in range(3)]
    bad = json.dumps(mutate(grounding(3, rng, True), rng)).encode()
    data = b"\n".join([good[0], bad, b"x" * 9000, good[1]]) + b"\n"
    for policy in POLICIES:

        def fast(src: io.BytesIO, report: SkipReport) -> object:
            return G.load_grounding_summary_table(src, name=NAME, report=report)

        def slow(src: io.BytesIO, report: SkipReport) -> object:
            return _summary_from_records(G.load_grounding_r2(src, name=NAME, report=report), True)

        assert_same(outcome(fast, data, policy), outcome(slow, data, policy))


# --------------------------------------------------------------------------- scores, prompts


def test_image_table_is_the_record_path() -> None:
    rng = random.Random(99)
    cols = ["prompt_following", "consistency", "perceptual_quality", "overall"]

    def fast(src: io.BytesIO, report: SkipReport) -> object:
        t = S.load_image_score_table(src, name=NAME, report=report)
        return (t["sample_id"].tolist(), t[cols].to_numpy().tolist())

    def slow(src: io.BytesIO, report: SkipReport) -> object:
        recs = S.load_image_scores(src, name=NAME, report=report)
        return ([r.sample_id for r in recs], [[getattr(r, c) for c in cols] for r in recs])

    for _ in range(80):
        data = jsonl(rng, image)
        for policy in POLICIES:
            assert_same(outcome(fast, data, policy), outcome(slow, data, policy))


def test_video_table_is_the_record_path() -> None:
    rng = random.Random(5)

    def fast(src: io.BytesIO, report: SkipReport) -> object:
        t = S.load_video_score_table(src, name=NAME, report=report)
        return t.to_dict("list")

    def slow(src: io.BytesIO, report: SkipReport) -> object:
        recs = S.load_video_scores(src, name=NAME, report=report)
        out: dict[str, list[object]] = {
            "sample_id": [r.sample_id for r in recs],
            "mean_o_score": [r.mean_o_score for r in recs],
            "min_o_score": [r.min_o_score for r in recs],
            "mean_sc_score": [r.mean_sc_score for r in recs],
            "mean_pq_score": [r.mean_pq_score for r in recs],
        }
        for i in range(4):
            out[f"frame_index_{i}"] = [r.frame_indices[i] for r in recs]
            out[f"sc_score_{i}"] = [r.frames[i].sc_score for r in recs]
            out[f"pq_score_{i}"] = [r.frames[i].pq_score for r in recs]
            out[f"o_score_{i}"] = [r.frames[i].o_score for r in recs]
        return out

    for _ in range(80):
        data = jsonl(rng, video)
        for policy in POLICIES:
            assert_same(outcome(fast, data, policy), outcome(slow, data, policy))


def test_metadata_table_is_the_record_path() -> None:
    rng = random.Random(11)
    keys = ("sample_id", "chosen_keyword", "subtheme", "scene", "original_scene")

    def fast(src: io.BytesIO, report: SkipReport) -> object:
        t = P.load_metadata_table(src, name="m.jsonl", report=report)
        return [
            tuple(None if pd.isna(v) else v for v in row)
            for row in t[list(keys)].itertuples(index=False)
        ]

    def slow(src: io.BytesIO, report: SkipReport) -> object:
        recs = P.load_metadata_jsonl(src, name="m.jsonl", report=report)
        return [tuple(getattr(r, k) for k in keys) for r in recs]

    for _ in range(80):
        data = jsonl(rng, metadata)
        for policy in POLICIES:
            assert_same(outcome(fast, data, policy), outcome(slow, data, policy))


def _csv(rng: random.Random) -> bytes:
    rows = ["prompt,src_video,tgt_video,task"]
    for i in range(rng.randrange(0, 30)):
        s = f"Sparkle_location_{i:06d}"
        paths = f"location/source_video/{s}.mp4,location/edited_video/{s}.mp4"
        row = f'"Put, ""it"" on a roof",{paths},{s}'
        r = rng.random()
        if r < 0.05:
            row = row.replace("source_video", "edited_video", 1)
        elif r < 0.1:
            row = row.replace("_location_", "_season_", 1)
        elif r < 0.13:
            row = " ," + row.split(",", 2)[2]
        elif r < 0.16:
            row = row + ",x"
        elif r < 0.18:
            row = row.replace("location_0", "location_", 1)
        elif r < 0.2:
            row = rows[-1]  # a duplicate
        rows.append(row)
    return ("\n".join(rows) + "\n").encode()


def test_prompt_table_is_the_record_path() -> None:
    rng = random.Random(13)

    def fast(src: io.BytesIO, report: SkipReport) -> object:
        t = P.load_prompts_table(src, name="p.csv", edit_type="location", report=report)
        return list(zip(t["sample_id"], t["prompt"], strict=True))

    def slow(src: io.BytesIO, report: SkipReport) -> object:
        rows = P.load_prompts_csv(src, name="p.csv", edit_type="location", report=report)
        return [(r.sample_id, r.prompt) for r in rows]

    for _ in range(80):
        data = _csv(rng)
        for policy in POLICIES:
            assert_same(outcome(fast, data, policy), outcome(slow, data, policy))


def test_records_built_once_equal_records_built_checked() -> None:
    rows = P.load_prompts_csv(io.BytesIO(_csv(random.Random(0)).split(b",x")[0]), on_error="skip")
    for r in rows:
        assert r == P.PromptRow(r.sample_id, r.prompt, r.src_video, r.tgt_video)
    rng = random.Random(1)
    for rec in P.load_metadata_jsonl(
        io.BytesIO(b"".join(json.dumps(metadata(i, rng)).encode() + b"\n" for i in range(20)))
    ):
        again = P.MetadataRecord(
            rec.sample_id, rec.prompt, rec.raw_edit_type, rec.chosen_keyword, rec.original_scene
        )
        assert rec == again


@given(st.sampled_from(L.EDIT_TYPES), st.integers(0, 999_999))
def test_video_path_affixes_are_the_layout(edit_type: str, index: int) -> None:
    sid = L.SampleId(edit_type, index)  # type: ignore[arg-type]
    for artifact in L.ARTIFACTS:
        prefix, suffix = P._relpath_affixes(sid.edit_type, artifact)
        assert prefix + str(sid) + suffix == L.artifact_relpath(sid, artifact)


# --------------------------------------------------------------------------- catalog


@pytest.mark.parametrize("early", [False, True])
def test_catalog_with_and_without_the_helper_thread(
    sample_tree: SampleTreeSummary, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, early: bool
) -> None:
    """The helper thread, and the video scores read before r2 (skips handed on after r2's),
    change nothing: same table, same skip counts and examples in the same order, same error."""
    import shutil

    root = tmp_path / "tree"
    shutil.copytree(sample_tree.root, root)
    for et, record, edit in (
        ("season", "foreground_grounding_r2", "box"),
        ("location", "edited_video_score", "nan"),
        ("time", "foreground_grounding_r2", "label"),
        ("time", "edited_video_score", "frames"),
    ):
        path = root / "intermediate_data" / et / f"{record}.jsonl"
        lines = path.read_bytes().split(b"\n")
        rec = json.loads(lines[1])
        if edit == "box":
            rec["frame_objects"][0][0]["bbox_2d"] = [5, 5, 1, 1]  # swapped: clamped when lenient
        elif edit == "label":
            rec["frame_objects"][0][0]["label"] = "a dog"
        elif edit == "nan":
            rec["editscore"][0]["O_score"] = float("nan")
        else:
            rec["frame_indices"] = [3, 2, 1, 0]
        lines[1] = json.dumps(rec).encode()
        path.write_bytes(b"\n".join(lines))

    def run() -> list[object]:
        out: list[object] = []
        for policy, budget in (("skip", None), ("warn", None), ("skip", 2), ("error", None)):
            report = SkipReport(policy, max_skips=budget)  # type: ignore[arg-type]
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    table = build_catalog(root, cache=False, index_shards=False, report=report)
                    out.append(table.table)
                except Exception as e:
                    out.append((type(e).__name__, str(e)))
            out += [dict(report.counts), [str(x) for x in report.examples]]
            out.append([str(w.message) for w in caught])
        return out

    monkeypatch.setattr(catalog_table._Ahead, "busy", lambda self: early)
    ahead = run()
    monkeypatch.setattr(catalog_table._Ahead, "take", lambda self, rel: None)
    monkeypatch.setattr(catalog_table._Ahead, "busy", lambda self: False)
    here = run()
    assert len(ahead) == len(here)
    for a, b in zip(ahead, here, strict=True):
        if isinstance(a, pd.DataFrame):
            pd.testing.assert_frame_equal(a, b, check_exact=True)  # type: ignore[arg-type]
        else:
            assert a == b
    assert ahead[1] == {
        "bbox_clamped": 1,
        "label_mismatch": 1,
        "non_finite_score": 1,
        "invalid_frames": 1,
    }
    assert isinstance(ahead[12], tuple)  # strict: the first error, r2's before the video's
    assert "frame_objects[0][0].bbox_2d" in ahead[12][1]
    assert "season" in ahead[12][1]
