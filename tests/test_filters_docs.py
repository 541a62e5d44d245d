"""The Python examples in docs/filters.md run, in order, in one namespace."""

from __future__ import annotations

import contextlib
import io
import pathlib
import re

import pytest

DOC = pathlib.Path(__file__).resolve().parents[1] / "docs" / "filters.md"


def _blocks(lang: str) -> list[str]:
    text = DOC.read_text(encoding="utf-8")
    return re.findall(rf"```{lang}\n(.*?)```", text, flags=re.S)


@pytest.mark.skipif(not DOC.exists(), reason="docs/filters.md not present")
def test_filters_doc_examples_run() -> None:
    pytest.importorskip("matplotlib")
    pytest.importorskip("yaml")
    blocks = _blocks("python")
    assert len(blocks) >= 7
    namespace: dict[str, object] = {}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        for block in blocks:
            exec(compile(block, str(DOC), "exec"), namespace)  # noqa: S102 - our own docs
    printed = out.getvalue()
    assert "1 1 2 2 1" in printed  # the NaN example's counts
    assert "('Sparkle_time_000003',)" in printed
    assert "refused: a function call is not allowed" in printed
    assert "True {'location': 2, 'time': 2} 4" in printed
    assert "hist_video_mean_o_score.png" in printed


@pytest.mark.skipif(not DOC.exists(), reason="docs/filters.md not present")
def test_filters_doc_yaml_example_parses() -> None:
    yaml = pytest.importorskip("yaml")
    from sparkle_data.filters import And, filter_from_dict

    (block,) = _blocks("yaml")
    f = filter_from_dict(yaml.safe_load(block))
    assert isinstance(f, And)
    assert len(f.filters) == 4
