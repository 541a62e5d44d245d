"""Subset specs: YAML/JSON round trips, deterministic seeded sampling, verification."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sparkle_data import __version__
from sparkle_data.filters import (
    PAPER,
    FilterError,
    SourceRef,
    SubsetMismatchError,
    SubsetSpec,
    field,
    ids_sha256,
    parse_filter,
    subset_ids,
)
from sparkle_data.filters.spec import SPEC_FORMAT

pytest.importorskip("yaml")

TYPES = ("location", "season", "time", "style", "openve3m")


@pytest.fixture
def table() -> pd.DataFrame:
    """200 rows: 40 per edit type, three quarters corpus, scores from a fixed generator."""
    rng = np.random.default_rng(0)
    n = 40
    idx = [f"Sparkle_{et}_{i:06d}" for et in TYPES for i in range(n)]
    t = pd.DataFrame(
        {
            "edit_type": np.repeat(TYPES, n),
            "in_corpus": np.tile(np.arange(n) % 4 != 3, len(TYPES)),
            "frame0_overall": rng.uniform(7, 10, len(idx)),
            "fg_removed_overall": rng.uniform(8, 10, len(idx)),
            "video_mean_o_score": rng.uniform(7.5, 9.5, len(idx)),
        },
        index=pd.Index(idx, name="sample_id"),
    )
    t.loc[t.index[5], "video_mean_o_score"] = np.nan
    return t


def test_create_records_counts_digest_and_version(table: pd.DataFrame) -> None:
    spec = SubsetSpec.create(table, PAPER, name="paper", created=None)
    selected = spec.select(table)
    assert selected == tuple(sorted(selected))
    assert spec.ids_sha256 == ids_sha256(list(selected))
    assert spec.total == len(selected) == sum(spec.counts.values())
    assert set(spec.counts) == set(TYPES)
    assert spec.sparkle_data_version == __version__
    expected = PAPER.apply(table[table["in_corpus"]]).ids
    assert set(selected) == set(expected)
    assert table.index[5] not in selected  # NaN video score
    assert spec.source == SourceRef(None, None, None)


def test_yaml_and_json_round_trip(table: pd.DataFrame, tmp_path: Path) -> None:
    f = PAPER.with_thresholds(video_mean_o_score=8.25) & field("edit_type").isin(["time", "style"])
    spec = SubsetSpec.create(
        table,
        f,
        seed=11,
        limit_per_theme=5,
        source_ref="hf://datasets/stdKonjac/Sparkle@abc123",
        name="two-types",
        description="a test",
    )
    assert spec.source == SourceRef(
        "hf://datasets/stdKonjac/Sparkle@abc123", "stdKonjac/Sparkle", "abc123"
    )
    assert spec.created is not None
    for name in ("s.yaml", "s.yml", "s.json"):
        path = spec.save(tmp_path / name)
        back = SubsetSpec.load(path)
        assert back == spec
        assert back.created == spec.created
        assert back.to_dict() == spec.to_dict()
        assert back.fingerprint == spec.fingerprint
        assert back.select(table) == spec.select(table)
    doc = json.loads((tmp_path / "s.json").read_text())
    assert doc["format"] == SPEC_FORMAT
    assert doc["filter"]["and"][1] == {"field": "edit_type", "in": ["style", "time"]}
    assert doc["counts"] == {"style": 5, "time": 5}
    assert list(doc) == list(spec.to_dict())
    text = (tmp_path / "s.yaml").read_text()
    assert "limit_per_theme: 5" in text
    assert "ids_sha256:" in text
    assert not list(tmp_path.glob(".*tmp*"))  # atomic writes leave no temp files


def test_created_is_not_identity(table: pd.DataFrame) -> None:
    a = SubsetSpec.create(table, PAPER, created="2026-01-01T00:00:00+00:00")
    b = SubsetSpec.create(table, PAPER, created="2027-01-01T00:00:00+00:00")
    assert a == b
    assert a.fingerprint == b.fingerprint
    assert "created" not in a.identity()
    c = SubsetSpec.create(table, PAPER, seed=1, created=None)
    assert c.fingerprint != a.fingerprint


def test_seeded_sampling(table: pd.DataFrame) -> None:
    a = subset_ids(table, PAPER, seed=3, limit_per_theme=4)
    assert a == subset_ids(table, PAPER, seed=3, limit_per_theme=4)
    assert len(a) == 4 * len(TYPES)
    # Independent of the row order and of rows outside the selection.
    shuffled = table.sample(frac=1.0, random_state=1)
    assert subset_ids(shuffled, PAPER, seed=3, limit_per_theme=4) == a
    assert set(a) <= set(subset_ids(table, PAPER))
    assert subset_ids(table, PAPER, seed=4, limit_per_theme=4) != a
    # A limit above the counts keeps everything.
    assert subset_ids(table, PAPER, limit_per_theme=10_000) == subset_ids(table, PAPER)
    # Fixed forever: the rank is sha256(f"{seed}:{id}"), not a numpy stream.
    first = subset_ids(table, None, seed=0, limit_per_theme=1, population="all")
    assert first == (
        "Sparkle_location_000034",
        "Sparkle_openve3m_000027",
        "Sparkle_season_000024",
        "Sparkle_style_000005",
        "Sparkle_time_000015",
    )


def test_select_verifies(table: pd.DataFrame) -> None:
    spec = SubsetSpec.create(table, "paper", name="p")
    changed = table.drop(index=spec.select(table)[0])
    with pytest.raises(SubsetMismatchError, match="Pass verify=False") as e:
        spec.select(changed)
    assert isinstance(e.value, ValueError)
    assert len(spec.select(changed, verify=False)) == spec.total - 1
    # One id out, another of the same edit type in: the counts agree, the digest does not.
    swapped = table.copy()
    selected = spec.select(table)
    out = selected[0]
    into = next(i for i in table.index[table["in_corpus"]] if i not in selected and "location" in i)
    swapped.loc[out, "frame0_overall"] = 1.0
    swapped.loc[into, ["frame0_overall", "fg_removed_overall", "video_mean_o_score"]] = 9.5
    assert SubsetSpec.create(swapped, "paper", created=None).counts == spec.counts
    with pytest.raises(SubsetMismatchError, match="sha256"):
        spec.subset(swapped)
    assert list(spec.subset(table).index) == list(spec.select(table))


def test_hand_written_spec_without_counts(table: pd.DataFrame) -> None:
    spec = SubsetSpec.from_dict(
        {
            "format": SPEC_FORMAT,
            "format_version": 1,
            "filter": "paper and edit_type == 'time'",
            "population": "all",
        }
    )
    assert spec.filter == parse_filter("paper and edit_type == 'time'")
    assert spec.counts == {}
    assert spec.ids_sha256 is None
    assert len(spec.select(table)) == len(subset_ids(table, spec.filter, population="all"))
    nothing = SubsetSpec(None, population="corpus")
    assert len(nothing.select(table)) == int(table["in_corpus"].sum())


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"format": "other"}, "format"),
        ({"format_version": 2}, "version"),
        ({"extra": 1}, "unexpected key"),
        ({"total": 3}, "add up"),
        ({"seed": -1}, "seed"),
        ({"seed": True}, "seed"),
        ({"limit_per_theme": 0}, "limit_per_theme"),
        ({"population": "everyone"}, "population"),
        ({"ids_sha256": "abc"}, "64 hex"),
        ({"counts": {"time": -1}}, "counts"),
        ({"source": {"root": 3}}, "strings"),
        ({"source": {"url": "x"}}, "root, repo, revision"),
        ({"filter": {"field": "x"}}, "op\\+value"),
        ({"name": 5}, "string"),
    ],
)
def test_bad_spec_dicts(table: pd.DataFrame, change: dict[str, object], match: str) -> None:
    d = SubsetSpec.create(table, PAPER).to_dict()
    d.update(change)
    with pytest.raises(FilterError, match=match):
        SubsetSpec.from_dict(d)


def test_bad_paths_and_sources(table: pd.DataFrame, tmp_path: Path) -> None:
    spec = SubsetSpec.create(table, PAPER)
    with pytest.raises(FilterError, match=r"\.yaml, \.yml or \.json"):
        spec.save(tmp_path / "spec.txt")
    assert SourceRef.from_root("/data/Sparkle", "v1.0") == SourceRef("/data/Sparkle", None, "v1.0")
    assert SourceRef.from_root("hf://datasets/a/b").repo == "a/b"
    assert SourceRef.from_root("hf://datasets/a/b@main/x", "pinned").revision == "pinned"
    with pytest.raises(FilterError, match="Filter"):
        SubsetSpec("paper")  # type: ignore[arg-type]
