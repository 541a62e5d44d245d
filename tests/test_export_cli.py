"""``sparkle-data subset`` and ``sparkle-data stats``."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from sparkle_data.catalog import build_catalog
from sparkle_data.cli import build_parser, main
from sparkle_data.filters import SubsetSpec
from sparkle_data.testing import SampleTreeSummary


@pytest.mark.parametrize("command", ["subset", "stats"])
def test_help_teaches(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        build_parser().parse_args([command, "--help"])
    assert e.value.code == 0
    text = capsys.readouterr().out
    assert "examples:" in text
    assert "sparkle-data " + command in text


def test_subset_kiwi_then_rebuild_from_the_saved_spec(
    sample_tree: SampleTreeSummary, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = str(sample_tree.root)
    out = tmp_path / "kiwi"
    argv = [
        "subset", root, "--edit-types", "location", "time", "--where",
        "video_min_o_score >= 7.5", "--format", "kiwi", "--out", str(out), "--trim-4k1",
        "--no-cache", "-q",
    ]  # fmt: skip
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "selected 12 ids (location 6, time 6)" in text
    df = pd.read_csv(out / "metadata.csv")
    assert len(df) == 12
    spec = SubsetSpec.load(out / "subset.yaml")
    assert spec.counts == {"location": 6, "time": 6}
    assert spec.source.root == root
    assert "video_min_o_score >= 7.5" in (spec.filter.describe() if spec.filter else "")

    again = ["subset", root, "--spec", str(out / "subset.yaml"), "--format", "kiwi"]
    assert main([*again, "--out", str(out), "--trim-4k1", "--no-cache", "-q"]) == 0
    assert "12 already complete" in capsys.readouterr().out
    assert main([*again, "--out", str(tmp_path / "x"), "--preset", "loose", "-q"]) == 2
    assert "--spec fixes the selection; drop --preset" in capsys.readouterr().err


def test_subset_dry_run_and_other_formats(
    sample_tree: SampleTreeSummary, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = str(sample_tree.root)
    assert main(["subset", root, "--preset", "strict", "--dry-run", "--no-cache", "-q"]) == 0
    assert "selected 4 ids" in capsys.readouterr().out
    wds = tmp_path / "wds"
    argv = ["subset", root, "--edit-types", "season", "--format", "hub", "--out", str(wds)]
    assert main([*argv, "--include-mask", "--max-shard-bytes", "100K", "--no-cache", "-q"]) == 0
    listing = json.loads((wds / "shards.json").read_text())
    assert listing["fields"] == ["json", "src.mp4", "tgt.mp4", "mask.npz"]
    assert len(listing["shards"]) > 1
    assert (wds / "README.md").read_text().startswith("---\n")
    assert main([*argv, "--include-mask", "--max-shard-bytes", "100K", "--no-cache", "-q"]) == 0
    assert "already complete" in capsys.readouterr().out  # same command: nothing to redo
    lay = tmp_path / "layout"
    argv = ["subset", root, "--edit-types", "style", "--format", "sparkle", "--out", str(lay)]
    assert main([*argv, "--artifacts", "source_video", "edited_video", "--no-cache", "-q"]) == 0
    sub = build_catalog(lay, cache=False)
    assert int(sub.table["in_corpus"].sum()) == 6
    assert main(["subset", root, "--no-cache", "-q"]) == 2  # --format/--out missing


def test_stats_prints_the_funnel_and_writes_plots(
    sample_tree: SampleTreeSummary, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = str(sample_tree.root)
    assert main(["stats", root, "--no-cache", "-q"]) == 0
    text = capsys.readouterr().out
    lines = text.splitlines()
    assert lines[1].split()[:4] == ["edit_type", "step", "stage", "entered"]
    last = lines[-1].split()
    assert last[:3] == ["all", "3", "edited_video_score"]
    assert int(last[lines[1].split().index("kept")]) == 30  # the paper keeps the corpus
    assert main(["stats", root, "--no-cache", "-q", "--json", "-", "--by", "none"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [r["kept"] for r in doc["rows"]] == [45, 40, 30]
    pytest.importorskip("matplotlib")
    plots = tmp_path / "plots"
    assert main(["stats", root, "--no-cache", "-q", "--plots", str(plots)]) == 0
    assert (plots / "funnel.png").read_bytes()[:4] == b"\x89PNG"
    assert (plots / "funnel.csv").is_file()
    assert sorted(p.name for p in plots.glob("hist_*.png"))
