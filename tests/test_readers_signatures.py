"""The record readers built by ``readers/_reader.py`` keep the public shape callers rely on:
name, module, docstring, the shared keyword signature, laziness, and the old import paths."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path

import pytest

from sparkle_data.policy import SkipReport
from sparkle_data.readers import (
    boxes,
    grounding,
    grounding_arrays,
    grounding_records,
    grounding_summary,
    metadata,
    prompt_join,
    prompts,
    scores,
)

SHARED = ["source", "edit_type", "name", "on_error", "report"]

READERS: list[tuple[object, str]] = [
    (prompts, "iter_prompts_csv"),
    (prompts, "load_prompts_csv"),
    (prompts, "load_prompts_table"),
    (prompts, "prompt_rows"),
    (metadata, "iter_metadata_jsonl"),
    (metadata, "load_metadata_jsonl"),
    (metadata, "load_metadata_table"),
    (metadata, "metadata_rows"),
    (scores, "iter_image_scores"),
    (scores, "load_image_scores"),
    (grounding, "iter_grounding_r1"),
    (grounding, "iter_grounding_r2"),
    (grounding, "load_grounding_r1"),
    (grounding, "load_grounding_r2"),
]


@pytest.mark.parametrize(("module", "name"), READERS)
def test_reader_shape(module: object, name: str) -> None:
    fn: Callable[..., object] = getattr(module, name)
    assert fn.__name__ == name
    assert fn.__module__ == module.__name__  # type: ignore[attr-defined]
    assert fn.__doc__
    assert fn.__doc__.strip()
    params = inspect.signature(fn).parameters
    assert list(params) == SHARED
    assert params["source"].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
    assert all(params[k].kind is inspect.Parameter.KEYWORD_ONLY for k in SHARED[1:])
    assert [params[k].default for k in SHARED[1:]] == [None, None, "error", None]


def test_video_scores_keep_num_frames() -> None:
    params = inspect.signature(scores.load_video_scores).parameters
    assert list(params) == ["source", "edit_type", "num_frames", "name", "on_error", "report"]
    assert params["num_frames"].default == scores.CARD_NUM_SCORED_FRAMES
    assert scores.load_video_scores.__name__ == "load_video_scores"


@pytest.mark.parametrize(
    "reader",
    [prompts.iter_prompts_csv, metadata.iter_metadata_jsonl, grounding.iter_grounding_r2],
)
def test_iter_readers_are_lazy(reader: Callable[..., object], tmp_path: Path) -> None:
    """Nothing runs before the first ``next``: neither opening the file nor checking the
    arguments (as with the generator functions they replace)."""
    missing = tmp_path / "missing"
    it = reader(missing, on_error="skip", report=SkipReport(on_error="warn"))
    with pytest.raises(ValueError, match="on_error"):
        next(it)  # type: ignore[call-overload]
    with pytest.raises(FileNotFoundError):
        next(reader(missing))  # type: ignore[call-overload]


def test_tables_read_now(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        prompts.load_prompts_table(tmp_path / "missing.csv")


def test_old_import_paths_are_the_same_objects() -> None:
    assert grounding.normalize_bbox is boxes.normalize_bbox
    assert grounding.GroundingR2Record is grounding_records.GroundingR2Record
    assert grounding.boxes_array is grounding_arrays.boxes_array
    assert grounding.load_grounding_summary_table is grounding_summary.load_grounding_summary_table
    assert grounding.prepare_summary is grounding_summary.prepare_summary
    assert prompts.MetadataRecord is metadata.MetadataRecord
    assert prompts.load_metadata_table is metadata.load_metadata_table
    assert prompts.join_prompts is prompt_join.join_prompts
    assert prompts.JoinReport is prompt_join.JoinReport
