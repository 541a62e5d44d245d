"""The expression grammar (safe by construction) and the dict form, with round trips."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sparkle_data.filters import (
    LOOSE,
    PAPER,
    And,
    Compare,
    Filter,
    FilterError,
    FilterSyntaxError,
    IsIn,
    IsMissing,
    Matches,
    Not,
    Or,
    ScorePreset,
    filter_from_dict,
    get_preset,
    parse_filter,
)
from sparkle_data.filters.parse import MAX_EXPRESSION_LENGTH

yaml = pytest.importorskip("yaml")

C = Compare


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("frame0_overall >= 8", C("frame0_overall", ">=", 8)),
        ("8 <= frame0_overall", C("frame0_overall", ">=", 8)),
        ("frame0_overall > -1.5", C("frame0_overall", ">", -1.5)),
        ("7 <= x < 9", And((C("x", ">=", 7), C("x", "<", 9)))),
        ("edit_type in ['location', 'time']", IsIn("edit_type", ("time", "location"))),
        ("edit_type == 'time'", IsIn("edit_type", ("time",))),
        ("edit_type != 'time'", Not(IsIn("edit_type", ("time",)))),
        ("subtheme not in ('urban',)", Not(IsIn("subtheme", ("urban",)))),
        ("grounding_num_labels in {3, -4}", IsIn("grounding_num_labels", (3, -4))),
        ("in_corpus == True", IsIn("in_corpus", (True,))),
        ("'city' in prompt", Matches("prompt", "city")),
        ("'a.b' not in prompt", Not(Matches("prompt", r"a\.b"))),
        ("video_mean_o_score is None", IsMissing("video_mean_o_score")),
        ("scene is not None", Not(IsMissing("scene"))),
        ("matches(prompt, '^Put', ignore_case=True)", Matches("prompt", "^Put", True)),
        ("paper", PAPER),
        ("loose", LOOSE),
        ("paper(video_mean_o=8.3)", PAPER.with_thresholds(video_mean_o_score=8.3)),
        (
            "a >= 1 and b >= 2 or not c >= 3",
            Or((And((C("a", ">=", 1), C("b", ">=", 2))), Not(C("c", ">=", 3)))),
        ),
        ("theme == 'style'", IsIn("edit_type", ("style",))),
        ("  frames >= 81\n", C("num_frames", ">=", 81)),
    ],
)
def test_grammar(text: str, expected: Filter) -> None:
    assert parse_filter(text) == expected
    assert Filter.parse(text) == expected


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("frame0_overall.real >= 8", "attribute access is not allowed"),
        ("edited_frame0_score.overall >= 8", "Use the column name frame0_overall"),
        ("__import__('os').system('touch pwned')", "function call is not allowed"),
        ("open('/etc/passwd') is None", "function call is not allowed"),
        ("len(prompt) > 3", "function call is not allowed"),
        ("float('nan') <= frame0_overall", "function call is not allowed"),
        ("import os", "not a valid expression"),
        ("exec('1')", "function call is not allowed"),
        ("x = 1", "not a valid expression"),
        ("__class__ >= 1", "leading underscore"),
        ("_x >= 1", "leading underscore"),
        ("matches(__dict__, 'a')", "leading underscore"),
        ("video_o_score[0] >= 8", "subscript is not allowed"),
        ("(lambda: 1) is None", "lambda is not allowed"),
        ("[x for x in y] is None", "comprehension is not allowed"),
        ("frame0_overall + 1 >= 8", "arithmetic is not allowed"),
        ("f'{prompt}' in prompt", "f-string is not allowed"),
        ("(y := 3) >= 1", "assignment expression is not allowed"),
        ("frame0_overall", "alone is not a condition"),
        ("True", "not a condition"),
        ("x is 3", "compares only with None"),
        ("x in y", "needs a list"),
        ("x in [y]", "expected a number"),
        ("x >= 'a'", "needs a number"),
        ("x >= y", "expected a number"),
        ("1 >= 2", "field on one side"),
        ("matches(prompt, x)", "string literal"),
        ("matches(prompt, 'a', flags=2)", "ignore_case"),
        ("paper(1)", "keyword thresholds only"),
        ("paper(grounding_num_labels=3)", "not a preset score"),
        ("x >= 1e999", "finite"),
        ("x >= 1" + "0" * 400, "too large"),
        ("x in [1" + "0" * 400 + "]", "2\\*\\*53"),
        ("edit_type in ['locaton']", "not one of the five Sparkle themes"),
        ("matches(prompt, '(')", "regex"),
        ("", "not a valid expression"),
        ("x >=", "not a valid expression"),
        ("{'a': 1} is None", "dict literal is not allowed"),
    ],
)
def test_outside_the_grammar_is_refused(text: str, match: str) -> None:
    with pytest.raises(FilterSyntaxError, match=match) as e:
        parse_filter(text)
    assert isinstance(e.value, FilterError)
    assert isinstance(e.value, ValueError)


def test_refused_expressions_never_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for text in (
        "__import__('os').system('touch pwned') is None",
        "().__class__.__bases__[0].__subclasses__() is None",
        "open('pwned', 'w') is None",
    ):
        with pytest.raises(FilterSyntaxError):
            parse_filter(text)
    assert not (tmp_path / "pwned").exists()


def test_size_and_depth_limits() -> None:
    with pytest.raises(FilterSyntaxError, match="longer than"):
        parse_filter("x >= 1 and " * (MAX_EXPRESSION_LENGTH // 11 + 1) + "x >= 1")
    deep = "(" * 5000 + "x >= 1" + ")" * 5000
    with pytest.raises(FilterSyntaxError):
        parse_filter(deep)
    with pytest.raises(FilterSyntaxError, match="must be a string"):
        parse_filter(3)  # type: ignore[arg-type]


def test_error_message_shows_the_column() -> None:
    with pytest.raises(FilterSyntaxError, match=r"at column 25"):
        parse_filter("frame0_overall >= 8 and x.y >= 1")


# ---------------------------------------------------------------------------- dict form

EXAMPLES: list[Filter] = [
    PAPER,
    get_preset("strict", frame0_overall=9.25),
    ScorePreset("mine", 1, 2, 3),
    Compare("video_sc_score_2", "<", 7.25),
    IsIn("edit_type", ("time", "location")),
    IsIn("grounding_num_labels", (2, 3)),
    IsIn("sample_id", ("Sparkle_time_000001", "Sparkle_location_000000")),
    Matches("prompt", r"\bdusk\b", True),
    IsMissing("video_mean_o_score"),
    Not(Or((IsIn("subtheme", ("urban",)), Compare("frame0_overall", "!=", 8)))),
    PAPER & IsIn("scene", ("misty pine forest",)) & ~Matches("prompt", "night"),
]


@pytest.mark.parametrize("f", EXAMPLES, ids=lambda f: f.describe()[:40])
def test_dict_round_trip_through_json_and_yaml(f: Filter) -> None:
    d = f.to_dict()
    assert Filter.from_dict(d) == f
    assert filter_from_dict(json.loads(json.dumps(d))) == f
    assert filter_from_dict(yaml.safe_load(yaml.safe_dump(d))) == f
    assert Filter.from_dict(d).to_dict() == d  # stable


@pytest.mark.parametrize(
    "f", [e for e in EXAMPLES if not isinstance(e, ScorePreset) or e.name in ("paper", "strict")]
)
def test_describe_parses_back(f: Filter) -> None:
    assert parse_filter(f.describe()) == f


def test_dict_shorthands() -> None:
    assert filter_from_dict("frame0_overall >= 8") == Compare("frame0_overall", ">=", 8)
    assert filter_from_dict({"expr": "paper"}) == PAPER
    assert filter_from_dict([{"preset": "paper"}, "edit_type == 'time'"]) == And(
        (PAPER, IsIn("edit_type", ("time",)))
    )
    assert filter_from_dict({"preset": "paper", "thresholds": {"video_mean_o": 8.3}}) == (
        PAPER.with_thresholds(video_mean_o_score=8.3)
    )
    assert filter_from_dict({"field": "prompt", "matches": "x"}) == Matches("prompt", "x")
    doc = yaml.safe_load(
        """
        and:
          - preset: paper
            thresholds: {video_mean_o_score: 8.3}
          - field: edit_type
            in: [location, time]
          - not: {field: prompt, matches: "\\\\bnight\\\\b", ignore_case: true}
          - "grounding_num_labels <= 6"
        """
    )
    f = filter_from_dict(doc)
    assert isinstance(f, And)
    assert f.filters[2] == Not(Matches("prompt", r"\bnight\b", True))


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"field": "x", "op": ">=", "value": 8, "extra": 1}, "unexpected key"),
        ({"field": "x", "op": ">="}, "needs value"),
        ({"field": "x"}, "op\\+value, in, matches or missing"),
        ({"fild": "x", "op": ">=", "value": 1}, "none of the keys"),
        ({"and": {"field": "x"}}, "must be a list"),
        ({"and": [], "or": []}, "unexpected key"),
        ({"and": []}, "at least one"),
        ({"field": "x", "in": "abc"}, "must be a list"),
        ({"field": "x", "missing": False}, "must be true"),
        ({"field": "x", "op": ">=", "value": math.nan}, "finite"),
        ({"field": "x", "op": ">=", "value": "8"}, "must be a number"),
        ({"preset": "nope"}, "three thresholds"),
        ({"preset": "mine", "thresholds": {"frame0_overall": 8}}, "three thresholds"),
        ({"preset": "paper", "thresholds": {"bogus": 1}}, "column name|not a preset"),
        ({"preset": "paper", "thresholds": [8]}, "mapping"),
        ({"ids": "Sparkle_time_000000"}, "must be a list"),
        (3, "must be a mapping"),
        ({"not": {"expr": "x.y >= 1"}}, "attribute access"),
    ],
)
def test_bad_dicts(data: Any, match: str) -> None:
    with pytest.raises(FilterError, match=match):
        filter_from_dict(data)


def test_dict_error_names_where() -> None:
    with pytest.raises(FilterError, match=r"filters\.and\[1\]"):
        filter_from_dict({"and": [{"expr": "x >= 1"}, {"field": "x", "bad": 1}]})


# ---------------------------------------------------------------------------- properties

_fields = st.sampled_from(["frame0_overall", "video_sc_score_1", "grounding_num_labels", "x"])
_texts = st.sampled_from(["subtheme", "scene", "prompt", "chosen_keyword"])
_words = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=8
)
_numbers = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e6)
_leaves = st.one_of(
    st.builds(Compare, _fields, st.sampled_from([">=", ">", "<=", "<", "==", "!="]), _numbers),
    st.builds(lambda f, v: IsIn(f, tuple(v)), _texts, st.lists(_words, min_size=1, max_size=3)),
    st.builds(
        lambda v: IsIn("grounding_num_labels", tuple(v)),
        st.lists(st.integers(-5, 50), min_size=1, max_size=3),
    ),
    st.builds(
        lambda w, c: Matches("prompt", w, c),
        st.from_regex(r"[a-z ]{1,6}", fullmatch=True),
        st.booleans(),
    ),
    st.builds(IsMissing, _fields),
    st.sampled_from([PAPER, get_preset("strict")]),
)
_filters = st.recursive(
    _leaves,
    lambda inner: st.one_of(
        st.builds(lambda xs: And(tuple(xs)), st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda xs: Or(tuple(xs)), st.lists(inner, min_size=1, max_size=3)),
        st.builds(Not, inner),
    ),
    max_leaves=8,
)


def _normal(f: Filter) -> Filter:
    """The parser builds one-child And/Or as the child itself and flattens nothing else."""
    if isinstance(f, (And, Or)):
        kids = tuple(_normal(k) for k in f.filters)
        return kids[0] if len(kids) == 1 else type(f)(kids)
    if isinstance(f, Not):
        return Not(_normal(f.filter))
    return f


@settings(max_examples=150, deadline=None)
@given(_filters)
def test_round_trips_for_random_filters(f: Filter) -> None:
    assert filter_from_dict(json.loads(json.dumps(f.to_dict()))) == f
    g = _normal(f)
    assert parse_filter(g.describe()) == g
