"""docs/cli.md runs as written: its ``console`` blocks are executed, in order, in one folder.

The convention (also stated in docs/cli.md):

* every fenced block whose info string is ``console`` is runnable; its lines starting with
  ``$ `` are commands (a trailing ``\\`` continues one on the next line), the lines after a
  command up to the next one are its documented output;
* ``sparkle-data ...`` commands run in this process (``sparkle_data.cli.main``); any other
  command (``head``, ``ls``) runs in a shell;
* a command ending in ``# exit N`` must exit with status ``N``; every other one with 0;
* documented output must match what the command prints (stdout then stderr, blank lines and
  trailing spaces ignored): a line ``...`` stands for any number of lines, ``...`` inside a
  line for any text (absolute paths, timings); a command with no output lines is not checked;
* ``<!-- cli-test: hub -->`` on the line before a block runs it against the loopback fake Hub
  (``sparkle_data.testing.hub``) serving ``demo/Sparkle`` as ``stdKonjac/Sparkle``.

``bash`` blocks are illustrations (real Hub, servers, placeholders): their ``sparkle-data``
lines must still parse with the real argument parser.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import shlex
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from sparkle_data.cli import build_parser, main

DOC = Path(__file__).resolve().parents[1] / "docs" / "cli.md"

BLOCK = re.compile(
    r"(?:<!-- cli-test: (?P<opts>[^>]*?) -->\n)?^```(?P<lang>console|bash)\n(?P<body>.*?)^```",
    re.S | re.M,
)
EXIT = re.compile(r"\s+#\s*exit\s+(\d+)\s*$")


@dataclass
class Step:
    command: str
    status: int
    line: int
    expected: list[str] = field(default_factory=list)


@dataclass
class Block:
    lang: str
    opts: set[str]
    line: int
    steps: list[Step]


def parse_blocks(text: str) -> list[Block]:
    blocks = []
    for m in BLOCK.finditer(text):
        lang = m.group("lang")
        first = text.count("\n", 0, m.start("body")) + 1
        steps: list[Step] = []
        pending: str | None = None
        for offset, raw in enumerate(m.group("body").splitlines()):
            if pending is not None:
                command = pending + " " + raw.strip()
            elif lang == "console" and raw.startswith("$ "):
                command = raw[2:]
            elif lang == "bash" and raw.lstrip().startswith("sparkle-data "):
                command = raw.strip()
            else:
                if lang == "console" and steps:
                    steps[-1].expected.append(raw)
                continue
            if command.endswith("\\"):
                pending = command[:-1].rstrip()
                continue
            pending = None
            status = 0
            found = EXIT.search(command)
            if found:
                status = int(found.group(1))
                command = command[: found.start()]
            if lang == "bash":  # drop trailing comments of illustrations
                command = shlex.join(shlex.split(command, comments=True))
            steps.append(Step(command.strip(), status, first + offset))
        opts = set((m.group("opts") or "").split())
        blocks.append(Block(lang, opts, first, steps))
    return blocks


def output_pattern(expected: list[str]) -> re.Pattern[str]:
    parts = []
    for line in (x.rstrip() for x in expected):
        if not line:
            continue
        if line == "...":
            parts.append(r"(?:[^\n]*\n)*?")
        else:
            parts.append(".*?".join(re.escape(p) for p in line.split("...")) + r"\n")
    return re.compile("".join(parts), re.S)


def run_command(command: str) -> tuple[int, str]:
    argv = shlex.split(command)
    if argv[0] != "sparkle-data":
        proc = subprocess.run(  # noqa: S602 - our own docs' commands
            command, shell=True, capture_output=True, text=True, check=False
        )
        return proc.returncode, proc.stdout + proc.stderr
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv[1:])
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 2
    return code, out.getvalue() + err.getvalue()


def check(step: Step, code: int, printed: str) -> None:
    where = f"docs/cli.md:{step.line}: $ {step.command}"
    assert code == step.status, f"{where}\nexit {code}, documented {step.status}\n{printed}"
    if not any(line.strip() for line in step.expected):
        return
    actual = "".join(line.rstrip() + "\n" for line in printed.splitlines() if line.strip())
    assert output_pattern(step.expected).fullmatch(actual), (
        f"{where}\n--- documented\n" + "\n".join(step.expected) + "\n--- printed\n" + actual
    )


@contextlib.contextmanager
def context(block: Block) -> Iterator[None]:
    if "hub" not in block.opts:
        yield
        return
    from sparkle_data.testing.hub import FakeHub, serve_fake_hub

    with serve_fake_hub(FakeHub.from_directory("demo/Sparkle", repo_id="stdKonjac/Sparkle")):
        yield


# --------------------------------------------------------------------------- tests
def test_pattern_convention() -> None:
    pattern = output_pattern(["verify .../Sparkle: OK (...)", "...", "  last"])
    assert pattern.fullmatch("verify /tmp/x/Sparkle: OK (8 samples)\na\nb\n  last\n")
    assert pattern.fullmatch("verify /x/Sparkle: OK ()\n  last\n")
    assert not pattern.fullmatch("verify /x/Sparkle: FAIL\n  last\n")
    (block,) = parse_blocks("```console\n$ sparkle-data a \\\n  --b c   # exit 2\nout\n```\n")
    assert [(s.command, s.status, s.expected) for s in block.steps] == [
        ("sparkle-data a --b c", 2, ["out"])
    ]


def test_every_command_has_a_section_and_examples_parse() -> None:
    text = DOC.read_text(encoding="utf-8")
    parser = build_parser()
    (sub,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    sections = set(re.findall(r"^## `?([\w-]+)`?", text, flags=re.M))
    assert set(sub.choices) <= sections, set(sub.choices) - sections
    blocks = parse_blocks(text)
    runnable = [s for b in blocks if b.lang == "console" for s in b.steps]
    run_commands = {shlex.split(s.command)[1] for s in runnable if s.command.startswith("spark")}
    assert set(sub.choices) - {"view"} <= run_commands  # view serves: only its error runs
    for block in blocks:
        for step in block.steps:
            argv = shlex.split(step.command)
            if argv[0] != "sparkle-data" or "--help" in argv or step.status == 2:
                continue
            try:
                parser.parse_args(argv[1:])
            except SystemExit as e:  # pragma: no cover - a broken example
                raise AssertionError(f"docs/cli.md:{step.line}: {step.command}") from e


@pytest.mark.slow
def test_console_blocks_run_as_documented(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SPARKLE_DATA_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("COLUMNS", "100")
    blocks = [b for b in parse_blocks(DOC.read_text(encoding="utf-8")) if b.lang == "console"]
    assert sum(len(b.steps) for b in blocks) >= 20
    for block in blocks:
        with context(block):
            for step in block.steps:
                code, printed = run_command(step.command)
                check(step, code, printed)
