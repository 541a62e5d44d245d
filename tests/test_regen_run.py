"""Planner, runners and resumability of sparkle_data.regen on synthetic trees."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sparkle_data.catalog import build_catalog
from sparkle_data.catalog.verify import verify_catalog
from sparkle_data.layout import INTERMEDIATE_ARTIFACTS, artifact_relpath
from sparkle_data.readers.video import read_video
from sparkle_data.regen.calibrate import calibrate_canny, edge_counts, reference_edges
from sparkle_data.regen.local import run_local
from sparkle_data.regen.planner import plan_regen
from sparkle_data.testing import make_sample_tree
from sparkle_data.testing.synth.artifacts import canny_config
from sparkle_data.testing.synth.preset import get_sample_preset

pytest.importorskip("cv2")
CPU = ["source_frame0", "edited_video_canny"]


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("regen") / "tree"
    make_sample_tree(out, edit_types=["location"], samples=5, preview_count=2, bench=False)
    return out / "Sparkle"


def _stripped(pristine: Path, dest: Path, keep_models: bool) -> tuple[Path, list[str]]:
    """Copy without intermediate shards: every intermediate of the non-preview samples is
    gone; with ``keep_models`` the model-made ones are put back loose."""
    root = dest / "Sparkle"
    shutil.copytree(pristine, root)
    for p in (root / "intermediate_data").glob("*.tar"):
        p.unlink()
    cat = build_catalog(pristine, cache=False)
    ids = sorted(cat.corpus().index)
    gone = [i for i in ids if not (root / artifact_relpath(i, "source_frame0")).exists()]
    if keep_models:
        for sid in gone:
            for a in INTERMEDIATE_ARTIFACTS:
                if a not in CPU:
                    path = root / artifact_relpath(sid, a)
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_bytes(cat.read_bytes(sid, a))
    return root, gone


def test_planner_finds_exactly_the_stripped_samples(pristine: Path, tmp_path: Path) -> None:
    root, gone = _stripped(pristine, tmp_path, keep_models=False)
    assert len(gone) == 3
    plan = plan_regen(root, list(INTERMEDIATE_ARTIFACTS))
    for a in INTERMEDIATE_ARTIFACTS:
        assert plan.missing_ids(a) == gone, a
    assert {it.sample_id for it in plan.items} == set(gone)
    from sparkle_data.regen.registry import get_stage

    for it in plan.items:  # whichever model stages this version runs: dependency order
        assert it.stages[0] == "source_frame0"
        assert len(set(it.stages)) == len(it.stages)
        have = {r.artifact for r in it.inputs}
        for name in it.stages:
            assert set(get_stage(name).inputs) <= have, (name, have)
            have |= set(get_stage(name).outputs)
    blocked = {(b.sample_id, b.artifact) for b in plan.blocked}
    if not get_stage("source_video_mask").available:
        assert (gone[0], "edited_video_canny") in blocked
        assert any("needs a model" in b.reason for b in plan.blocked)
    assert "source_frame0" in plan.format()


def test_rebuild_equals_originals_and_verify_passes(pristine: Path, tmp_path: Path) -> None:
    root, gone = _stripped(pristine, tmp_path, keep_models=True)
    plan = plan_regen(root, CPU)
    assert [it.sample_id for it in plan.items] == gone
    assert all(it.stages == tuple(CPU) for it in plan.items)
    cfg = {"edited_video_canny": canny_config(get_sample_preset("tiny"))}
    report = run_local(plan, workers=1, configs=cfg, progress=False)
    assert report.ok, report.format()
    orig = build_catalog(pristine, cache=False)
    for sid in gone:
        for a in CPU:  # same function, same settings as make-sample: same bytes
            assert (root / artifact_relpath(sid, a)).read_bytes() == orig.read_bytes(sid, a)
    rep = verify_catalog(build_catalog(root, cache=False))
    assert rep.ok, str(rep)
    assert plan_regen(root, CPU).items == ()
    assert not list(root.rglob("*.tmp-*"))


def test_canny_with_default_settings_matches_by_edge_f1(pristine: Path, tmp_path: Path) -> None:
    root, gone = _stripped(pristine, tmp_path, keep_models=True)
    report = run_local(plan_regen(root, ["edited_video_canny"]), workers=1, progress=False)
    assert report.ok
    orig = build_catalog(pristine, cache=False)
    f1s = []
    for sid in gone:
        ref = reference_edges(read_video(orig.read_bytes(sid, "edited_video_canny")))
        new = reference_edges(read_video((root / artifact_relpath(sid, "edited_video_canny"))
                                         .read_bytes()))
        c = [edge_counts(n, r) for n, r in zip(new, ref, strict=True)]
        total = c[0]
        for x in c[1:]:
            total = total + x
        f1s.append(total.f1)
    print(f"canny rebuilt with default crf vs tree: edge F1 (1-px) = {[round(f, 4) for f in f1s]}")
    assert min(f1s) > 0.95


def test_calibrate_finds_the_tree_settings(pristine: Path) -> None:
    cat = build_catalog(pristine, cache=False)
    res = calibrate_canny(cat, grid={"low": (50, 100), "high": (200, 300)}, frames_per_sample=3)
    assert (res.best["low"], res.best["high"]) == (100, 200)
    assert res.best["f1"] > 0.95
    assert len(res.samples) == 5


@pytest.mark.slow
def test_kill_9_then_rerun_gives_identical_bytes(pristine: Path, tmp_path: Path) -> None:
    clean, gone = _stripped(pristine, tmp_path / "a", keep_models=True)
    assert run_local(plan_regen(clean, CPU), workers=1, progress=False).ok
    root, _ = _stripped(pristine, tmp_path / "b", keep_models=True)
    cmd = [sys.executable, "-m", "sparkle_data.cli", "regen", "run", str(root), "--workers",
           "1", "-q", "--artifacts", ",".join(CPU)]
    for delay in (1.0, 1.6, 2.2):
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    # Whatever the kills hit, also leave the state of a kill inside a write: the final file
    # absent, a half-written temp sibling beside it.
    last = root / artifact_relpath(gone[-1], "edited_video_canny")
    last.unlink(missing_ok=True)
    last.parent.mkdir(parents=True, exist_ok=True)
    (last.parent / f".{last.name}.tmp-killed").write_bytes(b"half a file")
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    for sid in gone:
        for a in CPU:
            p = artifact_relpath(sid, a)
            assert (root / p).read_bytes() == (clean / p).read_bytes()
    assert not [p for p in root.rglob("*") if ".tmp-" in p.name]


@pytest.mark.slow
def test_ray_and_local_give_identical_outputs(pristine: Path, tmp_path: Path) -> None:
    ray = pytest.importorskip("ray")
    from sparkle_data.regen.ray_runner import run_ray

    local_root, gone = _stripped(pristine, tmp_path / "l", keep_models=True)
    ray_root, _ = _stripped(pristine, tmp_path / "r", keep_models=True)
    assert run_local(plan_regen(local_root, CPU), workers=2, progress=False).ok
    ray.init(num_cpus=2, object_store_memory=300 * 1024 * 1024, include_dashboard=False,
             log_to_driver=False)
    try:
        rep = run_ray(plan_regen(ray_root, CPU), workers=2, progress=False)
    finally:
        ray.shutdown()
    assert rep.ok, rep.format()
    for sid in gone:
        for a in CPU:
            p = artifact_relpath(sid, a)
            assert (ray_root / p).read_bytes() == (local_root / p).read_bytes()


def test_regen_new_builds_a_user_tree(pristine: Path, tmp_path: Path) -> None:
    from sparkle_data.regen.newdata import make_user_tree

    videos = tmp_path / "videos"
    videos.mkdir()
    cat = build_catalog(pristine, cache=False)
    sid = sorted(cat.corpus().index)[0]
    (videos / "clip.mp4").write_bytes(cat.read_bytes(sid, "source_video"))
    csv = tmp_path / "p.csv"
    csv.write_text('prompt,src_video,tgt_video,task\n"Make it snow.",clip.mp4,,mine\n')
    res = make_user_tree(videos, csv, tmp_path / "mine", edit_type="season")
    assert res.ids == ("Sparkle_season_900000",)
    user = build_catalog(tmp_path / "mine", cache=False)
    assert list(user.corpus().index) == ["Sparkle_season_900000"]
    plan = plan_regen(tmp_path / "mine", ["source_frame0"])
    assert run_local(plan, workers=1, progress=False).ok
    np.testing.assert_array_equal(
        read_video(cat.read_bytes(sid, "source_video"), indices=[0])[0],
        np.asarray(__import__("PIL.Image").Image.open(
            tmp_path / "mine" / artifact_relpath("Sparkle_season_900000", "source_frame0"))),
    )


def test_failed_sample_is_reported_and_never_blocks_others(
    pristine: Path, tmp_path: Path
) -> None:
    root, gone = _stripped(pristine, tmp_path, keep_models=True)
    (root / artifact_relpath(gone[0], "source_video_mask")).write_bytes(b"not an npz")
    report = run_local(plan_regen(root, CPU), workers=1, progress=False)
    d = report.to_dict()
    assert d["failed"] == 1
    assert d["ok"] == len(gone) - 1
    assert d["failures"][0]["sample_id"] == gone[0]
    assert d["failures"][0]["attempts"] == 2  # one retry
    assert "Mask" in d["failures"][0]["error"]
    for sid in gone[1:]:
        assert (root / artifact_relpath(sid, "edited_video_canny")).is_file()
    assert not (root / artifact_relpath(gone[0], "edited_video_canny")).exists()


def test_cli_plan_run_and_nothing_to_do(pristine: Path, tmp_path: Path) -> None:
    from sparkle_data.cli import main

    root, gone = _stripped(pristine, tmp_path, keep_models=True)
    out = tmp_path / "plan.json"
    assert main(["regen", "plan", str(root), "-q", "--json", str(out)]) == 0
    assert '"to_run": 3' in out.read_text()
    assert main(["regen", str(root), "-q", "--artifacts", "source_frame0"]) == 0
    assert (root / ".regen" / "manifest.json").is_file()
    assert (root / ".regen" / "report.json").is_file()
    assert main(["regen", "run", str(root), "-q", "--artifacts", "source_frame0"]) == 2
    assert main(["regen", "run", str(root), "-q", "--config", "edited_video_canny.nope=1"]) == 2
    assert main(["regen", "run", str(root), "-q", "--ids", gone[0],
                 "--config", "edited_video_canny.low=80"]) == 0
    assert main(["regen", "calibrate-canny", str(root), "-q", "--limit", "2", "--frames", "2",
                 "--grid", "low=50,100", "high=200"]) == 0


def test_a_sample_that_fails_once_is_retried_and_resumes(
    pristine: Path, tmp_path: Path
) -> None:
    """One execution path: the retry is a second stage-by-stage pass over the failed samples,
    which skips what the first pass wrote and keeps its results (attempts, written)."""
    import dataclasses

    from sparkle_data.regen.registry import get_stage, register_stage
    from sparkle_data.regen.worker import RunContext, run_items

    root, gone = _stripped(pristine, tmp_path, keep_models=True)
    plan = plan_regen(root, CPU)
    canny = get_stage("edited_video_canny")
    assert canny.run is not None
    calls: list[str] = []

    def flaky(inputs: Any, config: Any, model: Any) -> Any:
        calls.append(inputs.sample_id)
        if inputs.sample_id == gone[0] and calls.count(gone[0]) == 1:
            raise OSError("transient")
        return canny.run(inputs, config, model)  # type: ignore[misc]

    register_stage(dataclasses.replace(canny, run=flaky, run_batch=None), replace=True)
    try:
        results = run_items(plan.items, RunContext(str(root), str(root), retries=1))
    finally:
        register_stage(canny, replace=True)
    by_id = {r.sample_id: r for r in results}
    assert [r.sample_id for r in results] == [it.sample_id for it in plan.items]
    assert all(r.ok and r.error is None for r in results)
    assert by_id[gone[0]].attempts == 2
    assert {by_id[s].attempts for s in gone[1:]} == {1}
    assert by_id[gone[0]].written == ["source_frame0", "edited_video_canny"]
    assert by_id[gone[0]].skipped == ["source_frame0"]  # the retry resumed
    assert calls.count(gone[0]) == 2
    assert all(calls.count(s) == 1 for s in gone[1:])
    for sid in gone:
        assert (root / artifact_relpath(sid, "edited_video_canny")).is_file()
