"""docs/quickstart.md runs as written: the offline Python block on a small synthetic tree; the
real-data commands (`plan-download` against the loopback fake Hub, then `info`, `verify` and
the filtered Kiwi export) and the partial-download Python block on a "partial download" of that
tree; every `sparkle-data` command line in it parses."""

from __future__ import annotations

import contextlib
import io
import re
import shlex
from pathlib import Path

import pytest

from sparkle_data.cli import build_parser, main
from sparkle_data.testing import make_sample_tree

DOC = Path(__file__).resolve().parents[1] / "docs" / "quickstart.md"


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)


def _run(code: str, namespace: dict[str, object]) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, str(DOC), "exec"), namespace)  # noqa: S102 - our own docs
    return out.getvalue()


@pytest.mark.slow
@pytest.mark.network
def test_offline_batch_and_partial_download(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPARKLE_DATA_CACHE", str(tmp_path / "cache"))
    summary = make_sample_tree(tmp_path / "demo", edit_types=["location"], samples=4, bench=False)
    root = Path(summary.root)
    (offline,) = [b for b in _python_blocks() if "/tmp/sparkle-demo/Sparkle" in b]
    namespace: dict[str, object] = {}
    printed = _run(offline.replace("/tmp/sparkle-demo/Sparkle", str(root)), namespace)
    expected = [line.split("# ", 1)[1].split("  ")[0] for line in offline.splitlines()[-3:-1]]
    assert printed.splitlines()[:2] == expected
    assert printed.splitlines()[2]

    # the documented `sparkle-data` commands against the fake Hub serving the full tree, then
    # on a partial download of it (the first source and edited shards only, no previews)
    from sparkle_data.testing.hub import FakeHub, serve_fake_hub

    monkeypatch.chdir(root.parent)  # the commands use ./Sparkle
    hub = FakeHub.from_directory(root, repo_id="stdKonjac/Sparkle")
    commands = [c for c in _commands() if "./Sparkle" in c and "hf://" not in c]
    assert len(commands) == 4  # plan-download, info, verify, subset
    with serve_fake_hub(hub):
        for command in commands:
            if " plan-download " in command:
                assert _main(command) == 0, command
    for tar in root.glob("location_*_part*.tar"):
        if not tar.name.endswith("_part00.tar"):
            tar.unlink()
    for loose in (root / "location").rglob("*.mp4"):
        loose.unlink()
    for command in commands:
        if " plan-download " not in command:
            status = 1 if " verify " in command else 0  # missing-artifact: not downloaded
            assert _main(command) == status, command
    assert (root.parent / "kiwi-urban" / "metadata.csv").is_file()

    (partial,) = [b for b in _python_blocks() if "def downloaded" in b]
    _run(partial.replace('"./Sparkle"', repr(str(root))), namespace)
    dataset = namespace["dataset"]
    samples = list(dataset)  # type: ignore[call-overload]
    assert 1 <= len(samples) < 4  # some pairs are not downloaded, and none of them is read
    assert all(s["source_video"].shape[0] == s["edited_video"].shape[0] for s in samples)


def _commands() -> list[str]:
    """The `sparkle-data` command lines of the bash blocks (continuations joined)."""
    text = DOC.read_text(encoding="utf-8")
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    lines = re.sub(r"\\\n\s*", " ", "".join(blocks)).splitlines()
    return [line.strip() for line in lines if line.strip().startswith("sparkle-data ")]


def _main(command: str) -> int:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return main(shlex.split(command, comments=True)[1:])


def test_command_lines_parse() -> None:
    parser = build_parser()
    commands = _commands()
    assert len(commands) >= 8
    for command in commands:
        argv = shlex.split(command, comments=True)
        try:
            parser.parse_args(argv[1:])
        except SystemExit as e:  # pragma: no cover - a broken example
            raise AssertionError(command) from e
