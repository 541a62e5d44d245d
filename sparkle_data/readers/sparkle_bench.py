"""Sparkle-Bench annotations: ``{edit_type}_bench.csv`` and ``{edit_type}_metadata.jsonl``.

The CSV has three columns, ``edited_type,prompt,original_video``, and no id column: the id is
the basename of ``original_video``, which must be exactly
``source_videos/{edit_type}/{id}.mp4`` (checked with
:func:`~sparkle_data.layout.parse_bench_source_video_path` before anything is opened). The
metadata JSONL has the training metadata's schema, restricted to the four benchmark edit
types. Join the two with :func:`~sparkle_data.readers.prompts.join_prompts`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

from sparkle_data.errors import LayoutError, SparkleError
from sparkle_data.layout import (
    BENCH_CSV_COLUMNS,
    BENCH_EDIT_TYPES,
    EditType,
    SampleId,
    parse_bench_source_video_path,
    parse_edit_type,
)
from sparkle_data.policy import SkipReport
from sparkle_data.readers._fields import (
    NOWHERE,
    RecordWhere,
    check_edit_type,
    check_text,
    reason_of,
)
from sparkle_data.readers._reader import eager_reader, jsonl_rows, lazy_reader
from sparkle_data.readers._text import TextSource, check_unique, iter_csv_rows
from sparkle_data.readers.metadata import MetadataRecord, metadata_from_json

__all__ = [
    "BenchRow",
    "iter_bench_csv",
    "iter_bench_metadata_jsonl",
    "load_bench_csv",
    "load_bench_metadata_jsonl",
]


def _check_bench_row(
    edited_type: object, prompt: object, original_video: object, where: RecordWhere
) -> SampleId:
    """Validate a bench row; returns the id taken from ``original_video``."""
    try:
        sid = parse_bench_source_video_path(original_video)  # type: ignore[arg-type]
    except LayoutError:
        raise where.invalid(
            LayoutError,
            "original_video",
            original_video,
            rule="must be source_videos/{edit_type}/Sparkle_{edit_type}_{NNNNNN}.mp4 with a "
            "benchmark edit type (location, season, time, style)",
            hint="Metadata paths are never opened as given; they must equal the card's layout.",
            reason="path_mismatch",
        ) from None
    where = where.at_sample(str(sid))
    if edited_type != sid.edit_type:
        raise where.invalid(
            LayoutError,
            "edited_type",
            edited_type,
            rule=f"disagrees with original_video's edit type {sid.edit_type!r}",
            reason="edit_type_mismatch",
        )
    check_text(prompt, where, "prompt", nonempty=True)
    return sid


@dataclass(frozen=True, slots=True)
class BenchRow:
    """One row of Sparkle-Bench's ``{edit_type}_bench.csv``; ``sample_id`` comes from
    ``original_video`` (``source_videos/{edit_type}/{id}.mp4``)."""

    sample_id: str
    edit_type: EditType
    prompt: str
    original_video: str

    def __post_init__(self) -> None:
        sid = _check_bench_row(self.edit_type, self.prompt, self.original_video, NOWHERE)
        if str(sid) != self.sample_id:
            raise NOWHERE.at_sample(str(sid)).invalid(
                LayoutError,
                "sample_id",
                self.sample_id,
                rule=f"must be the basename of original_video ({sid})",
                reason="invalid_id",
            )


def _bench_csv_rows(
    source: TextSource, name: str, report: SkipReport, edit_type: str | None
) -> Iterator[BenchRow]:
    """The row parser of ``{edit_type}_bench.csv``: one checked :class:`BenchRow` per row."""
    if edit_type is not None:
        parse_edit_type(edit_type)
    seen: dict[str, int] = {}
    for where, (edited_type, prompt, original_video) in iter_csv_rows(
        source, name=name, header=BENCH_CSV_COLUMNS, report=report
    ):
        try:
            sid = _check_bench_row(edited_type, prompt, original_video, where)
        except SparkleError as e:
            report.handle(e, reason_of(e))
            continue
        key = str(sid)
        located = where.at_sample(key)
        check_unique(seen, key, located)
        try:
            check_edit_type(sid, edit_type, located)
        except SparkleError as e:
            report.handle(e, reason_of(e))
            continue
        yield BenchRow(key, sid.edit_type, prompt, original_video)


@lazy_reader(_bench_csv_rows)
def iter_bench_csv(row: BenchRow) -> BenchRow:
    """Lazily read ``{edit_type}_bench.csv`` (header exactly ``edited_type,prompt,original_video``).

    Same CSV dialect, errors and policies as
    :func:`~sparkle_data.readers.prompts.iter_prompts_csv`; duplicate videos raise
    :class:`~sparkle_data.errors.JoinError` under every policy.
    """
    return row


load_bench_csv: Final = eager_reader(iter_bench_csv)


@lazy_reader(jsonl_rows(metadata_from_json, allowed_edit_types=BENCH_EDIT_TYPES))
def iter_bench_metadata_jsonl(record: MetadataRecord) -> MetadataRecord:
    """Lazily read Sparkle-Bench's ``{edit_type}_metadata.jsonl`` (no openve3m samples)."""
    return record


load_bench_metadata_jsonl: Final = eager_reader(iter_bench_metadata_jsonl)
