"""Resumable exports: a killed run leaves no partial file, a rerun finishes it identically."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sparkle_data.catalog import Catalog, build_catalog
from sparkle_data.export import ExportError, _writer, export_kiwi, export_sparkle, export_wds
from sparkle_data.export._resume import MANIFEST_NAME, STATE_DIR
from sparkle_data.testing import SampleTreeSummary


class BoomError(RuntimeError):
    pass


@pytest.fixture(scope="module")
def catalog(sample_tree: SampleTreeSummary) -> Catalog:
    return build_catalog(sample_tree.root, cache=False)


@pytest.fixture(scope="module")
def ids(catalog: Catalog) -> list[str]:
    return [str(i) for i in catalog.corpus().index]


def tree(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` by relative path (the export state folder left out)."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and STATE_DIR not in p.parts
    }


def fail_on_call(monkeypatch: pytest.MonkeyPatch, n: int) -> list[int]:
    """Make the ``n``-th member/file copy raise halfway through its bytes."""
    calls = [0]
    real = _writer.copy_stream

    def copy(src: Any, dst: Any, size: int, *, where: str) -> None:
        calls[0] += 1
        if calls[0] == n:
            dst.write(src.read(size // 2))
            raise BoomError(f"killed while copying {where}")
        real(src, dst, size, where=where)

    monkeypatch.setattr(_writer, "copy_stream", copy)
    return calls


EXPORTS: dict[str, tuple[Callable[..., Any], int]] = {  # the export, the copy that fails
    "wds": (lambda c, i, o, **kw: export_wds(c, i, o, max_shard_bytes=200_000, **kw), 20),
    "kiwi": (lambda c, i, o, **kw: export_kiwi(c, i, o, stage3=True, **kw), 7),
    "sparkle": (lambda c, i, o, **kw: export_sparkle(c, i, o, shard_bytes=100_000, **kw), 7),
}


@pytest.mark.parametrize("kind", sorted(EXPORTS))
def test_interrupted_export_resumes_to_identical_output(
    kind: str,
    catalog: Catalog,
    ids: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    export, fail_at = EXPORTS[kind]
    reference = export(catalog, ids, tmp_path / "ref", progress=False, workers=1)
    out = tmp_path / "out"
    with monkeypatch.context() as m:
        fail_on_call(m, fail_at)
        with pytest.raises(BoomError):
            export(catalog, ids, out, progress=False, workers=1)
    partial = tree(out)
    assert MANIFEST_NAME not in partial  # not marked complete
    assert not [p for p in out.rglob("*") if ".tmp-" in p.name]  # no temp file left
    expected = tree(reference.out)
    for rel, data in partial.items():  # every visible file is complete and final
        assert data == expected[rel], rel
    journal = (out / STATE_DIR / "journal.jsonl").read_text().splitlines()
    assert 0 < len(journal) < reference.units

    again = export(catalog, ids, out, progress=False, workers=3)
    assert again.skipped == len(journal)
    assert again.written == reference.units - len(journal)
    assert tree(out) == expected
    assert not (out / STATE_DIR).exists()

    done = export(catalog, ids, out, progress=False)  # complete: verified, nothing written
    assert (done.written, done.skipped) == (0, reference.units)


def test_interrupted_threaded_export_journals_what_finished(
    catalog: Catalog, ids: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = export_kiwi(catalog, ids, tmp_path / "ref", progress=False, workers=1)
    out = tmp_path / "out"
    with monkeypatch.context() as m:
        fail_on_call(m, 25)
        with pytest.raises(BoomError):
            export_kiwi(catalog, ids, out, progress=False, workers=4)
    journal = (out / STATE_DIR / "journal.jsonl").read_text().splitlines()
    done = {f for line in journal for f in json.loads(line)["files"]}
    expected = tree(reference.out)
    visible = tree(out)
    assert done <= set(visible)  # pairs that finished before the error are journaled
    for rel, data in visible.items():  # a pair cut short may leave whole files, never parts
        assert data == expected[rel], rel
    again = export_kiwi(catalog, ids, out, progress=False, workers=4)
    assert again.skipped == len(journal)
    assert tree(out) == expected


def test_damaged_files_are_redone_and_torn_journal_lines_ignored(
    catalog: Catalog, ids: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "wds"
    first = export_wds(catalog, ids, out, max_shard_bytes=200_000, progress=False)
    expected = tree(out)
    shard = out / "shard-000001.tar"
    data = bytearray(shard.read_bytes())
    data[1000] ^= 0xFF  # same size, other bytes: only sha256 notices
    shard.write_bytes(bytes(data))
    assert (
        export_wds(
            catalog, ids, out, max_shard_bytes=200_000, progress=False, verify="size"
        ).written
        == 0
    )
    repaired = export_wds(catalog, ids, out, max_shard_bytes=200_000, progress=False)
    assert (repaired.written, repaired.skipped) == (1, first.units - 1)
    assert tree(out) == expected

    out2 = tmp_path / "wds2"
    with monkeypatch.context() as m:
        fail_on_call(m, 40)
        with pytest.raises(BoomError):
            export_wds(catalog, ids, out2, max_shard_bytes=200_000, progress=False, workers=1)
    journal = out2 / STATE_DIR / "journal.jsonl"
    lines = journal.read_bytes().splitlines(keepends=True)
    journal.write_bytes(b"".join(lines[:-1]) + lines[-1][: len(lines[-1]) // 2])  # torn line
    again = export_wds(catalog, ids, out2, max_shard_bytes=200_000, progress=False)
    assert again.skipped == len(lines) - 1
    assert tree(out2) == expected


def test_folder_holding_another_plan_is_refused(
    catalog: Catalog, ids: list[str], tmp_path: Path
) -> None:
    out = tmp_path / "wds"
    export_wds(catalog, ids[:4], out, progress=False)
    with pytest.raises(ExportError, match="another plan"):
        export_wds(catalog, ids[:5], out, progress=False)
    with pytest.raises(ExportError, match="another plan"):
        export_kiwi(catalog, ids[:4], out, progress=False)
    report = export_kiwi(catalog, ids[:4], out, progress=False, overwrite=True)
    assert report.written == 4
    assert not list(out.glob("shard-*.tar"))  # the other export's files are gone
    assert json.loads((out / MANIFEST_NAME).read_text())["kind"] == "kiwi"


_CHILD = """
import sys, time
from sparkle_data.catalog import build_catalog
from sparkle_data.export import _writer, export_wds
real = _writer.copy_stream
def slow(src, dst, size, *, where):
    real(src, dst, size, where=where)
    time.sleep(0.05)
