"""The rejection funnel on a hand-made table whose answers are worked out by hand."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from sparkle_data.filters import PAPER, STRICT, FilterError, field, funnel_table, write_stats
from sparkle_data.filters.funnel import FUNNEL_COLUMNS, resolve_stages
from sparkle_data.filters.stats import funnel_to_json, stage_thresholds
from sparkle_data.layout import edit_type_of

NAN, INF = math.nan, math.inf
F0, FG, VID = (
    "edited_frame0_score",
    "edited_frame0_foreground_removed_score",
    "edited_video_score",
)


@pytest.fixture
def table() -> pd.DataFrame:
    rows = [
        # id                     f0   fg   video entered status      last_record  subtheme
        ("Sparkle_location_000000", 9, 9, 9, True, "corpus", VID, "urban"),
        ("Sparkle_location_000001", 7, NAN, NAN, True, "rejected", F0, None),
        ("Sparkle_location_000002", 9, 8, NAN, True, "rejected", FG, None),
        ("Sparkle_location_000003", 9, 9, 7, True, "rejected", VID, None),
        ("Sparkle_location_000004", 7, 9, 9, True, "rejected", F0, None),  # alone-only passes
        ("Sparkle_time_000000", NAN, 9, 9, True, "corpus", VID, "dusk"),  # broken score
        ("Sparkle_time_000001", 8, 8.5, 8, True, "corpus", VID, "dusk"),  # exactly at thresholds
        ("Sparkle_time_000002", INF, 9, 9, True, "corpus", VID, "night"),
        ("Sparkle_time_000003", 9, 7, 7, True, "rejected", FG, None),
        ("Sparkle_time_000004", NAN, NAN, NAN, False, "orphan", None, None),  # never entered
    ]
    cols = [
        "sample_id",
        "frame0_overall",
        "fg_removed_overall",
        "video_mean_o_score",
        "in_edited_frame0_score",
        "status",
        "last_record",
        "subtheme",
    ]
    t = pd.DataFrame(rows, columns=cols).set_index("sample_id")
    t.insert(0, "edit_type", [edit_type_of(i) for i in t.index])
    return t


def _rows(funnel: pd.DataFrame, group: str, cols: list[str]) -> list[list[int]]:
    g = funnel[funnel.iloc[:, 0] == group]
    return [[int(v) for v in row] for row in g[cols].to_numpy()]


SEQ = ["reached", "removed_in_sequence", "removed_in_sequence_missing", "kept"]
ALONE = ["removed_alone", "removed_alone_missing", "removed_alone_below"]


def test_alone_and_in_sequence_known_answers(table: pd.DataFrame) -> None:
    f = funnel_table(table)
    assert list(f.columns) == ["edit_type", *FUNNEL_COLUMNS]
    assert list(f["edit_type"].unique()) == ["location", "time", "all"]
    assert list(f["stage"][:3]) == [F0, FG, VID]
    assert (f["entered"] == f["edit_type"].map({"location": 5, "time": 4, "all": 9})).all()
    # location: frame0 removes L1, L4; fg removes L2; video removes L3.
    assert _rows(f, "location", SEQ) == [[5, 2, 0, 3], [3, 1, 0, 2], [2, 1, 0, 1]]
    assert _rows(f, "location", ALONE) == [[2, 0, 2], [2, 1, 1], [3, 2, 1]]
    # time: NaN and +inf at frame 0 are removed as missing; 8 / 8.5 / 8 passes.
    assert _rows(f, "time", SEQ) == [[4, 2, 2, 2], [2, 1, 0, 1], [1, 0, 0, 1]]
    assert _rows(f, "time", ALONE) == [[2, 2, 0], [1, 0, 1], [1, 0, 1]]
    assert _rows(f, "all", SEQ) == [[9, 4, 2, 5], [5, 2, 0, 3], [3, 1, 0, 2]]
    assert _rows(f, "all", ALONE) == [[4, 2, 2], [3, 1, 2], [4, 2, 2]]
    assert list(f["observed_rejected"]) == [2, 1, 1, 0, 1, 0, 2, 2, 1]
    below = f["removed_in_sequence_below"] + f["removed_in_sequence_missing"]
    assert (below == f["removed_in_sequence"]).all()
    assert f["share_removed_in_sequence"].iloc[0] == pytest.approx(2 / 5)
    assert f["share_removed_alone"].iloc[2] == pytest.approx(3 / 5)
    assert f["rule"].iloc[1] == "fg_removed_overall >= 8.5"


def test_populations_groups_and_custom_stages(table: pd.DataFrame) -> None:
    everyone = funnel_table(table, population="all", by=None)
    assert list(everyone["group"]) == ["all"] * 3
    assert _rows(everyone, "all", SEQ)[0] == [10, 5, 3, 5]
    corpus = funnel_table(table, population="corpus", by=None)
    assert _rows(corpus, "all", SEQ) == [[4, 2, 2, 2], [2, 0, 0, 2], [2, 0, 0, 2]]
    stages = [("labels", field("subtheme").isin(["dusk", "urban"])), PAPER.as_filter()]
    custom = funnel_table(table, stages, by=None)
    assert list(custom["stage"]) == ["labels", PAPER.as_filter().describe()]
    assert _rows(custom, "all", SEQ) == [[9, 6, 5, 3], [3, 1, 1, 2]]
    assert custom["observed_rejected"].isna().all()
    by_sub = funnel_table(table, by="subtheme")
    assert list(by_sub["subtheme"].unique()) == ["dusk", "night", "urban", "all"]
    strict = funnel_table(table, STRICT, by=None)
    assert _rows(strict, "all", SEQ)[0] == [9, 5, 2, 4]


def test_funnel_errors(table: pd.DataFrame) -> None:
    with pytest.raises(FilterError, match="in_edited_frame0_score"):
        funnel_table(table.drop(columns="in_edited_frame0_score"))
    with pytest.raises(FilterError, match="unique"):
        resolve_stages([("a", PAPER), ("a", PAPER)])
    with pytest.raises(FilterError, match="name, Filter"):
        resolve_stages([("a", "frame0_overall >= 8")])  # type: ignore[list-item]
    with pytest.raises(FilterError, match="no such column"):
        funnel_table(table, by="nope")
    with pytest.raises(FilterError, match="population"):
        funnel_table(table, population="everyone")  # type: ignore[arg-type]


def test_funnel_json_and_csv(table: pd.DataFrame, tmp_path: Path) -> None:
    files = write_stats(table, tmp_path, plots=False)
    assert files.funnel_png is None
    assert files.histograms == ()
    doc = json.loads((tmp_path / "funnel.json").read_text())
    assert doc["population"] == "entered"
    assert [s["stage"] for s in doc["stages"]] == [F0, FG, VID]
    assert doc["stages"][0]["filter"] == {"field": "frame0_overall", "op": ">=", "value": 8.0}
    assert len(doc["rows"]) == 9
    assert doc["rows"][0]["observed_rejected"] == 2
    back = pd.read_csv(tmp_path / "funnel.csv")
    pd.testing.assert_frame_equal(
        back.drop(columns="observed_rejected"),
        files.funnel.drop(columns="observed_rejected"),
        check_dtype=False,
    )
    assert stage_thresholds(PAPER) == PAPER.thresholds
    assert stage_thresholds([field("a") >= 1, field("b") < 2, ("c", field("c") > 3)]) == {
        "a": 1.0,
        "c": 3.0,
    }
    custom = funnel_table(table, [("labels", field("subtheme").isin(["dusk"]))], by=None)
    doc2 = funnel_to_json(custom, [("labels", field("subtheme").isin(["dusk"]))])
    assert doc2["rows"][0]["observed_rejected"] is None
    assert json.dumps(doc2, allow_nan=False)
