"""``sparkle-data make-sample``."""

from __future__ import annotations

from pathlib import Path

import pytest

from sparkle_data.cli import main
from sparkle_data.layout import prompts_csv_path


def test_help_teaches(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["make-sample", "--help"])
    assert e.value.code == 0
    text = capsys.readouterr().out
    for needle in ("--edit-types", "--themes", "--shard-size", "--aligned-shards", "--no-bench"):
        assert needle in text
    assert "examples:" in text
    assert "tar -xf" in text


def test_small_build_prints_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "make-sample",
            str(tmp_path),
            "--themes",
            "openve3m",
            "style",
            "--samples",
            "2",
            "--shard-size",
            "20K",
            "--aligned-shards",
            "--preview-count",
            "1",
            "--seed",
            "3",
            "--quiet",
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "openve3m_source_video_part00.tar" in out
    assert "benchmark" in out
    assert "seed 3" in out
    assert (tmp_path / "Sparkle" / prompts_csv_path("style")).is_file()
    assert (tmp_path / "Sparkle-Bench" / "style_bench.csv").is_file()
    assert not (tmp_path / "Sparkle-Bench" / "openve3m_bench.csv").exists()


def test_refusal_is_an_error_exit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "keep.txt").write_text("x")
    assert main(["make-sample", str(tmp_path), "--samples", "1", "-q"]) == 1
    assert "--force" in capsys.readouterr().err


def test_bad_size_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as e:
        main(["make-sample", str(tmp_path), "--shard-size", "lots"])
    assert e.value.code == 2
