"""Planner selection (ids, edit types, filter expressions, subset specs), rank dealing and
the failure cap of sparkle_data.regen."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from sparkle_data.catalog import build_catalog
from sparkle_data.filters import SubsetSpec
from sparkle_data.layout import artifact_relpath
from sparkle_data.regen.local import prepare_run, run_local
from sparkle_data.regen.planner import plan_regen
from sparkle_data.testing import make_sample_tree

pytest.importorskip("cv2")


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("regen-select") / "tree"
    make_sample_tree(out, edit_types=["location", "time"], samples=4, preview_count=1,
                     bench=False)
    root = out / "Sparkle"
    for p in (root / "intermediate_data").glob("*source_frame0*.tar"):
        p.unlink()  # every non-preview sample misses source_frame0
    return root


def _missing(root: Path) -> list[str]:
    cat = build_catalog(root, cache=False)
    return [i for i in sorted(cat.corpus().index)
            if not (root / artifact_relpath(i, "source_frame0")).exists()]


def test_selection_by_ids_edit_types_filter_and_subset(tree: Path, tmp_path: Path) -> None:
    missing = _missing(tree)
    assert len(missing) == 6
    every = plan_regen(tree, ["source_frame0"])
    assert [it.sample_id for it in every.items] == missing
    times = plan_regen(tree, ["source_frame0"], edit_types=["time"])
    assert {it.sample_id for it in times.items} == {m for m in missing if "_time_" in m}
    assert len(times.selected) == 4
    one = plan_regen(tree, ["source_frame0"], ids=[missing[0]])
    assert [it.sample_id for it in one.items] == [missing[0]]
    where = plan_regen(tree, ["source_frame0"], where=f"sample_id in {missing[1:3]!r}")
    assert [it.sample_id for it in where.items] == missing[1:3]
    cat = build_catalog(tree, cache=False)
    spec = SubsetSpec.create(cat, None, limit_per_theme=2, seed=3)
    path = spec.save(tmp_path / "subset.json")
    sub = plan_regen(tree, ["source_frame0"], subset=path)
    assert sorted(sub.selected) == sorted(spec.select(cat))
    assert {it.sample_id for it in sub.items} == set(sub.selected) & set(missing)


def test_ranks_keep_their_samples_whatever_the_others_did(tree: Path, tmp_path: Path) -> None:
    """Rank 1 plans after rank 0 finished: it still runs exactly its own samples."""
    root = tmp_path / "Sparkle"
    shutil.copytree(tree, root)
    first = plan_regen(root, ["source_frame0"])
    mine0 = [it.sample_id for it in prepare_run(first, configs=None, retries=0, rank=0,
                                                world=2)[0]]
    mine1 = [it.sample_id for it in prepare_run(first, configs=None, retries=0, rank=1,
                                                world=2)[0]]
    assert sorted(mine0 + mine1) == _missing(tree)
    assert not set(mine0) & set(mine1)
    assert run_local(first, workers=1, progress=False, rank=0, world=2).ok
    later = plan_regen(root, ["source_frame0"])  # rank 0's samples are done now
    assert [it.sample_id for it in later.items] == mine1
    again1 = [it.sample_id for it in prepare_run(later, configs=None, retries=0, rank=1,
                                                 world=2)[0]]
    assert again1 == mine1
    assert prepare_run(later, configs=None, retries=0, rank=0, world=2)[0] == []
    assert run_local(later, workers=1, progress=False, rank=1, world=2).ok
    assert plan_regen(root, ["source_frame0"]).items == ()


def test_failure_cap_stops_the_run(tree: Path, tmp_path: Path) -> None:
    root = tmp_path / "Sparkle"
    shutil.copytree(tree, root)
    plan = plan_regen(root, ["source_frame0"])
    for p in root.glob("*_source_video_part*.tar"):
        p.write_bytes(b"\0" * 10)  # every source video now unreadable
    report = run_local(plan, workers=1, retries=0, max_failures=1, progress=False)
    d = report.to_dict()
    assert d["failed"] == 2
    assert d["not_run"] == len(plan.items) - 2
    assert d["aborted"] == "more than 1 samples failed"
    assert not report.ok
    assert "ABORTED" in report.format()
