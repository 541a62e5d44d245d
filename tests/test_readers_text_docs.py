"""The Python examples in docs/records.md run, in order, in one namespace."""

from __future__ import annotations

import contextlib
import io
import pathlib
import re

import pytest

DOC = pathlib.Path(__file__).resolve().parents[1] / "docs" / "records.md"
NEEDS_NETWORK = "# (needs network)"


def _blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)


@pytest.mark.skipif(not DOC.exists(), reason="docs/records.md not present")
def test_records_doc_examples_run() -> None:
    blocks = [b for b in _blocks() if NEEDS_NETWORK not in b]
    assert len(blocks) >= 5
    namespace: dict[str, object] = {}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        for block in blocks:
            exec(compile(block, str(DOC), "exec"), namespace)  # noqa: S102 - our own docs
    printed = out.getvalue()
    assert "2 skipped (non_finite_score: 1, truncated_line: 1)" in printed
    assert "BoxesArray(boxes=int32[3, 2, 4]" in printed
