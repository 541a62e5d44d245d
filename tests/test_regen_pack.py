"""``regen --pack``: outputs in tar shards with the card's names, atomic and resumable."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from sparkle_data.catalog import build_catalog
from sparkle_data.catalog.verify import verify_catalog
from sparkle_data.layout import INTERMEDIATE_ARTIFACTS, artifact_relpath, member_name
from sparkle_data.regen.config import StageConfig
from sparkle_data.regen.local import run_local
from sparkle_data.regen.manifest import build_manifest, config_models, write_manifest
from sparkle_data.regen.pack import (
    pack_manifest_path,
    pack_staged,
    packed_members,
    read_pack_manifest,
    staged_outputs,
    staging_root,
)
from sparkle_data.regen.planner import plan_regen
from sparkle_data.testing import make_sample_tree

pytest.importorskip("cv2")
CPU = ["source_frame0", "edited_video_canny"]


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("regen-pack") / "tree"
    make_sample_tree(out, edit_types=["location"], samples=5, preview_count=2, bench=False)
    return out / "Sparkle"


def _stripped(pristine: Path, dest: Path) -> tuple[Path, list[str]]:
    """A copy without intermediate shards, the model-made intermediates put back loose: the
    non-preview samples miss exactly the CPU artifacts."""
    root = dest / "Sparkle"
    shutil.copytree(pristine, root)
    for p in (root / "intermediate_data").glob("*.tar"):
        p.unlink()
    cat = build_catalog(pristine, cache=False)
    gone = [
        i for i in sorted(cat.corpus().index)
        if not (root / artifact_relpath(i, "source_frame0")).exists()
    ]
    for sid in gone:
        for a in INTERMEDIATE_ARTIFACTS:
            if a not in CPU:
                path = root / artifact_relpath(sid, a)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(cat.read_bytes(sid, a))
    return root, gone


def _shards(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((root / "intermediate_data").glob("*.tar"))}


def _members_once(root: Path) -> Counter[str]:
    """Every member name of every shard, counted (a duplicate would count 2)."""
    seen: Counter[str] = Counter()
    for p in (root / "intermediate_data").glob("*.tar"):
        with tarfile.open(p) as tf:
            seen.update(m.name for m in tf.getmembers())
    return seen


def _no_leftovers(root: Path) -> None:
    assert staged_outputs(root) == []
    assert not [p for p in root.rglob("*") if ".tmp-" in p.name]


def test_pack_reads_back_through_the_catalog_equal_to_loose(
    pristine: Path, tmp_path: Path
) -> None:
    loose, gone = _stripped(pristine, tmp_path / "loose")
    packed, _ = _stripped(pristine, tmp_path / "packed")
    assert run_local(plan_regen(loose, CPU), workers=1, progress=False).ok
    plan = plan_regen(packed, CPU, pack=True)
    assert plan.pack
    assert "packed into tar shards" in plan.format()
    report = run_local(plan, workers=1, progress=False)
    assert report.ok, report.format()
    assert report.pack is not None
    assert sorted(report.pack["shards"]) == [
        "intermediate_data/location_edited_video_canny_part00.tar",
        "intermediate_data/location_source_frame0_part00.tar",
    ]
    cat = build_catalog(packed, cache=False)
    manifest = packed_members(packed)
    for sid in gone:
        for a in CPU:
            rel = artifact_relpath(sid, a)
            assert not (packed / rel).exists()  # not loose: in a shard
            row = cat.table.loc[sid]
            assert row[f"{a}_shard"] == f"intermediate_data/location_{a}_part00.tar"
            assert cat.read_bytes(sid, a) == (loose / rel).read_bytes()  # byte for byte
            assert manifest[rel].name == member_name(sid, a)
            assert manifest[rel].size == (loose / rel).stat().st_size
    assert all(n == 1 for n in _members_once(packed).values())
    assert verify_catalog(cat).ok
    assert plan_regen(packed, CPU, pack=True).items == ()
    assert plan_regen(packed, CPU).items == ()  # the catalog alone sees them too
    _no_leftovers(packed)


def test_pack_into_another_folder_splits_appends_and_numbers_after_the_root(
    pristine: Path, tmp_path: Path
) -> None:
    root, gone = _stripped(pristine, tmp_path / "r")
    out = tmp_path / "out"
    assert plan_regen(pristine, ["source_frame0"], out=out, pack=True).first_parts[
        "location_source_frame0"
    ] == 1 + max(
        int(p.stem[-2:]) for p in (pristine / "intermediate_data").glob("*source_frame0*.tar")
    )
    first = plan_regen(root, ["source_frame0"], out=out, ids=gone[:1], pack=True)
    assert run_local(first, workers=1, progress=False, shard_bytes=1).ok
    rest = plan_regen(root, ["source_frame0"], out=out, pack=True)
    assert [it.sample_id for it in rest.items] == gone[1:]
    rep = run_local(rest, workers=1, progress=False, shard_bytes=1)
    assert rep.pack is not None
    # one member per shard (the bound is below any member), appended after part00
    assert rep.pack["shards"] == [
        f"intermediate_data/location_source_frame0_part{i:02d}.tar" for i in (1, 2)
    ]
    cat = build_catalog(out, cache=False)
    for sid in gone:
        assert cat.read_bytes(sid, "source_frame0") == build_catalog(
            pristine, cache=False
        ).read_bytes(sid, "source_frame0")
    # a later folder numbering after a root that holds part00..02
    later = tmp_path / "later"
    assert run_local(
        plan_regen(root, ["source_frame0"], out=later, pack=True), workers=1, progress=False
    ).ok
    shutil.rmtree(later)
    plan = plan_regen(out, ["source_frame0"], out=later, pack=True)
    assert plan.first_parts == {"location_source_frame0": 3}


@dataclass(frozen=True)
class _Kill:
    name: str
    manifest: str  # "none" | "pending" | "complete"
    tar: bool
    staged: bool


_KILLS = (
    _Kill("after the workers, before packing", "none", tar=False, staged=True),
    _Kill("after announcing the shard", "pending", tar=False, staged=True),
    _Kill("after renaming the tar", "pending", tar=True, staged=True),
    _Kill("after marking it complete", "complete", tar=True, staged=True),
)


@pytest.mark.parametrize("kill", _KILLS, ids=lambda k: k.name.replace(" ", "-"))
def test_pack_resumes_from_every_kill_point(
    pristine: Path, tmp_path: Path, kill: _Kill
) -> None:
    clean, gone = _stripped(pristine, tmp_path / "clean")
    assert run_local(plan_regen(clean, CPU, pack=True), workers=1, progress=False).ok
    want = _shards(clean)
    root, _ = _stripped(pristine, tmp_path / "killed")
    plan = plan_regen(root, CPU, pack=True)
    for rank in (0, 1):  # two ranks only stage; packing is left to `regen pack`
        rep = run_local(plan, workers=1, progress=False, rank=rank, world=2)
        assert rep.ok
        assert rep.pack == {"staged_only": True, "shards": [], "members": 0}
    assert len(staged_outputs(root)) == 2 * len(gone)
    assert _shards(root) == {}
    # Recreate what a kill at this point leaves.
    done = json.loads(pack_manifest_path(clean).read_text())
    if kill.manifest != "none":
        for entry in done["shards"].values():
            entry["complete"] = kill.manifest == "complete"
        pack_manifest_path(root).write_text(json.dumps(done))
    if kill.tar:
        for name, data in want.items():
            (root / "intermediate_data" / name).write_bytes(data)
    stale = root / "intermediate_data" / ".location_source_frame0_part00.tar.tmp-killed"
    stale.write_bytes(b"half a tar")
    from sparkle_data.cli import main

    code = main(["regen", "run", str(root), "-q", "--pack", "--artifacts", ",".join(CPU),
                 "--allow-empty"])
    assert code == 0
    assert _shards(root) == want  # same shards, same bytes
    assert all(n == 1 for n in _members_once(root).values())
    assert len(_members_once(root)) == 2 * len(gone)
    assert all(e["complete"] for e in read_pack_manifest(root)["shards"].values())
    _no_leftovers(root)
    assert plan_regen(root, CPU, pack=True).items == ()


def test_pack_refuses_a_shard_that_is_not_what_was_announced(
    pristine: Path, tmp_path: Path
) -> None:
    root, _ = _stripped(pristine, tmp_path)
    plan = plan_regen(root, ["source_frame0"], pack=True)
    assert run_local(plan, workers=1, progress=False, rank=0, world=1).ok
    data = read_pack_manifest(root)
    (shard,) = data["shards"]
    data["shards"][shard]["complete"] = False
    data["shards"][shard]["members"][0]["sha256"] = "0" * 64
    pack_manifest_path(root).write_text(json.dumps(data))
    with pytest.raises(ValueError, match="does not hold the members"):
        pack_staged(root)


_SELF_KILL = """
import os, signal, sys
from sparkle_data.regen.pack import pack_staged
n, when = int(sys.argv[2]), sys.argv[3]
real = os.replace
calls = [0]
def replace(src, dst):
    calls[0] += 1
    if calls[0] == n and when == "before":
        os.kill(os.getpid(), signal.SIGKILL)
    real(src, dst)
    if calls[0] == n and when == "after":
        os.kill(os.getpid(), signal.SIGKILL)
