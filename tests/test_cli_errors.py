"""Every command answers bad input with one line and a non-zero exit status, never a traceback.

Commands and their options are discovered from the parser, so commands added later are
covered too. Also: a root holding no Sparkle piece, empty selections, warnings, did-you-mean,
the --index-file rule, and peek's frame report.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from sparkle_data.cli import build_parser, main
from sparkle_data.testing import SampleTreeSummary, make_sample_tree
from sparkle_data.testing.hub import FakeHub, serve_fake_hub

BAD_VALUES = ("0", "-1", "nope")
SERVES = {"view"}
"""Commands that start a server when the values are valid: only their missing-root case."""


@pytest.fixture(scope="module")
def small_tree(tmp_path_factory: pytest.TempPathFactory) -> SampleTreeSummary:
    out = tmp_path_factory.mktemp("cli-errors")
    return make_sample_tree(out, edit_types=["location"], samples=2, bench=False)


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("no subcommands")


def _run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as e:  # argparse's own usage errors (exit 2, one message line)
            code = e.code if isinstance(e.code, int) else 2
    return code, out.getvalue(), err.getvalue()


def _assert_clean_failure(argv: list[str], code: int, err: str) -> None:
    assert "Traceback" not in err, argv
    if code != 0:
        last = err.strip().splitlines()[-1] if err.strip() else ""
        assert ": error: " in last, (argv, err)


def _is_output(action: argparse.Action) -> bool:
    return action.dest in ("out", "output", "dest") or action.metavar in ("OUT", "DIR")


def _cases(root: str, a_file: str) -> Iterator[tuple[str, list[str]]]:
    """(command, argv) pairs: a missing root, then each option with each bad value.

    Output positionals (make-sample's OUT) get an existing plain file, so that no value that
    happens to be valid starts real work."""
    for name, sub in sorted(_subparsers().items()):
        positionals = [a for a in sub._actions if not a.option_strings and a.dest != "help"]
        if any(a.nargs in (argparse.REMAINDER, argparse.PARSER) for a in positionals):
            continue  # commands with their own sub-forms (regen) test their own parsers
        args = [a_file if _is_output(a) else root for a in positionals]
        if positionals and not any(_is_output(a) for a in positionals):
            yield name, [name, *(["/nonexistent/sparkle-root"] * len(positionals))]
        base = [name, *args]
        if name in SERVES:
            continue
        for action in sub._actions:
            if not action.option_strings or action.nargs == 0 or action.dest == "help":
                continue
            if action.dest in ("out", "json", "plots"):  # output paths: any string is valid
                continue
            if action.dest in ("host", "port"):  # a valid address would start serving
                continue
            for value in BAD_VALUES:
                yield name, [*base, action.option_strings[-1], value]


def test_every_command_fails_cleanly_on_bad_values(
    small_tree: SampleTreeSummary, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SPARKLE_DATA_CACHE", str(tmp_path / "cache"))
    root = str(small_tree.root)
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder\n")
    seen: set[str] = set()
    with serve_fake_hub(FakeHub.from_directory(root, repo_id="stdKonjac/Sparkle")):
        for name, argv in _cases(root, str(a_file)):
            seen.add(name)
            code, _, err = _run(argv)
            _assert_clean_failure(argv, code, err)
            if "/nonexistent/" in " ".join(argv):
                assert code != 0, (argv, err)  # this file's other tests pin 2 for ours
    assert {"info", "verify", "peek", "subset", "stats", "index", "plan-download"} <= seen


@pytest.mark.parametrize("command", ["info", "verify", "peek", "stats", "subset", "index"])
def test_no_dataset_here_suggests_the_sparkle_folder(
    small_tree: SampleTreeSummary, command: str
) -> None:
    out_dir = str(Path(small_tree.root).parent)  # make-sample's OUT, not OUT/Sparkle
    argv = [command, out_dir] + (["--dry-run"] if command == "subset" else [])
    code, out, err = _run(argv)
    assert code == 2
    assert "OK" not in out
    assert err.startswith(f"sparkle-data {command}: error: no Sparkle dataset at")
    assert f"Did you mean {small_tree.root}?" in err


def test_verify_says_what_it_checked(small_tree: SampleTreeSummary) -> None:
    code, out, _ = _run(["verify", str(small_tree.root)])
    assert code == 0
    first = out.splitlines()[0]
    assert first.startswith(f"verify {small_tree.root}: OK (checked 2 corpus samples")
    assert "shards" in first


def test_empty_selection_is_an_error_unless_allowed(small_tree: SampleTreeSummary) -> None:
    argv = ["subset", str(small_tree.root), "--dry-run", "--where", "subtheme in ['urbn']"]
    code, _, err = _run(argv)
    assert code == 2
    assert "warning: 1 values of subtheme appear in no row: 'urbn'" in err
    assert "selected no sample" in err
    code, out, _ = _run([*argv, "--allow-empty"])
    assert code == 0
    assert "selected 0 ids" in out


def test_did_you_mean(small_tree: SampleTreeSummary) -> None:
    root = str(small_tree.root)
    cases = [
        (["subset", root, "--dry-run", "--where", "frame0_overal >= 8"], "'frame0_overall'"),
        (["info", root, "--edit-types", "locaton"], "'location'"),
        (["stats", root, "--preset", "strcit"], "'strict'"),
        (["peek", root, "--fields", "sourc_video"], "'source_video'"),
        (["subset", root, "--artifacts", "source_vide"], "'source_video'"),
    ]
    for argv, suggestion in cases:
        code, _, err = _run(argv)
        assert code == 2, argv
        assert f"Did you mean {suggestion}?" in err, err
        assert "Valid: " in err


def test_index_file_is_found_in_cwd_then_under_root(
    small_tree: SampleTreeSummary, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "Sparkle"
    import shutil

    shutil.copytree(small_tree.root, root)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SPARKLE_DATA_CACHE", str(tmp_path / "cache"))
    assert (
        _run(["index", str(root), "--out", str(root / "indexes/all.sparkle-index"), "-q"])[0] == 0
    )
    # relative to ROOT (as hf.load_dataset resolves it), from another directory
    code, _, err = _run(["verify", str(root), "--index-file", "indexes/all.sparkle-index"])
    assert code == 0, err
    # relative to the current directory
    os.chdir(root)
    code, _, err = _run(["verify", str(root), "--index-file", "indexes/all.sparkle-index"])
    assert code == 0, err
    code, _, err = _run(["verify", str(root), "--index-file", "indexes/missing.sparkle-index"])
    assert code == 2
    assert "index file 'indexes/missing.sparkle-index' not found" in err


def test_peek_states_the_frames_and_why(small_tree: SampleTreeSummary) -> None:
    root = str(small_tree.root)
    code, out, _ = _run(
        [
            "peek",
            root,
            "-n",
            "1",
            "--fields",
            "source_video",
            "--frames",
            "kiwi",
            "--num-frames",
            "200",
        ]
    )
    assert code == 0
    line = next(x for x in out.splitlines() if x.strip().startswith("frames "))
    assert "kiwi takes the first N" in line
    assert "< --num-frames 200" in line
    for argv, message in [
        (["--frames", "uniform"], "--frames uniform needs --num-frames"),
        (["--num-frames", "33"], "--num-frames needs a --frames policy"),
        (["--height", "0"], "must be >= 1"),
    ]:
        code, _, err = _run(["peek", root, *argv])
        assert code == 2
        assert message in err
