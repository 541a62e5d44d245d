"""docs/export.md runs as written; the public API of sparkle_data.export is stable."""

from __future__ import annotations

import contextlib
import io
import pathlib
import re

import pytest

import sparkle_data.export as export

DOC = pathlib.Path(__file__).resolve().parents[1] / "docs" / "export.md"

PUBLIC = {
    "ENGINES",
    "MANIFEST_NAME",
    "WDS_FIELDS",
    "Engine",
    "ExportError",
    "ExportReport",
    "Verify",
    "dataset_card",
    "export_hub",
    "export_kiwi",
    "export_sparkle",
    "export_wds",
    "push_to_hub",
    "read_manifest",
    "validate_wds_member",
}


def test_public_api_is_curated() -> None:
    assert set(export.__all__) == PUBLIC
    for name in export.__all__:
        assert getattr(export, name) is not None


def test_export_doc_examples_run(monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path) -> None:
    monkeypatch.setenv("SPARKLE_DATA_CACHE", str(tmp_path / "cache"))
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    assert len(blocks) >= 7
    namespace: dict[str, object] = {}
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        for block in blocks:
            exec(compile(block, str(DOC), "exec"), namespace)  # noqa: S102 - our own docs
    text = out.getvalue()
    assert "kiwi export" in text
    assert "['json', 'mask.npz', 'src.mp4', 'tgt.mp4']" in text
    assert "configs:" in text
