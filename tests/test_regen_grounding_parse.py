"""Parsing Qwen3-VL grounding answers (regen.models.grounding), on real-format strings."""

from __future__ import annotations

import pytest

from sparkle_data.errors import GroundingParseError, SparkleError
from sparkle_data.regen.models.grounding import ParsedObject, parse_grounding, to_record_objects

# The shape Qwen3-VL answers a grounding request in (the card's example objects).
FENCED = """```json
[
\t{"bbox_2d": [447, 27, 765, 998], "label": "woman in brown hat and coat"},
\t{"bbox_2d": [515, 800, 615, 980], "label": "clasped hands with ring"}
]
```"""
BARE = '[{"bbox_2d": [490, 398, 615, 800], "label": "striped shirt under coat"}]'
CHATTY = (
    "Sure! Here are the objects:\n```json\n"
    '[{"bbox_2d": [505, 27, 710, 258], "label": "brown wide-brimmed hat"}]\n```\nDone.'
)


def test_fenced_answer() -> None:
    objs = parse_grounding(FENCED)
    assert objs == [
        ParsedObject((447, 27, 765, 998), "woman in brown hat and coat"),
        ParsedObject((515, 800, 615, 980), "clasped hands with ring"),
    ]
    assert to_record_objects(objs)[0] == {
        "bbox_2d": [447, 27, 765, 998], "label": "woman in brown hat and coat"
    }


def test_bare_chatty_single_and_wrapped_answers() -> None:
    assert parse_grounding(BARE)[0].label == "striped shirt under coat"
    assert parse_grounding(CHATTY)[0].bbox_2d == (505, 27, 710, 258)
    one = '{"bbox_2d": [1, 2, 3, 4], "label": "cup"}'
    assert parse_grounding(one) == [ParsedObject((1, 2, 3, 4), "cup")]
    wrapped = '{"objects": [{"bbox_2d": [1, 2, 3, 4], "label": "cup"}]}'
    assert parse_grounding(wrapped) == [ParsedObject((1, 2, 3, 4), "cup")]
    assert parse_grounding("```json\n[]\n```") == []


def test_coordinates_rounded_clipped_and_sorted() -> None:
    text = '[{"bbox_2d": [765.4, 998.6, 447, -3], "label": " dog "}]'
    assert parse_grounding(text) == [ParsedObject((447, 0, 765, 999), "dog")]
    assert parse_grounding('[{"bbox_2d": [0, 0, 1200, 1000], "label": "x"}]')[0].bbox_2d == (
        0, 0, 1000, 1000
    )


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("I cannot find any foreground objects in this image.", "no JSON"),
        ('```json\n[{"bbox_2d": [1, 2, 3, 4], "label": "cup"},\n```', "no JSON"),
        ('[{"bbox_2d": [1, 2, 3], "label": "cup"}]', "bbox_2d"),
        ('[{"bbox_2d": [1, 2, 3, "x"], "label": "cup"}]', "bbox_2d"),
        ('[{"bbox_2d": [1, 2, 3, 4], "label": ""}]', "label"),
        ('[{"bbox": [1, 2, 3, 4], "label": "cup"}]', "bbox_2d"),
        ('["cup"]', "not an object"),
        ('{"a": [], "b": []}', "not a list"),
        ("42", "not a list"),
    ],
)
def test_malformed_answers_fail_with_the_raw_text(text: str, match: str) -> None:
    with pytest.raises(GroundingParseError, match=match) as info:
        parse_grounding(text, sample_id="Sparkle_time_000028")
    assert info.value.raw == text
    assert "Raw model output" in str(info.value)
    assert info.value.sample_id == "Sparkle_time_000028"
    assert isinstance(info.value, (SparkleError, ValueError))


def test_long_raw_text_is_truncated_in_the_message() -> None:
    text = "no json " * 1000
    with pytest.raises(GroundingParseError) as info:
        parse_grounding(text)
    assert info.value.raw == text
    assert len(str(info.value)) < 2500
