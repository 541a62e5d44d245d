"""`view`, `report` and `grid` treat a ROOT without Sparkle data like every other command:
one line, exit 2, and the nearest folder that holds a dataset (before any server starts)."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest

from sparkle_data.cli import main
from sparkle_data.testing import SampleTreeSummary, make_sample_tree

COMMANDS = {
    "view": [],
    "report": ["--out", "report-out"],
    "grid": ["Sparkle_location_000000", "--out", "grid.png"],
}


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> SampleTreeSummary:
    out = tmp_path_factory.mktemp("view-root")
    return make_sample_tree(out, edit_types=["location"], samples=2, bench=False)


def _run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_missing_root_exits_2(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = _run([command, "does-not-exist", *COMMANDS[command]])
    assert code == 2
    assert out == ""
    assert err.startswith(f"sparkle-data {command}: error: no such folder 'does-not-exist'")
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_parent_of_root_suggests_the_sparkle_folder(
    command: str, tree: SampleTreeSummary, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SPARKLE_DATA_CACHE", str(tmp_path / "cache"))
    parent = str(Path(tree.root).parent)  # make-sample's OUT, not OUT/Sparkle
    quiet = "--no-cache" if command == "grid" else "-q"
    code, out, err = _run([command, parent, quiet, *COMMANDS[command]])
    assert code == 2
    assert "serving" not in out
    assert err.startswith(f"sparkle-data {command}: error: no Sparkle dataset at")
    assert f"Did you mean {tree.root}?" in err
