"""``sparkle-data regen``'s command line: the generated stage list, exit codes and messages,
``--artifacts`` forms, and record lines a killed run left to merge."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from sparkle_data.cli import main
from sparkle_data.layout import record_path
from sparkle_data.regen.records import encode_record, record_part_path
from sparkle_data.regen.registry import stages
from sparkle_data.testing import make_sample_tree


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("regen-cli") / "tree"
    make_sample_tree(out, edit_types=["location"], samples=3, preview_count=1, bench=False)
    return out / "Sparkle"


@pytest.fixture
def root(pristine: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "Sparkle"
    shutil.copytree(pristine, dest)
    return dest


def test_help_lists_the_registered_stages(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["regen"]) == 2
    text = capsys.readouterr().err
    for st in stages():
        assert f"  {st.name} (" in text
        assert st.description in text
    assert "planned" not in text
    assert "(record, gpu" in text
    with pytest.raises(SystemExit):
        main(["regen", "--help"])
    assert "  foreground_grounding_r2 (record, gpu" in capsys.readouterr().out


def test_missing_root_and_bad_values_exit_2_with_the_prefix(
    tmp_path: Path, root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["regen", "plan", str(tmp_path / "absent"), "-q"]) == 2
    assert capsys.readouterr().err.startswith("sparkle-data regen: error: no such folder")
    assert main(["regen", "plan", str(root), "-q", "--artifacts", "source_frame"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sparkle-data regen: error: invalid --artifacts")
    assert "source_frame0" in err
    assert main(["regen", "run", str(root), "-q", "--config", "nonsense"]) == 2
    assert "STAGE.FIELD=VALUE" in capsys.readouterr().err


def test_artifacts_take_spaces_commas_and_records(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for form in (["source_frame0", "edited_video_canny"], ["source_frame0,edited_video_canny"]):
        out = tmp_path / "plan.json"
        assert main(["regen", "plan", str(root), "-q", "--allow-empty", "--json", str(out),
                     "--artifacts", *form]) == 0
        assert json.loads(out.read_text())["artifacts"] == ["source_frame0", "edited_video_canny"]
    capsys.readouterr()
    # every sample has its record line: nothing to do is an error (2), a note with the flag
    assert main(["regen", "plan", str(root), "-q", "--artifacts", "foreground_grounding_r1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sparkle-data regen: error: nothing to regenerate")
    assert "pass --allow-empty" in err
    assert main(["regen", "run", str(root), "-q", "--artifacts", "foreground_grounding_r1",
                 "--allow-empty"]) == 0
    err = capsys.readouterr().err
    assert err.startswith("sparkle-data regen: nothing to regenerate")
    assert "--allow-empty" not in err


def test_empty_selection_exits_2(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    none = ["--where", "frame0_overall > 10"]
    assert main(["regen", "plan", str(root), "-q", *none]) == 2
    assert "selection holds no corpus sample" in capsys.readouterr().err
    assert main(["regen", "plan", str(root), "-q", *none, "--allow-empty"]) == 0


def test_record_lines_of_a_killed_run_are_merged_once(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A run killed after writing its record parts, before the merge: the rerun has nothing
    to run, merges the parts and succeeds; the file holds one line per id."""
    rec = root / record_path("location", "foreground_grounding_r1")
    lines = rec.read_bytes().splitlines(keepends=True)
    first = json.loads(lines[0])
    rec.write_bytes(b"".join(lines[1:]))
    part = record_part_path(root, first["id"], "foreground_grounding_r1")
    part.parent.mkdir(parents=True)
    part.write_bytes(encode_record(first))
    args = ["regen", "run", str(root), "-q", "--artifacts", "foreground_grounding_r1"]
    assert main([*args, "--dry-run"]) == 0
    assert "1 record lines of an earlier run wait to be merged" in capsys.readouterr().out
    assert main(args) == 0
    assert "merged 1 lines" in capsys.readouterr().out
    assert sorted(rec.read_bytes().splitlines(keepends=True)) == sorted(lines)
    assert not part.exists()
    assert main(args) == 2
