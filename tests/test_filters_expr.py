"""Filter rules, three-valued composition and counts on hand-built tables."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from sparkle_data.errors import LayoutError
from sparkle_data.filters import (
    PAPER,
    PENDING_COLUMNS,
    And,
    Compare,
    FilterError,
    IsIn,
    IsMissing,
    Matches,
    Not,
    Or,
    every_frame,
    field,
    ids,
)
from sparkle_data.filters.expr import Filter


def sid(et: str, i: int) -> str:
    return f"Sparkle_{et}_{i:06d}"


@pytest.fixture
def table() -> pd.DataFrame:
    """Six rows: a good one, NaN, +inf, -inf, None (object column), below threshold."""
    return pd.DataFrame(
        {
            "edit_type": ["location", "location", "time", "time", "style", "style"],
            "subtheme": ["urban", None, "dusk", "night", "era", "urban"],
            "prompt": ["a city at dusk", "Night market", None, "snowy NIGHT", "old film", "x"],
            "frame0_overall": [9.0, math.nan, math.inf, -math.inf, 8.0, 7.9],
            "fg_removed_overall": [9.0, 9.0, 9.0, 9.0, 8.5, 9.0],
            "video_mean_o_score": [8.5, 8.5, 8.5, 8.5, 8.0, 8.5],
            "grounding_num_labels": pd.array([3, 4, None, 2, 5, 3], dtype="Int64"),
            "loose_object": pd.array([1.5, None, 2.0, 3.0, None, 0.5], dtype=object),
        },
        index=pd.Index(
            [
                sid("location", 0),
                sid("location", 1),
                sid("time", 0),
                sid("time", 1),
                sid("style", 0),
                sid("style", 1),
            ],
            name="sample_id",
        ),
    )


def kept(f: Filter, t: pd.DataFrame) -> list[int]:
    return [i for i, k in enumerate(f.mask(t)) if k]


# ---------------------------------------------------------------------------- NaN rule


def test_non_finite_scores_fail_a_threshold_and_are_counted(table: pd.DataFrame) -> None:
    r = (field("frame0_overall") >= 8).apply(table)
    assert kept(field("frame0_overall") >= 8, table) == [0, 4]
    assert (r.kept, r.failed, r.unknown, r.total) == (2, 1, 3, 6)
    (rule,) = r.rules
    assert (rule.passed, rule.missing, rule.failed, rule.removed) == (2, 3, 1, 4)
    assert rule.rule == "frame0_overall >= 8"
    # +inf would pass ">= 8" arithmetically; it must not.
    assert not r.mask.iloc[2]


@pytest.mark.parametrize("op", [">=", ">", "<=", "<", "==", "!="])
def test_no_operator_lets_a_non_finite_value_through(table: pd.DataFrame, op: str) -> None:
    for f in (Compare("frame0_overall", op, 8.0), ~Compare("frame0_overall", op, 8.0)):  # type: ignore[arg-type]
        assert not f.mask(table).iloc[1:4].any(), f.describe()


def test_negation_does_not_keep_missing_values(table: pd.DataFrame) -> None:
    r = (~(field("frame0_overall") >= 8)).apply(table)
    assert r.ids == (sid("style", 1),)
    assert r.unknown == 3


def test_nullable_and_object_columns(table: pd.DataFrame) -> None:
    assert kept(field("grounding_num_labels") >= 3, table) == [0, 1, 4, 5]
    assert kept(field("loose_object") > 1, table) == [0, 2, 3]
    r = (field("loose_object") > 1).apply(table)
    assert r.rules[0].missing == 2


def test_is_missing_is_the_only_rule_that_selects_missing(table: pd.DataFrame) -> None:
    assert kept(IsMissing("frame0_overall"), table) == [1, 2, 3]
    assert kept(field("subtheme").is_missing(), table) == [1]
    assert kept(~IsMissing("grounding_num_labels"), table) == [0, 1, 3, 4, 5]
    r = IsMissing("frame0_overall").apply(table)
    assert r.unknown == 0


# ---------------------------------------------------------------------------- Kleene logic

T, F, U = "T", "F", "U"


def _truth_table() -> pd.DataFrame:
    """One row per pair of states of a and b (T: 9, F: 1, U: NaN), for rules ``>= 5``."""
    vals = {T: 9.0, F: 1.0, U: math.nan}
    pairs = [(x, y) for x in (T, F, U) for y in (T, F, U)]
    return pd.DataFrame(
        {"a": [vals[x] for x, _ in pairs], "b": [vals[y] for _, y in pairs]},
        index=pd.Index([sid("time", i) for i in range(len(pairs))], name="sample_id"),
    )


def _states(f: Filter, t: pd.DataFrame) -> list[str]:
    truth = f.truth(t)
    return [T if tr else F if fa else U for tr, fa in zip(truth.true, truth.false, strict=True)]


def test_kleene_truth_tables() -> None:
    t = _truth_table()
    a, b = field("a") >= 5, field("b") >= 5
    #              TT TF TU FT FF FU UT UF UU
    assert _states(a & b, t) == [T, F, U, F, F, F, U, F, U]
    assert _states(a | b, t) == [T, T, T, T, F, U, T, U, U]
    assert _states(~a, t) == [F, F, F, T, T, T, U, U, U]


def test_algebra_laws_hold_on_masks() -> None:
    t = _truth_table()
    a, b, c = field("a") >= 5, field("b") >= 5, field("a") <= 1
    same = [
        (~(a & b), ~a | ~b),
        (~(a | b), ~a & ~b),
        (~~a, a),
        (a & a, a),
        (a | a, a),
        (a & (b | c), (a & b) | (a & c)),
        (a | (b & c), (a | b) & (a | c)),
        (a & b, b & a),
    ]
    for left, right in same:
        assert _states(left, t) == _states(right, t), (left.describe(), right.describe())


def test_composition_flattens_and_is_a_value() -> None:
    a, b, c = field("a") >= 1, field("b") >= 2, field("c") >= 3
    assert a & b & c == And((a, b, c))
    assert (a | b) | c == Or((a, b, c))
    assert (a & b) | c == Or((And((a, b)), c))
    assert ~a == Not(a)
    assert hash(a & b) == hash(And((a, b)))
    assert len({a & b, And((a, b)), b & a}) == 2
    assert (a & (b | c)).describe() == "a >= 1 and (b >= 2 or c >= 3)"
    assert (~(a & b)).describe() == "not (a >= 1 and b >= 2)"
    with pytest.raises(TypeError):
        _ = a & 3  # type: ignore[operator]
    with pytest.raises(FilterError, match="at least one"):
        And(())


def test_rules_counted_once_and_in_order(table: pd.DataFrame) -> None:
    a = field("frame0_overall") >= 8
    f = PAPER & a & field("edit_type").isin(["time"])
    r = f.apply(table)
    assert [c.rule for c in r.rules] == [
        "frame0_overall >= 8",
        "fg_removed_overall >= 8.5",
        "video_mean_o_score >= 8",
        "edit_type in ['time']",
    ]
    assert f.fields() == ("frame0_overall", "fg_removed_overall", "video_mean_o_score", "edit_type")
    frame = r.counts_frame()
    assert list(frame.columns) == [
        "rule",
        "field",
        "total",
        "passed",
        "missing",
        "failed",
        "removed",
    ]
    assert "kept 0 of 6" in r.summary()
    assert r.to_dict()["rules"][3]["passed"] == 2


# ---------------------------------------------------------------------------- leaves


def test_isin_text_numbers_and_missing(table: pd.DataFrame) -> None:
    assert kept(field("subtheme").isin(["urban", "dusk"]), table) == [0, 2, 5]
    assert kept(~field("subtheme").isin(["urban"]), table) == [2, 3, 4]  # None row stays out
    assert kept(field("grounding_num_labels").isin([3, 5]), table) == [0, 4, 5]
    assert kept(field("theme").equals("location"), table) == [0, 1]
    assert IsIn("edit_type", ("time", "location", "time")).values == ("location", "time")
    with pytest.raises(FilterError, match="numeric"):
        field("grounding_num_labels").isin(["3"]).apply(table)
    with pytest.raises(FilterError, match="mixes"):
        IsIn("subtheme", ("a", 1))
    with pytest.raises(LayoutError, match="edit type"):
        field("edit_type").isin(["locaton"])


def test_unseen_values_are_warned(table: pd.DataFrame) -> None:
    r = field("subtheme").isin(["urban", "urbn"]).apply(table)
    assert r.kept == 2
    assert r.warnings == ("1 values of subtheme appear in no row: 'urbn'",)


def test_ids(table: pd.DataFrame) -> None:
    f = ids([sid("time", 1), sid("location", 0), sid("season", 9)])
    assert kept(f, table) == [0, 3]
    assert f.to_dict() == {"ids": [sid("location", 0), sid("season", 9), sid("time", 1)]}
    assert "1 ids appear in no row" in f.apply(table).warnings[0]
    with pytest.raises(LayoutError):
        ids(["Sparkle_location_1"])


def test_matches(table: pd.DataFrame) -> None:
    assert kept(field("prompt").matches("night"), table) == []
    assert kept(field("prompt").matches(r"\bnight\b", ignore_case=True), table) == [1, 3]
    assert kept(~field("prompt").matches("night", ignore_case=True), table) == [0, 4, 5]
    assert field("prompt").matches("night").apply(table).rules[0].missing == 1
    with pytest.raises(FilterError, match="regex"):
        Matches("prompt", "(unclosed")
    with pytest.raises(FilterError, match="text column"):
        field("frame0_overall").matches("8").apply(table)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, True, "8", None, 10**400])
def test_threshold_must_be_a_finite_number(bad: object) -> None:
    with pytest.raises(FilterError):
        Compare("frame0_overall", ">=", bad)  # type: ignore[arg-type]


def test_fields_are_resolved_and_checked(table: pd.DataFrame) -> None:
    assert Compare("edited_frame0_score.overall", ">=", 8) == Compare("frame0_overall", ">=", 8.0)
    assert field("video_mean_o").name == "video_mean_o_score"
    assert Compare("frame0_overall", ">=", np.float32(8)).value == 8.0
    for bad in ("__class__", "_private", "a b", "x.y", ""):
        with pytest.raises(FilterError, match="column name"):
            field(bad)
    with pytest.raises(FilterError, match="comparison"):
        Compare("frame0_overall", "=>", 8)  # type: ignore[arg-type]
    with pytest.raises(FilterError, match="no such column"):
        (field("nope") >= 1).apply(table)
    with pytest.raises(FilterError, match="numeric column"):
        (field("subtheme") >= 1).apply(table)


def test_pending_columns_say_what_is_needed(table: pd.DataFrame) -> None:
    assert set(PENDING_COLUMNS) == {"num_frames"}  # box areas are catalog columns now
    with pytest.raises(FilterError, match="num_frames") as e:
        (field("frames") >= 81).apply(table)
    assert "probe_videos=True" in str(e.value)
    assert "grounding_num_frames" in str(e.value)
    with pytest.raises(FilterError, match=r"grounding_max_box_area.*no such column") as e:
        (field("max_box_area") >= 0.05).apply(table)
    assert "docs/catalog.md" in str(e.value)  # a plain missing column, not a pending one
    # With the column present, the same rules work.
    t = table.assign(num_frames=[81, 81, 40, np.nan, 81, 60], grounding_max_box_area=0.1)
    assert kept(field("frames") >= 81, t) == [0, 1, 4]
    assert kept(field("max_box_area") >= 0.05, t) == [0, 1, 2, 3, 4, 5]


def test_catalog_like_source_and_bad_source(table: pd.DataFrame) -> None:
    class Holder:
        def __init__(self, t: pd.DataFrame) -> None:
            self.table = t

    assert (field("frame0_overall") >= 8).apply(Holder(table)).kept == 2
    with pytest.raises(TypeError, match="Catalog or a pandas DataFrame"):
        (field("frame0_overall") >= 8).apply([1, 2])


def test_empty_table(table: pd.DataFrame) -> None:
    r = PAPER.apply(table.iloc[:0])
    assert (r.kept, r.total) == (0, 0)
    assert len(r.table) == 0


def test_every_frame() -> None:
    t = pd.DataFrame(
        {
            **{f"video_sc_score_{i}": [9.0, 9.0, 9.0] for i in range(4)},
            "video_sc_score_2": [9.0, 6.5, math.nan],
        },
        index=pd.Index([sid("time", i) for i in range(3)], name="sample_id"),
    )
    f = every_frame("sc", ">=", 7)
    assert f == And(tuple(Compare(f"video_sc_score_{i}", ">=", 7) for i in range(4)))
    r = f.apply(t)
    assert (r.kept, r.failed, r.unknown) == (1, 1, 1)
    with pytest.raises(FilterError, match="'sc', 'pq' or 'o'"):
        every_frame("xx", ">=", 7)  # type: ignore[arg-type]
