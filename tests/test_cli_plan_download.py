"""`sparkle-data plan-download` against the loopback Hub, with the real huggingface_hub client
(and the real `hf download --dry-run` when the `hf` CLI is installed)."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sparkle_data.cli import main
from sparkle_data.cli.plan_download import plan_download
from sparkle_data.testing import make_sample_tree
from sparkle_data.testing.hub import FakeHub, serve_fake_hub

pytestmark = pytest.mark.network


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("plan")
    summary = make_sample_tree(out, edit_types=["location", "time"], samples=4, bench=False)
    root = Path(summary.root)
    assert (
        main(
            [
                "index",
                str(root),
                "--out",
                str(root / "indexes/sparkle.sparkle-index"),
                "-q",
                "--no-cache",
            ]
        )
        == 0
    )
    return root


@pytest.fixture
def hub(tree: Path) -> Iterator[FakeHub]:
    with serve_fake_hub(FakeHub.from_directory(tree, repo_id="stdKonjac/Sparkle")) as served:
        yield served


def _json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> dict[str, Any]:
    assert main([*argv, "--json", "-"]) == 0
    out: dict[str, Any] = json.loads(capsys.readouterr().out)
    return out


def test_one_theme_one_shard_pair(
    tree: Path, hub: FakeHub, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = _json(
        capsys,
        [
            "plan-download",
            "--edit-types",
            "location",
            "--artifacts",
            "source_video",
            "edited_video",
            "--max-shards",
            "1",
        ],
    )
    paths = {f["path"] for f in plan["files"]}
    assert paths == {
        "prompts/location_train.csv",
        "prompts/location_train_metadata.jsonl",
        *(
            f"intermediate_data/location/{r}.jsonl"
            for r in (
                "edited_frame0_score",
                "edited_frame0_foreground_removed_score",
                "foreground_grounding_r1",
                "foreground_grounding_r2",
                "edited_video_score",
            )
        ),
        "location_source_video_part00.tar",
        "location_edited_video_part00.tar",
    }
    for f in plan["files"]:  # sizes are the Hub's, i.e. the files' own
        assert f["size"] == (tree / f["path"]).stat().st_size
    assert plan["total_bytes"] == sum((tree / p).stat().st_size for p in paths)
    _check_with_hf_cli(hub, plan["command"], paths)


def test_whole_families_use_globs_and_records_can_be_skipped(
    tree: Path, hub: FakeHub, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = _json(
        capsys,
        ["plan-download", "--edit-types", "time", "--artifacts", "source_video", "--no-records"],
    )
    assert "time_source_video_part*.tar" in plan["patterns"]
    paths = {f["path"] for f in plan["files"]}
    assert not any(p.startswith("intermediate_data/") for p in paths)
    assert paths >= {"prompts/time_train.csv", "time_source_video_part00.tar"}
    _check_with_hf_cli(hub, plan["command"], paths)


def test_where_keeps_only_shards_holding_selected_ids(
    hub: FakeHub, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = _json(
        capsys,
        [
            "plan-download",
            "--edit-types",
            "location",
            "--artifacts",
            "source_video",
            "--where",
            "id in ['Sparkle_location_000000']",
        ],
    )
    assert plan["selected_ids"] == 1
    shards = [f["path"] for f in plan["files"] if f["why"] == "shard"]
    assert shards == ["location_source_video_part00.tar"]


def test_human_output_and_errors(hub: FakeHub, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan-download", "--edit-types", "location", "--no-records"]) == 0
    out = capsys.readouterr().out
    assert "total:" in out
    assert "hf download stdKonjac/Sparkle --repo-type dataset --include" in out
    assert main(["plan-download", "--repo", "stdKonjac/Sparkl"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sparkle-data plan-download: error: no dataset repo 'stdKonjac/Sparkl'")
    assert "Did you mean 'stdKonjac/Sparkle'?" in err
    assert main(["plan-download", "--where", "subtheme in ['nope']", "--edit-types", "time"]) == 2
    err = capsys.readouterr().err
    assert "warning: 1 values of subtheme appear in no row" in err or "selected no sample" in err
    with pytest.raises(SystemExit):
        main(["plan-download", "--artifacts", "source_vidoe"])
    assert "Did you mean 'source_video'?" in capsys.readouterr().err


def test_library_function(hub: FakeHub) -> None:
    plan = plan_download(edit_types=["location"], records=False)
    assert plan.total_bytes == sum(f.size for f in plan.files) > 0
    assert plan.command("/data/Sparkle").endswith("--local-dir /data/Sparkle")


def _check_with_hf_cli(hub: FakeHub, command: str, expected: set[str]) -> None:
    """The printed command, run by the real `hf` CLI with --dry-run, lists exactly the plan."""
    if shutil.which("hf") is None:
        return
    argv = [*shlex.split(command), "--dry-run", "--json"]
    env = {**os.environ, **hub.client_env()}
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    listed = {row["file"] for row in json.loads(done.stdout)}
    assert listed == expected