os.replace = replace
pack_staged(sys.argv[1])
sys.exit(3)
"""


@pytest.mark.slow
def test_kill_9_at_every_write_of_packing_then_rerun(pristine: Path, tmp_path: Path) -> None:
    """SIGKILL the packer just before and just after each of its atomic renames (pending
    entry, tar, complete entry; and inside the second shard's tar write): the rerun gives
    the same shards, each member once, nothing staged and no temp file left."""
    clean, gone = _stripped(pristine, tmp_path / "clean")
    assert run_local(plan_regen(clean, CPU, pack=True), workers=1, progress=False).ok
    want = _shards(clean)
    staged, _ = _stripped(pristine, tmp_path / "staged")
    assert run_local(plan_regen(staged, CPU, pack=True), workers=1, progress=False,
                     rank=0, world=2).ok
    assert run_local(plan_regen(staged, CPU, pack=True), workers=1, progress=False,
                     rank=1, world=2).ok
    killed = 0
    points = [(n, when) for n in (1, 2, 3) for when in ("before", "after")] + [(5, "before")]
    for n, when in points:
        root = tmp_path / f"k{n}{when}"
        shutil.copytree(staged, root)
        proc = subprocess.run([sys.executable, "-c", _SELF_KILL, str(root), str(n), when],
                              capture_output=True, text=True, check=False)
        assert proc.returncode == -signal.SIGKILL, proc.stderr
        killed += 1
        rep = pack_staged(root)
        assert _shards(root) == want, (n, when, rep)
        assert all(c == 1 for c in _members_once(root).values())
        assert len(_members_once(root)) == 2 * len(gone)
        _no_leftovers(root)
        shutil.rmtree(root)
    assert killed == 7


@pytest.mark.slow
def test_kill_9_during_a_pack_run_then_rerun(pristine: Path, tmp_path: Path) -> None:
    clean, _gone = _stripped(pristine, tmp_path / "a")
    assert run_local(plan_regen(clean, CPU, pack=True), workers=1, progress=False).ok
    root, _ = _stripped(pristine, tmp_path / "b")
    cmd = [sys.executable, "-m", "sparkle_data.cli", "regen", "run", str(root), "--workers",
           "1", "-q", "--pack", "--artifacts", ",".join(CPU)]
    for delay in (1.0, 1.5, 2.0, 2.4):
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    done = subprocess.run([*cmd, "--allow-empty"], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert _shards(root) == _shards(clean)
    assert all(n == 1 for n in _members_once(root).values())
    _no_leftovers(root)


@pytest.mark.slow
def test_ray_runner_packs_identical_shards(pristine: Path, tmp_path: Path) -> None:
    ray = pytest.importorskip("ray")
    from sparkle_data.regen.ray_runner import run_ray

    local_root, gone = _stripped(pristine, tmp_path / "l")
    ray_root, _ = _stripped(pristine, tmp_path / "r")
    assert run_local(plan_regen(local_root, CPU, pack=True), workers=2, progress=False).ok
    ray.init(num_cpus=2, object_store_memory=300 * 1024 * 1024, include_dashboard=False,
             log_to_driver=False)
    try:
        rep = run_ray(plan_regen(ray_root, CPU, pack=True), workers=2, progress=False)
    finally:
        ray.shutdown()
    assert rep.ok, rep.format()
    assert rep.pack is not None
    assert len(rep.pack["shards"]) == 2
    assert _shards(ray_root) == _shards(local_root)
    cat = build_catalog(ray_root, cache=False)
    for sid in gone:
        for a in CPU:
            assert cat.read_bytes(sid, a) == build_catalog(local_root, cache=False).read_bytes(
                sid, a
            )
    _no_leftovers(ray_root)


def test_cli_pack_nothing_to_do_and_clear_errors(
    pristine: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from sparkle_data.cli import main

    root, _gone = _stripped(pristine, tmp_path)
    assert main(["regen", "run", str(root), "-q", "--workers", "0"]) == 2
    assert "--workers 0" in capsys.readouterr().err
    assert main(["regen", "run", str(root), "-q", "--shard-size", "1K"]) == 2
    assert "needs --pack" in capsys.readouterr().err
    assert main(["regen", "pack", str(root), "-q"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sparkle-data regen: error: nothing to pack")
    assert "--allow-empty" in err
    assert main(["regen", "pack", str(root), "-q", "--allow-empty"]) == 0
    assert "--allow-empty" not in capsys.readouterr().err
    assert main(["regen", "run", str(root), "-q", "--pack", "--artifacts", "source_frame0",
                 "--shard-size", "8K"]) == 0
    out = capsys.readouterr().out
    assert "packed 3 members into" in out
    report = json.loads((root / ".regen" / "report.json").read_text())
    assert report["pack"]["members"] == 3
    # nothing left to do: the plan says so and fails, unless told otherwise
    assert main(["regen", "plan", str(root), "-q", "--artifacts", "source_frame0"]) == 2
    assert "nothing to regenerate" in capsys.readouterr().err
    assert main(["regen", "plan", str(root), "-q", "--artifacts", "source_frame0",
                 "--allow-empty"]) == 0
    err = capsys.readouterr().err
    assert err.startswith("sparkle-data regen: nothing to regenerate")
    assert "--allow-empty" not in err
    assert main(["regen", "run", str(root), "-q", "--artifacts", "source_frame0"]) == 2
    assert capsys.readouterr().err.startswith("sparkle-data regen: error: nothing to regenerate")
    assert main(["regen", "run", str(root), "-q", "--artifacts", "no_such_thing"]) == 2
    assert "no_such_thing" in capsys.readouterr().err
    assert not staging_root(root).joinpath("intermediate_data").exists() or not staged_outputs(
        root
    )


def test_manifest_records_config_libraries_and_model_revisions(tmp_path: Path) -> None:
    @dataclass(frozen=True)
    class FakeModelConfig(StageConfig):
        model: str = "org/model"
        revision: str | None = "abc123"
        scorer_model: str = "org/scorer"
        scorer_revision: str | None = None

    assert config_models(FakeModelConfig()) == {"org/model": "abc123", "org/scorer": None}
    from sparkle_data.regen.config import CannyConfig

    m = build_manifest(["edited_video_canny"], {"edited_video_canny": CannyConfig(low=80)})
    entry = m["stages"]["edited_video_canny"]
    assert entry["config"]["low"] == 80
    assert entry["config_type"] == "CannyConfig"
    for lib in ("python", "sparkle-data", "numpy", "av", "ffmpeg-libavcodec", "torch"):
        assert lib in m["libraries"]
    assert m["libraries"]["numpy"]
    path = write_manifest(tmp_path, m)
    extra = json.loads(path.read_text())
    extra["note"] = "kept"
    path.write_text(json.dumps(extra))
    write_manifest(tmp_path, build_manifest(["source_frame0"], {}))
    merged = json.loads(path.read_text())
    assert set(merged["stages"]) == {"edited_video_canny", "source_frame0"}
    assert merged["note"] == "kept"
    with pytest.raises(ValueError, match="were made with"):
        write_manifest(tmp_path, build_manifest(["edited_video_canny"], {}))
