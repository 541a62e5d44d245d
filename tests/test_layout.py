"""Layout: the card's naming rules, round trips and rejections."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sparkle_data import layout as L  # noqa: N812
from sparkle_data.errors import LayoutError

edit_types = st.sampled_from(L.EDIT_TYPES)
indices = st.integers(min_value=0, max_value=999_999)
artifacts = st.sampled_from(tuple(L.ARTIFACTS))


@given(edit_types, indices)
def test_sample_id_round_trip(edit_type: str, index: int) -> None:
    text = L.format_sample_id(edit_type, index)
    assert text == f"Sparkle_{edit_type}_{index:06d}"
    sid = L.parse_sample_id(text)
    assert (sid.edit_type, sid.index) == (edit_type, index)
    assert str(sid) == text


@given(edit_types, indices, artifacts)
def test_member_and_relpath_round_trip(edit_type: str, index: int, artifact: str) -> None:
    sid = L.format_sample_id(edit_type, index)
    member = L.member_name(sid, artifact)
    parsed = L.parse_member_name(member)
    assert (str(parsed.sample_id), parsed.artifact) == (sid, artifact)
    rel = L.artifact_relpath(sid, artifact)
    assert L.parse_artifact_relpath(rel) == parsed
    assert rel.startswith("intermediate_data/") == L.ARTIFACTS[artifact].intermediate


@given(edit_types, artifacts, st.integers(min_value=0, max_value=9999))
def test_shard_round_trip(edit_type: str, artifact: str, part: int) -> None:
    name = L.shard_name(edit_type, artifact, part)
    shard = L.parse_shard_name(name)
    assert (shard.edit_type, shard.artifact, shard.part) == (edit_type, artifact, part)
    assert str(shard) == name
    assert L.parse_shard_name("https://host/x/" + shard.path) == shard


def test_card_examples() -> None:
    assert L.member_name("Sparkle_location_000000", "source_video") == (
        "location/source_video/Sparkle_location_000000.mp4"
    )
    assert L.artifact_relpath("Sparkle_location_000000", "source_video_mask") == (
        "intermediate_data/location/source_video_mask/Sparkle_location_000000.npz"
    )
    assert L.shard_path("location", "edited_video", 1) == "location_edited_video_part01.tar"
    assert L.shard_path("location", "edited_frame0", 0) == (
        "intermediate_data/location_edited_frame0_part00.tar"
    )
    assert L.prompts_csv_path("openve3m") == "prompts/openve3m_train.csv"
    assert L.prompts_metadata_path("time") == "prompts/time_train_metadata.jsonl"
    assert L.record_path("style", "foreground_grounding_r2") == (
        "intermediate_data/style/foreground_grounding_r2.jsonl"
    )
    assert L.PROMPTS_CSV_COLUMNS == ("prompt", "src_video", "tgt_video", "task")
    assert len(L.INTERMEDIATE_ARTIFACTS) == 6
    assert len(L.RECORD_FILES) == 5


def test_edit_type_alias() -> None:
    assert L.canonical_edit_type("openve3m_background_change") == "openve3m"
    assert L.canonical_edit_type("season") == "season"
    assert L.metadata_edit_type("openve3m") == "openve3m_background_change"
    assert L.metadata_edit_type("style") == "style"
    with pytest.raises(LayoutError, match="edit type"):
        L.parse_edit_type("openve3m_background_change")


def test_bench_names() -> None:
    assert L.bench_csv_path("location") == "location_bench.csv"
    assert L.bench_metadata_path("time") == "time_metadata.jsonl"
    sid = "Sparkle_location_010913"
    assert L.bench_source_video_path(sid) == "source_videos/location/Sparkle_location_010913.mp4"
    assert str(L.parse_bench_source_video_path(L.bench_source_video_path(sid))) == sid
    assert L.bench_ref_image_path(sid) == "ref_images/location/Sparkle_location_010913.png"
    assert L.bench_inference_relpath(
        "Sparkle_location_000172", "landmark: ancient stone ruins with wind-swept grass"
    ) == (
        "location/landmark---ancient_stone_ruins_with_wind-swept_grass/"
        "Sparkle_location_000172_edited.mp4"
    )
    with pytest.raises(LayoutError, match="Sparkle-Bench has no such theme"):
        L.bench_csv_path("openve3m")


@pytest.mark.parametrize(
    "bad",
    [
        "Sparkle_location_00001",  # five digits
        "Sparkle_location_0000001",  # seven digits
        "sparkle_location_000001",
        "Sparkle_openve3m_background_change_000001",
        "Sparkle_location_000001.mp4",
        " Sparkle_location_000001",
        "Sparkle_beach_000001",
        "Sparkle_location_00000a",
        "",
    ],
)
def test_bad_sample_ids(bad: str) -> None:
    with pytest.raises(LayoutError, match="sample id"):
        L.parse_sample_id(bad)


@pytest.mark.parametrize(
    "bad",
    [
        "../location/source_video/Sparkle_location_000001.mp4",
        "/location/source_video/Sparkle_location_000001.mp4",
        "location/source_video/../../etc/passwd",
        "location//source_video/Sparkle_location_000001.mp4",
        "location\\source_video\\Sparkle_location_000001.mp4",
        "./location/source_video/Sparkle_location_000001.mp4",
        "location/source_video/Sparkle_location_000001.png",  # wrong extension
        "location/source_video/Sparkle_season_000001.mp4",  # id from another theme
        "location/masks/Sparkle_location_000001.npz",  # unknown artifact
        "location/source_video/Sparkle_location_000001.mp4/x",
        "location/source_video",
        "C:/location/source_video/Sparkle_location_000001.mp4",
    ],
)
def test_bad_member_names(bad: str) -> None:
    with pytest.raises(LayoutError):
        L.parse_member_name(bad)


def test_relpath_prefix_must_match_kind() -> None:
    with pytest.raises(LayoutError, match="corpus artifact"):
        L.parse_artifact_relpath(
            "intermediate_data/location/source_video/Sparkle_location_000001.mp4"
        )
    with pytest.raises(LayoutError, match="intermediate"):
        L.parse_artifact_relpath("location/source_video_mask/Sparkle_location_000001.npz")


@pytest.mark.parametrize(
    "bad",
    [
        "location_source_video_part0.tar",
        "location_source_video.tar",
        "location_video_part00.tar",
        "beach_source_video_part00.tar",
        "location_source_video_part00.tar.gz",
    ],
)
def test_bad_shard_names(bad: str) -> None:
    with pytest.raises(LayoutError, match="shard name"):
        L.parse_shard_name(bad)


@given(st.text(max_size=40))
def test_parsers_never_crash_unexpectedly(text: str) -> None:
    for parse in (L.parse_sample_id, L.parse_member_name, L.parse_shard_name):
        with contextlib.suppress(LayoutError):
            parse(text)


def test_error_message_template() -> None:
    with pytest.raises(LayoutError) as info:
        L.parse_sample_id("Sparkle_x_1")
    msg = str(info.value)
    assert msg.startswith("Invalid sample id 'Sparkle_x_1'")
    assert "Example: Sparkle_location_000000." in msg
    assert isinstance(info.value, ValueError)


def test_sample_id_validation() -> None:
    with pytest.raises(LayoutError):
        L.SampleId("location", 1_000_000)
    with pytest.raises(LayoutError):
        L.SampleId("location", True)  # type: ignore[arg-type]
    assert L.SampleId("time", 5) < L.SampleId("time", 6)
