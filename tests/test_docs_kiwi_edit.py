"""docs/kiwi-edit.md's example runs as written and prints what its comments say."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[1] / "docs" / "kiwi-edit.md"


def test_kiwi_edit_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPARKLE_DATA_CACHE", str(tmp_path / "cache"))
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    (example,) = [b for b in blocks if "make_sample_tree" in b]
    code = example.replace("/tmp/sparkle-kiwi", str(tmp_path / "sparkle-kiwi"))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, str(DOC), "exec"), {})  # noqa: S102 - our own docs
    printed = out.getvalue().replace(str(tmp_path), "/tmp").splitlines()
    documented = [  # the comments after each print(), with the doc's own path
        line.split("# ", 1)[1].strip()
        for line in example.splitlines()
        if line.startswith("print(") and "# " in line
    ]
    assert printed == documented


def test_train_py_snippet_names_real_arguments() -> None:
    """The snippet for Kiwi-Edit's train.py uses only KiwiEditDataset's own keywords."""
    import inspect

    from sparkle_data.integrations.kiwi_edit import KiwiEditDataset

    text = DOC.read_text(encoding="utf-8")
    (snippet,) = re.findall(r"vid_dataset = KiwiEditDataset\((.*?)\n\)", text, flags=re.S)
    used = set(re.findall(r"^\s+(\w+)=", snippet, flags=re.M))
    accepted = set(inspect.signature(KiwiEditDataset.__init__).parameters)
    assert used
    assert used <= accepted, used - accepted