_writer.copy_stream = slow
catalog = build_catalog(sys.argv[1], cache=False)
ids = list(catalog.corpus().index)
export_wds(catalog, ids, sys.argv[2], max_shard_bytes=200_000, progress=False, workers=1)
"""


def test_sigkill_mid_export_then_rerun(
    sample_tree: SampleTreeSummary, catalog: Catalog, ids: list[str], tmp_path: Path
) -> None:
    reference = export_wds(catalog, ids, tmp_path / "ref", max_shard_bytes=200_000, progress=False)
    out = tmp_path / "out"
    child = subprocess.Popen([sys.executable, "-c", _CHILD, str(sample_tree.root), str(out)])
    journal = out / STATE_DIR / "journal.jsonl"
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and child.poll() is None:
            if journal.exists() and journal.read_bytes().count(b"\n") >= 2:
                break
            time.sleep(0.02)
        assert child.poll() is None, "the export finished before it could be killed"
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=30)
    expected = tree(reference.out)
    visible = {k: v for k, v in tree(out).items() if ".tmp-" not in k}
    assert MANIFEST_NAME not in visible
    for rel, data in visible.items():
        assert data == expected[rel], rel
    again = export_wds(catalog, ids, out, max_shard_bytes=200_000, progress=False)
    assert again.skipped >= 2
    assert tree(out) == expected  # temp files of the killed run are gone too
