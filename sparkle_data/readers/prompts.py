"""Training prompts: ``prompts/{edit_type}_train.csv`` (and, re-exported, its metadata).

* :func:`iter_prompts_csv` / :func:`load_prompts_csv` read the four-column CSV
  (``prompt,src_video,tgt_video,task``) into :class:`PromptRow` records;
  :func:`load_prompts_table` into a DataFrame. The CSV's video paths are checked against the
  card's layout (``{edit_type}/source_video/{id}.mp4``) when the row is read, before anything
  could open them (CWE-22): a row saying ``../../etc/passwd`` is refused.
* :func:`iter_metadata_jsonl` / :func:`load_metadata_jsonl` (:mod:`.metadata`) read the
  metadata JSONL into :class:`MetadataRecord` records.
* :func:`join_prompts` (:mod:`.prompt_join`) pairs the two by id and checks that the prompts
  agree.

Every reader is strict by default; ``on_error="skip"`` / ``"warn"`` skips bad rows and counts
them in a :class:`~sparkle_data.policy.SkipReport`. Duplicate ids always raise
:class:`~sparkle_data.errors.JoinError`.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from sparkle_data.errors import LayoutError, SparkleError
from sparkle_data.layout import (
    PROMPTS_CSV_COLUMNS,
    EditType,
    SampleId,
    artifact_relpath,
    parse_edit_type,
    parse_sample_id,
)
from sparkle_data.policy import SkipReport
from sparkle_data.readers._fields import (
    NOWHERE,
    RecordWhere,
    check_edit_type,
    check_sample_id,
    check_text,
    checked_record,
    reason_of,
)
from sparkle_data.readers._reader import eager_reader, lazy_reader, table_reader
from sparkle_data.readers._text import TextSource, check_unique, iter_csv_rows
from sparkle_data.readers.metadata import (
    MetadataRecord,
    iter_metadata_jsonl,
    load_metadata_jsonl,
    load_metadata_table,
    metadata_from_json,
)
from sparkle_data.readers.prompt_join import JoinReport, PromptJoin, PromptSample, join_prompts

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "JoinReport",
    "MetadataRecord",
    "PromptJoin",
    "PromptRow",
    "PromptSample",
    "iter_metadata_jsonl",
    "iter_prompts_csv",
    "join_prompts",
    "load_metadata_jsonl",
    "load_metadata_table",
    "load_prompts_csv",
    "load_prompts_table",
]

_metadata_from_json: Final = metadata_from_json
"""Kept for ``readers/sparkle_bench.py`` until it imports
:func:`~sparkle_data.readers.metadata.metadata_from_json` (this session only)."""

PromptCsvRow = tuple[str, str, str, str]
"""A row of :func:`prompt_rows`: ``(task, prompt, src_video, tgt_video)``."""


@functools.cache
def _relpath_affixes(edit_type: EditType, artifact: str) -> tuple[str, str]:
    """``(prefix, suffix)`` such that ``artifact_relpath(sid, artifact) == prefix + str(sid) +
    suffix`` for the ids of ``edit_type``, read off :func:`artifact_relpath` itself."""
    probe = SampleId(edit_type, 0)
    prefix, sep, suffix = artifact_relpath(probe, artifact).partition(str(probe))
    if not sep:  # pragma: no cover - the layout puts the id in every artifact path
        raise AssertionError(f"{artifact} paths do not hold the sample id")
    return prefix, suffix


def _check_video_path(
    value: object,
    sid: SampleId,
    text: str,
    *,
    field: str,
    artifact: str,
    other: str,
    where: RecordWhere,
) -> None:
    """``value`` must be ``artifact_relpath(sid, artifact)``; ``text`` is ``str(sid)``."""
    prefix, suffix = _relpath_affixes(sid.edit_type, artifact)
    if value == prefix + text + suffix:
        return
    expected = artifact_relpath(sid, artifact)
    hint = "Metadata paths are never opened as given; they must equal the card's layout."
    if value == artifact_relpath(sid, other):
        hint = "src_video and tgt_video look swapped. " + hint
    raise where.invalid(
        LayoutError,
        field,
        value,
        rule=f"must be {expected!r} for sample {sid}",
        hint=hint,
        reason="path_mismatch",
    )


def _check_prompt_fields(
    sid: SampleId, prompt: object, src_video: object, tgt_video: object, where: RecordWhere
) -> None:
    text = str(sid)
    _check_video_path(
        src_video,
        sid,
        text,
        field="src_video",
        artifact="source_video",
        other="edited_video",
        where=where,
    )
    _check_video_path(
        tgt_video,
        sid,
        text,
        field="tgt_video",
        artifact="edited_video",
        other="source_video",
        where=where,
    )
    check_text(prompt, where, "prompt", nonempty=True)


@dataclass(frozen=True, slots=True)
class PromptRow:
    """One row of ``prompts/{edit_type}_train.csv``.

    ``sample_id`` is the CSV's ``task`` column. ``src_video`` / ``tgt_video`` must equal
    ``layout.artifact_relpath(sample_id, "source_video" / "edited_video")``.
    """

    sample_id: str
    prompt: str
    src_video: str
    tgt_video: str

    def __post_init__(self) -> None:
        sid = check_sample_id(self.sample_id, NOWHERE, field="sample_id")
        _check_prompt_fields(
            sid, self.prompt, self.src_video, self.tgt_video, NOWHERE.at_sample(self.sample_id)
        )

    @property
    def edit_type(self) -> EditType:
        return parse_sample_id(self.sample_id).edit_type


def _csv_rows(
    source: TextSource, path: str, report: SkipReport, edit_type: str | None
) -> Iterator[PromptCsvRow]:
    """The row parser of the prompts CSV: each valid row, checked once."""
    if edit_type is not None:
        parse_edit_type(edit_type)
    seen: dict[str, int] = {}
    for where, fields in iter_csv_rows(
        source, name=path, header=PROMPTS_CSV_COLUMNS, report=report
    ):
        prompt, src_video, tgt_video, task = fields
        try:
            sid = parse_sample_id(task)
        except LayoutError:
            try:
                sid = check_sample_id(task, where, field="task")  # raises, with the location
            except SparkleError as e:
                report.handle(e, reason_of(e))
                continue
        where = where.at_sample(task)
        if seen.setdefault(task, where.line or 0) != (where.line or 0):
            check_unique(seen, task, where)  # raises the duplicate error
        et = sid.edit_type
        src_prefix, src_suffix = _relpath_affixes(et, "source_video")
        tgt_prefix, tgt_suffix = _relpath_affixes(et, "edited_video")
        if (  # the common case, checked as check_edit_type and _check_prompt_fields check it
            (edit_type is None or et == edit_type)
            and src_video == src_prefix + task + src_suffix
            and tgt_video == tgt_prefix + task + tgt_suffix
            and prompt.strip()
        ):
            yield task, prompt, src_video, tgt_video
            continue
        try:
            check_edit_type(sid, edit_type, where)
            _check_prompt_fields(sid, prompt, src_video, tgt_video, where)
        except SparkleError as e:
            report.handle(e, reason_of(e))
            continue
        yield task, prompt, src_video, tgt_video


@lazy_reader(_csv_rows)
def iter_prompts_csv(row: PromptCsvRow) -> PromptRow:
    """Lazily read ``prompts/{edit_type}_train.csv`` as :class:`PromptRow` records.

    The dialect is strict RFC 4180 (quoted fields may hold commas, quotes and newlines),
    UTF-8 with an optional BOM, LF or CRLF. The header must be exactly
    ``prompt,src_video,tgt_video,task``. With ``edit_type``, rows of another edit type are
    errors. Errors name the file, the CSV data row and the physical line it starts on.
    """
    return checked_record(PromptRow, row)


load_prompts_csv: Final = eager_reader(iter_prompts_csv)


@table_reader(_csv_rows)
def prompt_rows(rows: Iterator[PromptCsvRow]) -> Iterator[PromptCsvRow]:
    """The rows of :func:`iter_prompts_csv` as :data:`PromptCsvRow` tuples, validated once,
    no record built (for the catalog, which gathers the rows of every edit type)."""
    return rows


@table_reader(_csv_rows)
def load_prompts_table(rows: Iterator[PromptCsvRow]) -> pd.DataFrame:
    """Read a prompts CSV into a DataFrame, fast (no :class:`PromptRow` is built).

    Columns ``sample_id`` (the ``task`` column) and ``prompt``, rows in file order.
    ``src_video`` and ``tgt_video`` are checked as :func:`iter_prompts_csv` checks them, then
    dropped: they are ``artifact_relpath(sample_id, ...)`` by rule. Validation is exactly that
    of :func:`iter_prompts_csv`.
    """
    import pandas as pd

    ids: list[str] = []
    prompts: list[str] = []
    for task, prompt, _, _ in rows:
        ids.append(task)
        prompts.append(prompt)
    table: pd.DataFrame = pd.DataFrame(
        {"sample_id": pd.array(ids, dtype="str"), "prompt": pd.array(prompts, dtype="str")}
    )
    return table
