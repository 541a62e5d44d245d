"""The command line's exit rules where they are easy to get wrong.

* a closed stdout (``sparkle-data ... | head -1``) ends a command quietly with status 141;
* ``sparkle-bench``: nothing to work on (no bench root, a missing theme, no score files, an
  unknown rater, an unusable rubric) is bad input, exit 2 with one line; exit 1 stays for
  "ran and found problems" (missing outputs, a refused macro row);
* ``subset --dry-run`` counts exactly the ids the export writes, also for filters on the
  location columns (``{artifact}_shard``), which need the shards indexed;
* every command's ``--help`` explains each option and ends with examples.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sparkle_data.cli import EXIT_BROKEN_PIPE, build_parser, main
from sparkle_data.sparkle_bench import ScoreRecord, ScoreWriter, score_file_name
from sparkle_data.testing import SampleTreeSummary, make_sample_tree

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> SampleTreeSummary:
    out = tmp_path_factory.mktemp("exit-rules")
    return make_sample_tree(out, edit_types=["location", "time"], samples=3)


def _run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as e:  # argparse's own usage errors
            code = e.code if isinstance(e.code, int) else 2
    return code, out.getvalue(), err.getvalue()


def _one_line_error(err: str, prefix: str = "sparkle-data sparkle-bench") -> str:
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith(prefix), err
    assert ": error: " in last, err
    return last


# --------------------------------------------------------------------------- broken pipe


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "sparkle_data.cli", *args]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}


def test_closed_stdout_exits_quietly_with_141(tree: SampleTreeSummary) -> None:
    """A real pipe whose reader is gone before the command writes: no message, status 141."""
    read_end, write_end = os.pipe()
    proc = subprocess.Popen(
        _cli("info", str(tree.root), "-q"),
        stdout=write_end,
        stderr=subprocess.PIPE,
        env=_env(),
        cwd=REPO,
    )
    os.close(write_end)
    os.close(read_end)  # the reader exits, as `head` does after its lines
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == EXIT_BROKEN_PIPE == 141
    assert err == b""


def test_head_reads_the_first_line_and_the_command_stays_quiet(tree: SampleTreeSummary) -> None:
    """``sparkle-data peek ROOT | head -1`` through a shell: one line out, nothing on stderr;
    the command's status is 141 when its writes met the closed pipe, 0 when they all fit in
    the pipe's buffer before ``head`` exited (so either is accepted here; the status itself
    is pinned by ``test_closed_stdout_exits_quietly_with_141``)."""
    command = " ".join(_cli("peek", str(tree.root), "-n", "6")) + " | head -1"
    proc = subprocess.run(
        ["bash", "-c", f"{command}; echo \"status=${{PIPESTATUS[0]}}\" >&2"],
        capture_output=True,
        text=True,
        env=_env(),
        cwd=REPO,
        timeout=300,
        check=False,
    )
    assert proc.stdout.splitlines() == [f"6 samples selected from {tree.root}"]
    assert proc.stderr.splitlines()[-1] in ("status=141", "status=0"), proc.stderr
    assert proc.stderr.splitlines()[:-1] == [], proc.stderr


def test_a_broken_pipe_that_is_not_stdout_stays_an_error(
    monkeypatch: pytest.MonkeyPatch, tree: SampleTreeSummary
) -> None:
    """Only a closed stdout is quiet: EPIPE from a socket or a child's pipe is reported."""
    from sparkle_data.cli import info

    def broken(_args: argparse.Namespace) -> int:
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(info, "run", broken)
    code, _, err = _run(["info", str(tree.root)])
    assert code == 2
    assert err.strip() == "sparkle-data info: error: [Errno 32] Broken pipe"


# --------------------------------------------------------------------------- sparkle-bench


def _write_scores(outdir: Path, theme: str, rater: str, ids: list[str]) -> None:
    outdir.mkdir(parents=True, exist_ok=True)
    with ScoreWriter(outdir / score_file_name(theme, rater)) as writer:
        for sid in ids:
            writer.append(ScoreRecord(sid, "p", theme, "sub", "scene", (4,) * 6, "r"))


