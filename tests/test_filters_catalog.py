"""Filters, funnel, plots and specs on the catalog of a synthetic tree (built once here)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sparkle_data.catalog import Catalog, build_catalog
from sparkle_data.catalog.summary import summarize_catalog
from sparkle_data.filters import (
    LOOSE,
    PAPER,
    STRICT,
    FilterError,
    SubsetSpec,
    field,
    funnel_table,
    parse_filter,
    write_stats,
)
from sparkle_data.readers.grounding import GroundingR2Record, load_grounding_r1, load_grounding_r2
from sparkle_data.testing import STAGES, SampleTreeSummary, make_sample_tree

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> SampleTreeSummary:
    return make_sample_tree(
        tmp_path_factory.mktemp("filters"), preset="tiny", samples=12, seed=0, bench=False
    )


@pytest.fixture(scope="module")
def catalog(tree: SampleTreeSummary) -> Catalog:
    return build_catalog(tree.root, cache=False)


def _rejected(tree: SampleTreeSummary, stage: str | None = None) -> set[str]:
    return {
        i
        for s in tree.edit_types
        for st, ids in s.rejected_ids.items()
        if stage is None or st == stage
        for i in ids
    }


def _corpus(tree: SampleTreeSummary) -> set[str]:
    return {i for s in tree.edit_types for i in s.corpus_ids}


def test_paper_keeps_exactly_the_corpus(tree: SampleTreeSummary, catalog: Catalog) -> None:
    r = PAPER.apply(catalog)
    assert set(r.ids) == _corpus(tree) == set(catalog.corpus().index)
    assert r.unknown == 0
    assert r.failed == len(_rejected(tree))
    assert bool(r.mask.loc[list(_corpus(tree))].all())
    assert set((~PAPER).apply(catalog).ids) == _rejected(tree)
    # Alone, each rule fails its own rejects by value and the ids stopped earlier as missing.
    f0, fg, video = r.rules
    assert f0.failed == len(_rejected(tree, STAGES[0]))
    assert f0.missing == 0
    assert fg.failed == len(_rejected(tree, STAGES[1]))
    assert fg.missing == len(_rejected(tree, STAGES[0]))
    assert video.failed == len(_rejected(tree, STAGES[2]))
    assert video.missing == len(_rejected(tree, STAGES[0])) + len(_rejected(tree, STAGES[1]))


def test_each_reject_fails_its_stage_and_passes_the_earlier_ones(
    tree: SampleTreeSummary, catalog: Catalog
) -> None:
    t = catalog.table
    rules = dict(PAPER.stages())
    for k, stage in enumerate(STAGES):
        rows = t.loc[sorted(_rejected(tree, stage))]
        truth = rules[stage].truth(rows)
        assert truth.false.all(), stage  # a real score below the threshold, not a missing one
        for earlier in STAGES[:k]:
            assert rules[earlier].truth(rows).true.all()


def test_funnel_matches_the_records(tree: SampleTreeSummary, catalog: Catalog) -> None:
    f = funnel_table(catalog)
    seq = f["removed_in_sequence"].to_numpy()
    assert (seq == f["observed_rejected"].to_numpy()).all()
    assert (f["removed_in_sequence_missing"] == 0).all()
    summary = summarize_catalog(catalog)["edit_types"]
    for s in tree.edit_types:
        rows = f[f["edit_type"] == s.edit_type]
        assert list(rows["removed_in_sequence"]) == [len(s.rejected_ids[st]) for st in STAGES]
        assert int(rows["kept"].iloc[-1]) == len(s.corpus_ids)
        assert int(rows["entered"].iloc[0]) == len(s.corpus_ids) + sum(
            len(v) for v in s.rejected_ids.values()
        )
        assert summary[s.edit_type]["rejected"] == int(rows["removed_in_sequence"].sum())
    total = f[f["edit_type"] == "all"]
    assert int(total["kept"].iloc[-1]) == len(_corpus(tree))


def test_stricter_and_looser_variants(tree: SampleTreeSummary, catalog: Catalog) -> None:
    paper = set(PAPER.apply(catalog).ids)
    strict = STRICT.apply(catalog)
    assert set(strict.ids) < paper
    loose = LOOSE.apply(catalog)
    assert set(loose.ids) >= paper
    # Rejected ids have no later score: looser thresholds cannot bring them back.
    assert set(loose.ids) == paper
    assert loose.unknown > 0
    custom = PAPER.with_thresholds(video_mean_o=8.3).apply(catalog)
    assert set(custom.ids) <= paper
    assert custom.rules[2].rule == "video_mean_o_score >= 8.3"


def test_non_finite_scores_in_a_catalog_fail(catalog: Catalog) -> None:
    t = catalog.table.copy()
    a, b, c = list(catalog.corpus().index[:3])
    t.loc[a, "video_mean_o_score"] = math.nan
    t.loc[b, "frame0_overall"] = math.inf
    t.loc[c, "fg_removed_overall"] = -math.inf
    r = PAPER.apply(t)
    assert {a, b, c}.isdisjoint(r.ids)
    assert r.kept == len(catalog.corpus()) - 3
    assert r.unknown == 3
    assert {a, b, c}.isdisjoint((~PAPER).apply(t).ids)
    f = funnel_table(t, by=None)
    assert list(f["removed_in_sequence_missing"]) == [1, 1, 1]


def test_expressions_on_the_catalog(catalog: Catalog) -> None:
    corpus = catalog.corpus()
    urban = parse_filter("paper and edit_type == 'location' and subtheme in ['urban', 'urbn']")
    r = urban.apply(catalog)
    expected = corpus[(corpus.edit_type == "location") & (corpus.subtheme == "urban")]
    assert set(r.ids) == set(expected.index)
    assert r.kept > 0
    assert any("'urbn'" in w for w in r.warnings)
    scene = str(expected["scene"].iloc[0])
    by_scene = (PAPER & field("scene").isin([scene])).apply(catalog)
    assert set(by_scene.ids) == set(corpus.index[corpus.scene == scene])
    labels = parse_filter("grounding_num_labels <= 3 and grounding_empty_box_share <= 0.05")
    rows = labels.apply(catalog).table
    assert (rows["grounding_num_labels"] <= 3).all()
    assert (rows["grounding_empty_box_share"] <= 0.05).all()
    keyword = field("prompt").matches(".", ignore_case=True).apply(catalog)
    assert keyword.kept == len(corpus)  # only corpus rows carry a prompt
    assert keyword.rules[0].missing == len(catalog.rejected())


def test_write_stats_writes_valid_pngs(catalog: Catalog, tmp_path: Path) -> None:
    from PIL import Image

    pytest.importorskip("matplotlib")
    files = write_stats(catalog, tmp_path)
    names = sorted(p.name for p in files.paths)
    assert names == [
        "funnel.csv",
        "funnel.json",
        "funnel.png",
        "hist_fg_removed_overall.png",
        "hist_frame0_overall.png",
        "hist_video_mean_o_score.png",
        "hist_video_min_o_score.png",
    ]
    for p in files.paths:
        assert p.stat().st_size > 0
        if p.suffix == ".png":
            assert p.read_bytes()[:8] == PNG_MAGIC
            with Image.open(p) as im:
                im.verify()
            with Image.open(p) as im:
                im.load()
                assert im.format == "PNG"
                assert im.width >= 400
                assert im.height >= 300
                # Not a blank canvas: a drawn plot has many distinct colors.
                assert len(im.convert("RGB").getcolors(maxcolors=100_000) or []) > 20
    doc = json.loads(files.funnel_json.read_text())
    assert doc["rows"][-1]["kept"] == len(catalog.corpus())
    back = pd.read_csv(files.funnel_csv)
    assert list(back.columns) == list(files.funnel.columns)
    assert not list(tmp_path.glob(".*tmp*"))


def test_subset_spec_on_the_catalog(catalog: Catalog, tmp_path: Path) -> None:
    pytest.importorskip("yaml")
    spec = SubsetSpec.create(
        catalog, PAPER & ~field("edit_type").isin(["openve3m"]), limit_per_theme=5, seed=2
    )
    assert spec.source.root == catalog.root
    assert spec.counts == {"location": 5, "season": 5, "style": 5, "time": 5}
    again = SubsetSpec.load(spec.save(tmp_path / "subset.yaml"))
    assert again.select(catalog) == spec.select(catalog)
    rebuilt = build_catalog(catalog.root, cache=False, index_shards=False)
    assert again.select(rebuilt) == spec.select(catalog)
    rows = again.subset(catalog)
    assert rows["in_corpus"].all()
    assert len(rows) == 20


def _box_areas(root: Path, record: str) -> dict[str, tuple[float, float]]:
    """``(max, mean)`` box area per id, from the record readers, in numpy."""
    out: dict[str, tuple[float, float]] = {}
    for path in sorted((root / "intermediate_data").glob(f"*/{record}.jsonl")):
        with path.open("rb") as f:
            for r in load_grounding_r1(f) if record.endswith("r1") else load_grounding_r2(f):
                slots = r.frame_objects if isinstance(r, GroundingR2Record) else (r.round1_objects,)
                boxes = np.array([o.bbox for s in slots for o in s if o.bbox is not None])
                area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]) / 1e6
                out[r.sample_id] = (float(area.max()), float(area.mean()))
    return out


def test_box_area_columns_and_filters(sample_tree: SampleTreeSummary) -> None:
    cat = build_catalog(sample_tree.root, cache=False, index_shards=False)
    t = cat.table
    for prefix, record in (
        ("grounding_", "foreground_grounding_r2"),
        ("grounding_r1_", "foreground_grounding_r1"),
    ):
        largest, mean = t[f"{prefix}max_box_area"], t[f"{prefix}mean_box_area"]
        assert largest.dtype == mean.dtype == np.float64
        expected = _box_areas(sample_tree.root, record)
        assert len(expected) > 10
        has = t[f"in_{record}"]
        assert set(t.index[has]) == set(expected)
        assert largest[~has].isna().all()  # no record: NaN
        got = t.loc[list(expected), [f"{prefix}max_box_area", f"{prefix}mean_box_area"]]
        np.testing.assert_allclose(got.to_numpy(), np.array(list(expected.values())), rtol=1e-12)
        assert ((largest[has] > 0) & (largest[has] <= 1) & (mean[has] <= largest[has])).all()

    areas = _box_areas(sample_tree.root, "foreground_grounding_r2")
    threshold = float(np.median(list(areas.values()), axis=0)[0])
    below = {sid for sid, (m, _) in areas.items() if m <= threshold}
    assert 0 < len(below) < len(areas)
    for f in (
        field("max_box_area") <= threshold,
        parse_filter(f"max_box_area <= {threshold!r}"),
        parse_filter(f"grounding_max_box_area <= {threshold!r}"),
    ):
        r = f.apply(cat)
        assert set(r.ids) == below
        assert r.unknown == len(t) - len(areas)  # no grounding record: unknown, not kept
    paper_small = parse_filter(f"paper and max_box_area <= {threshold!r} and mean_box_area > 0")
    assert set(paper_small.apply(cat).ids) == below & set(cat.corpus().index)
    # Without probing, a frame-count rule says how to get the column.
    with pytest.raises(FilterError, match="probe_videos"):
        parse_filter("frames >= 81").apply(cat)
