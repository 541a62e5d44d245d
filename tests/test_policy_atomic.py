"""Skip policy accounting and atomic writes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sparkle_data.errors import CorruptRecordError, RemoteError, SparkleError
from sparkle_data.io.atomic import atomic_write, atomic_write_bytes, remove_stale_temps
from sparkle_data.policy import SkipReport, SparkleSkipWarning


def _err(n: int) -> CorruptRecordError:
    return CorruptRecordError.invalid(
        "score", float("nan"), rule="must be finite", path="x.jsonl", sample_id=f"s{n}", line=n
    )


def test_strict_reraises() -> None:
    with pytest.raises(CorruptRecordError, match=r"x.jsonl \(sample s1, line 1\)"):
        SkipReport().handle(_err(1))


def test_skip_counts_and_budget() -> None:
    report = SkipReport(on_error="skip", max_skips=2, keep_examples=1)
    report.handle(_err(1), "nan")
    report.handle(_err(2), "nan")
    assert report.total == 2
    assert report.counts["nan"] == 2
    assert len(report.examples) == 1
    assert report.examples[0].line == 1
    with pytest.raises(CorruptRecordError, match="skip budget exhausted"):
        report.handle(_err(3), "nan")
    assert report.to_dict()["total"] == 2


def test_warn_mode_warns() -> None:
    report = SkipReport(on_error="warn")
    with pytest.warns(SparkleSkipWarning, match="line 4"):
        report.handle(_err(4))
    assert str(report) == "1 skipped (CorruptRecordError: 1)"


def test_bad_policy() -> None:
    with pytest.raises(ValueError, match="on_error"):
        SkipReport(on_error="ignore")  # type: ignore[arg-type]


def test_error_hierarchy() -> None:
    err = RemoteError("boom", url="http://x", offset=5, attempts=3)
    assert isinstance(err, ConnectionError)
    assert isinstance(err, SparkleError)
    assert (err.url, err.offset, err.attempts) == ("http://x", 5, 3)


def test_atomic_write_replaces_only_on_success(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "f.bin"
    atomic_write_bytes(target, b"old")

    def killed_mid_write() -> None:
        with atomic_write(target) as f:
            f.write(b"partial")
            raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        killed_mid_write()
    assert target.read_bytes() == b"old"
    assert sorted(os.listdir(target.parent)) == ["f.bin"]
    with atomic_write(target, "w") as t:
        t.write("new\n")
    assert target.read_text() == "new\n"


def test_remove_stale_temps(tmp_path: Path) -> None:
    (tmp_path / ".f.bin.tmp-abc").write_bytes(b"x")
    (tmp_path / "keep.bin").write_bytes(b"x")
    assert remove_stale_temps(tmp_path) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.bin"]