def test_sparkle_bench_nothing_to_work_on_is_exit_2(
    tree: SampleTreeSummary, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bench = str(tree.bench_root)
    runs = tmp_path / "runs"
    (runs / "empty").mkdir(parents=True)
    _write_scores(runs / "one", "time", "rater-a", ["Sparkle_time_000001"])
    _write_scores(runs / "two", "time", "rater-a", ["Sparkle_time_000001"])
    _write_scores(runs / "two", "time", "rater-b", ["Sparkle_time_000001"])
    rubric = tmp_path / "rubric.txt"
    rubric.write_text("no slot here\n")
    monkeypatch.setenv("SB_EXIT_KEY", "k")
    rate = ["--endpoint", "http://127.0.0.1:9/v1", "--model", "m", "--api-key-env", "SB_EXIT_KEY"]
    cases = [
        (["check", str(runs / "empty"), "--bench-root", bench], "a Sparkle-Bench root"),
        (["check", str(runs / "empty"), "--bench-root", str(tmp_path / "no-bench")], "does not"),
        (["check", str(tmp_path / "no-outdir"), "--bench-root", bench], "does not exist"),
        (["check", str(runs / "empty"), "--bench-root", bench, "--themes", "styel"], "'style'"),
        (["rate", str(runs / "empty"), "--bench-root", bench, "--rubric", str(rubric), *rate],
         "{edit_prompt}"),
        (["rate", str(runs / "empty"), "--bench-root", bench, "--themes", "time", "--rubric",
          str(tmp_path / "no-rubric.txt"), *rate], "cannot be read"),
        (["scores", str(runs / "empty")], "holds no {theme}_{rater}_sparkle_score.jsonl"),
        (["scores", str(tmp_path / "no-outdir")], "does not exist"),
        (["scores", str(runs / "one"), "--rater", "rater-c"], "Did you mean 'rater-a'?"),
        (["scores", str(runs / "one"), "--themes", "style"], "for style (it has: time)"),
        (["scores", str(runs / "two")], "choose one with --rater"),
        (["scores", str(runs / "one"), "--bench-root", bench], "a Sparkle-Bench root"),
    ]
    for argv, text in cases:
        code, out, err = _run(["sparkle-bench", *argv])
        assert code == 2, (argv, out, err)
        assert "OK" not in out
        assert text in _one_line_error(err), (argv, err)


def test_sparkle_bench_problems_found_stay_exit_1(tree: SampleTreeSummary, tmp_path: Path) -> None:
    bench = str(tree.bench_root)
    (tmp_path / "empty").mkdir()
    argv = ["sparkle-bench", "check", str(tmp_path / "empty"), "--bench-root", bench, "--themes",
            "location", "time", "-q"]
    code, out, _ = _run(argv)
    assert code == 1
    assert out.strip().splitlines()[-1] == "FAIL: 0 of 2 outputs present"
    _write_scores(tmp_path / "one", "time", "rater-a", ["Sparkle_time_000001"])
    code, _, err = _run(["sparkle-bench", "scores", str(tmp_path / "one")])
    assert code == 1  # the macro row is refused: the other themes are unrated
    assert "macro row of one refused" in err
    code, _, _ = _run(["sparkle-bench", "scores", str(tmp_path / "one"), "--allow-missing"])
    assert code == 0


def test_sparkle_bench_bad_values_are_one_line(tree: SampleTreeSummary, tmp_path: Path) -> None:
    """Every option of every step, fed bad values: one line, exit 2, never a traceback."""
    parser = build_parser()
    (bench_cmd,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    steps = next(
        a for a in bench_cmd.choices["sparkle-bench"]._actions
        if isinstance(a, argparse._SubParsersAction)
    )
    (tmp_path / "out").mkdir()
    required = {"rate": ["--endpoint", "http://127.0.0.1:9/v1", "--model", "m", "--rubric",
                         str(tmp_path / "r.txt"), "--api-key-env", "SB_NO_SUCH_KEY_SET"]}
    seen = 0
    for name, sub in steps.choices.items():
        for action in sub._actions:
            if not action.option_strings or action.nargs == 0 or action.dest == "help":
                continue
            if action.dest in ("json", "csv", "plot", "names", "score_tag", "endpoint", "model",
                               "rubric", "api_key_env", "bench_root", "rater"):
                continue  # free text: paths, names; their bad cases are in the test above
            for value in ("-1", "nope"):
                argv = ["sparkle-bench", name, str(tmp_path / "out"), *required.get(name, []),
                        action.option_strings[-1], value]
                code, _, err = _run(argv)
                seen += 1
                assert code == 2, (argv, err)
                _one_line_error(err)
    assert seen >= 20


# --------------------------------------------------------------------------- subset --dry-run


@pytest.mark.parametrize(
    "where",
    [
        "source_video_shard == 'location_source_video_part00.tar'",
        "edited_video_shard is not None and edit_type == 'time'",
    ],
)
def test_subset_dry_run_counts_what_the_export_writes(
    tree: SampleTreeSummary, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    monkeypatch.setenv("SPARKLE_DATA_CACHE", str(tmp_path / "cache"))
    argv = ["subset", str(tree.root), "--preset", "none", "--where", where]
    code, dry, err = _run([*argv, "--dry-run", "-q"])
    assert code == 0, err
    code, real, err = _run([*argv, "--format", "wds", "--out", str(tmp_path / "wds"), "-q"])
    assert code == 0, err
    selected = dry.splitlines()[0]
    assert selected == real.splitlines()[0]
    n = int(selected.split()[1])
    assert 0 < n < sum(len(ids) for ids in tree.corpus_ids.values())
    assert json.loads((tmp_path / "wds" / "shards.json").read_text())["samples"] == n
    assert f"{n} of {n} samples" in real


# --------------------------------------------------------------------------- --help


def _commands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    (sub,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    out = {}
    for name, p in sub.choices.items():
        out[name] = p
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                out.update({f"{name} {n}": q for n, q in action.choices.items()})
    return out


def test_every_help_explains_its_options_and_ends_with_examples() -> None:
    commands = _commands()
    assert {"info", "verify", "sparkle-bench check", "sparkle-bench scores"} <= set(commands)
    for name, parser in commands.items():
        assert parser.epilog, name
        assert parser.epilog.lstrip().startswith("examples:"), name
        assert f"sparkle-data {name}" in parser.epilog, name
        for action in parser._actions:
            if action.dest == "help" or isinstance(action, argparse._SubParsersAction):
                continue
            if action.nargs == argparse.REMAINDER:  # regen's forms: listed in its description
                continue
            assert action.help, f"{name}: {action.option_strings or action.dest} has no help"
