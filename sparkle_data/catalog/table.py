"""Build the catalog table: one row per sample id seen anywhere under a root.

Columns (``docs/catalog.md`` is the reference):

* ``sample_id`` (index), ``edit_type``, ``in_corpus`` (listed in the prompts CSV),
  ``status`` (``corpus``; ``rejected`` = only in record files, i.e. dropped at a pipeline
  stage; ``orphan`` = artifact files or metadata without a CSV row), ``last_record``
  (last pipeline record holding the id);
* ``prompt``, ``chosen_keyword``, ``subtheme``, ``scene``, ``original_scene``, ``has_metadata``;
* ``in_{record}`` for the five record files;
* ``frame0_*`` / ``fg_removed_*`` (``prompt_following``, ``consistency``,
  ``perceptual_quality``, ``overall``), ``video_*`` (``mean_o_score``, ``min_o_score``,
  ``mean_sc_score``, ``mean_pq_score``, per frame ``o_score_i``, ``sc_score_i``,
  ``pq_score_i``, ``frame_index_i``);
* ``grounding_num_labels``, ``grounding_num_frames``, ``grounding_num_empty_boxes``,
  ``grounding_empty_box_share``, ``grounding_max_box_area``, ``grounding_mean_box_area``
  (from r2), ``grounding_r1_num_labels``, ``grounding_r1_max_box_area``,
  ``grounding_r1_mean_box_area`` (from r1; box areas are float64, NaN without a box);
* per artifact ``{artifact}_file`` (relative path of a loose file), ``{artifact}_shard``,
  ``{artifact}_offset``, ``{artifact}_size`` (where the bytes are inside a shard);
* ``skip_reason``: under a lenient report, why a line or row naming this id was skipped
  (``bad_json``, ``non_finite_score``, ...; the first reason); ``None`` for usable samples.
  :func:`~sparkle_data.catalog.select.select_ids` leaves such samples out.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Final, Literal

import numpy as np

from sparkle_data.catalog.inventory import Inventory
from sparkle_data.errors import SparkleError
from sparkle_data.io import fs as sfs
from sparkle_data.io.index import ShardIndex
from sparkle_data.layout import ARTIFACTS, RECORD_FILES, EditType, RecordName, edit_type_of
from sparkle_data.policy import SkipReport
from sparkle_data.readers.grounding_summary import (
    ParsedAhead,
    PreparedSummary,
    load_grounding_summary_table,
    parse_ahead,
    prepare_parsed,
    prepare_whole,
    summary_table,
)
from sparkle_data.readers.metadata import metadata_rows
from sparkle_data.readers.prompts import prompt_rows
from sparkle_data.readers.scores import load_image_score_table, load_video_score_table

if TYPE_CHECKING:
    import pandas as pd
    from fsspec.spec import AbstractFileSystem

__all__ = ["METADATA_COLUMNS", "PIPELINE_ORDER", "SCORE_COLUMNS", "UNATTRIBUTED", "build_table"]

METADATA_COLUMNS: Final[tuple[str, ...]] = ("chosen_keyword", "subtheme", "scene", "original_scene")
"""The metadata columns besides ``prompt``."""
SCORE_COLUMNS: Final[tuple[str, ...]] = (
    "frame0_prompt_following",
    "frame0_consistency",
    "frame0_perceptual_quality",
    "frame0_overall",
    "fg_removed_prompt_following",
    "fg_removed_consistency",
    "fg_removed_perceptual_quality",
    "fg_removed_overall",
    "video_mean_o_score",
    "video_min_o_score",
    "video_mean_sc_score",
    "video_mean_pq_score",
)
"""The twelve per-sample score columns (frame-0 EditScore, foreground-removed EditScore, video
summary), in that order."""

PIPELINE_ORDER: tuple[RecordName, ...] = (
    "edited_frame0_score",
    "foreground_grounding_r1",
    "edited_frame0_foreground_removed_score",
    "foreground_grounding_r2",
    "edited_video_score",
)
"""The record files in the order the pipeline writes them (stages 2 to 5)."""

_IMAGE_PREFIX: dict[RecordName, str] = {
    "edited_frame0_score": "frame0_",
    "edited_frame0_foreground_removed_score": "fg_removed_",
}

_BOX_AREAS: Final = ("max_box_area", "mean_box_area")
"""The box-area columns of the grounding summary (float64, NaN when nothing is localised)."""


_SMALL_FILE_READ: Final = 64 << 20
"""CSV and record files up to this size are fetched by one request (not 1 MiB blocks)."""


def _open(fs: AbstractFileSystem, base: str, rel: str, known: Mapping[str, sfs.FileInfo]) -> Any:
    where = sfs.join(base, rel)
    return sfs.open_binary(where, fs=fs, block_size=_SMALL_FILE_READ, known=known.get(rel))


def _record_table(
    inv: Inventory,
    fs: AbstractFileSystem,
    base: str,
    record: RecordName,
    report: SkipReport,
    ahead: _Ahead,
) -> pd.DataFrame | None:
    import pandas as pd

    loader: Callable[..., pd.DataFrame]
    if record in _IMAGE_PREFIX:
        loader, prefix = load_image_score_table, _IMAGE_PREFIX[record]
    elif record == "edited_video_score":
        loader, prefix = load_video_score_table, "video_"
    else:
        loader = load_grounding_summary_table
        prefix = "grounding_" if record == "foreground_grounding_r2" else "grounding_r1_"
    parts = []
    for et in inv.edit_types:
        rel = inv.records.get((et, record))
        if rel is None:
            continue
        name = f"{inv.root}/{rel}"
        ready = ahead.take(rel)
        if ready is not None:
            if isinstance(ready, ParsedAhead):
                ready = prepare_parsed(ready, name=name, edit_type=et)
            parts.append(summary_table(ready, name=name, edit_type=et, report=report))
            continue
        kwargs: dict[str, Any] = {"edit_type": et, "name": name, "report": report}
        if loader is load_grounding_summary_table:
            kwargs["record"] = record
        with _open(fs, base, rel, inv.known) as f:
            parts.append(loader(f, **kwargs))
    if not parts:
        return None
    table = pd.concat(parts, ignore_index=True)
    if record == "foreground_grounding_r1":
        table = table[["sample_id", "num_labels", *_BOX_AREAS]]
    table = table.set_index("sample_id")
    table.columns = [prefix + c for c in table.columns]
    table[f"in_{record}"] = True
    out: pd.DataFrame = table
    return out


class _Ahead:
    """The ``foreground_grounding_r2`` files (the costliest to validate) read, parsed by
    pyarrow and checked in bulk on a helper thread while the main thread reads the others.

    That work (:func:`~sparkle_data.readers.grounding_summary.parse_ahead`, then
    :func:`~sparkle_data.readers.grounding_summary.prepare_whole`) has no side effect and is a few
    calls, most of which release the GIL. What has one (the line-by-line path for the lines
    not vouched for, the duplicate-id check, reports, errors) happens on the main thread when
    the file's turn comes, in the usual order, in
    :func:`~sparkle_data.readers.grounding_summary.summary_table`: the catalog, its errors and its
    skip counts are those of the plain loaders. A file the helper could not read is left to
    the main thread (which then says why); a file the helper has not started when the main
    thread needs one it is still on is taken over by the main thread.
    """

    def __init__(self, inv: Inventory, fs: AbstractFileSystem, base: str) -> None:
        self._fs, self._base, self._known = fs, base, inv.known
        self._jobs: dict[str, tuple[Future[_Ready], bool, EditType]] = {}
        self._stolen: dict[str, _Ready | None] = {}
        self._pool: ThreadPoolExecutor | None = None
        todo = [
            (record, inv.records[(et, record)], et)
            for record in _AHEAD
            for et in inv.edit_types
            if (et, record) in inv.records
        ]
        if not todo:
            return
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sparkle-catalog")
        for record, rel, et in todo:
            with_frames = record == "foreground_grounding_r2"
            job = self._pool.submit(_read_ahead, fs, base, rel, with_frames, et, inv.known)
            self._jobs[rel] = (job, with_frames, et)

    def take(self, rel: str) -> _Ready | None:
        """The file parsed ahead, or ``None`` (then read it the usual way).

        While the helper is still on it, the main thread parses a file the helper has not
        started (the last one queued) rather than wait.
        """
        if rel in self._stolen:
            return self._stolen.pop(rel)
        got = self._jobs.pop(rel, None)
        if got is None:
            return None
        job = got[0]
        while not job.done() and self._steal():
            pass
        try:
            return job.result()
        except Exception:  # could not read it there: the main thread's own read says why
            return None

    def _steal(self) -> bool:
        for other in reversed(self._jobs):
            job, with_frames, et = self._jobs[other]
            if job.cancel():  # not started: run it here
                del self._jobs[other]
                try:
                    self._stolen[other] = _read_ahead(
                        self._fs, self._base, other, with_frames, et, self._known
                    )
                except Exception:
                    self._stolen[other] = None
                return True
        return False

    def busy(self) -> bool:
        """Whether some file is still queued or being parsed."""
        return any(not job.done() for job, _, _ in self._jobs.values())

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)


_AHEAD: Final[tuple[RecordName, ...]] = ("foreground_grounding_r2",)
"""The files read ahead on the helper thread (the r1 files, small, are not worth it)."""
_WAITS_FOR: Final[RecordName] = "foreground_grounding_r2"
_READ_EARLY: Final[RecordName] = "edited_video_score"
"""Read before the r2 files when the helper thread is not done with them (see build_table)."""


_REPAIRED: Final = frozenset({"bbox_clamped", "bbox_unusable"})
"""Skip reasons whose line is kept (a box repaired as the card's ``normalize_bbox`` does, or
set to "not localised"): counted, but the sample stays usable."""


UNATTRIBUTED: Final = "unattributed_record_line"
"""The skip reason of a broken line or row that names no sample (invalid JSON or UTF-8
before its id, a missing or malformed id): counted, with its file and line, against
``max_skips``; no sample is marked by it."""
_OWN_REASON: Final = frozenset({"line_too_long"})
"""Reasons of lines that name no sample but keep their own, more precise reason."""


class _MarkingReport(SkipReport):
    """Hands every skip to ``inner`` (which raises when strict or over budget) and remembers
    the first reason per sample id the error names, for lines and rows that were dropped.
    A line that names no sample is handed on as :data:`UNATTRIBUTED`."""

    def __init__(self, inner: SkipReport) -> None:
        super().__init__(on_error=inner.on_error)
        self.inner = inner
        self.marks: dict[str, str] = {}

    def handle(self, error: SparkleError, reason: str | None = None) -> None:
        if error.sample_id is None and error.line is not None and reason not in _OWN_REASON:
            reason = UNATTRIBUTED
        self.inner.handle(error, reason)
        if error.sample_id is not None and reason not in _REPAIRED:
            self.marks.setdefault(str(error.sample_id), reason or type(error).__name__)


class _RecordingReport(SkipReport):
    """A lenient report that keeps what it is handed, to hand it on later, in order."""

    def __init__(self) -> None:
        super().__init__(on_error="skip")
        self.events: list[tuple[SparkleError, str | None]] = []

    def handle(self, error: SparkleError, reason: str | None = None) -> None:
        self.events.append((error, reason))


class _Recorded:
    """``compute(report)`` run now with a :class:`_RecordingReport`; :meth:`replay` hands the
    recorded skips to the real report, then raises what ``compute`` raised, if anything.

    Under any policy that is what running ``compute(report)`` at replay time does: the run
    only differs once ``report.handle`` raises (strict policy, skip budget), and replaying
    raises that very error at that very point; a lenient run hands the same skips in the same
    order. ``compute`` must have no other effect than its value and its calls to the report.
    """

    def __init__(self, compute: Callable[[SkipReport], pd.DataFrame | None]) -> None:
        recording = _RecordingReport()
        self._events = recording.events
        self._value: pd.DataFrame | None = None
        self._error: Exception | None = None
        try:
            self._value = compute(recording)
        except Exception as e:
            self._error = e

    def replay(self, report: SkipReport) -> pd.DataFrame | None:
        for error, reason in self._events:
            report.handle(error, reason)
        if self._error is not None:
            raise self._error
        return self._value


_Ready = PreparedSummary | ParsedAhead
"""A grounding file read ahead: checked already, or parsed (or just read) only."""


def _read_ahead(
    fs: AbstractFileSystem,
    base: str,
    rel: str,
    with_frames: bool,
    edit_type: EditType,
    known: Mapping[str, sfs.FileInfo],
) -> _Ready:
    with _open(fs, base, rel, known) as f:
        parsed = parse_ahead(f, with_frames=with_frames, use_threads=False)
    return prepare_whole(parsed, edit_type=edit_type) or parsed


def _prompt_table(
    inv: Inventory, fs: AbstractFileSystem, base: str, report: SkipReport
) -> tuple[pd.DataFrame, pd.DataFrame]:
    import pandas as pd

    # The rows of load_prompts_table / load_metadata_table (validated once, no record objects),
    # gathered over the edit types so that pandas infers each column's dtype once.
    rows: dict[str, list[Any]] = {"sample_id": [], "prompt": []}
    for et, rel in inv.prompts.items():
        with _open(fs, base, rel, inv.known) as f:
            for task, prompt, _, _ in prompt_rows(
                f, edit_type=et, name=f"{inv.root}/{rel}", on_error="error", report=report
            ):
                rows["sample_id"].append(task)
                rows["prompt"].append(prompt)
    keys = ("sample_id", "chosen_keyword", "subtheme", "scene", "original_scene")
    meta: dict[str, list[Any]] = {k: [] for k in keys}
    columns = [meta[k] for k in keys]
    for et, rel in inv.metadata.items():
        with _open(fs, base, rel, inv.known) as f:
            for values in metadata_rows(
                f, edit_type=et, name=f"{inv.root}/{rel}", on_error="error", report=report
            ):
                for column, value in zip(columns, values, strict=True):
                    column.append(value)
    prompts = pd.DataFrame(rows).set_index("sample_id")
    prompts["in_corpus"] = True
    metadata = pd.DataFrame(meta).set_index("sample_id")
    metadata["has_metadata"] = True
    return prompts, metadata


def _sorted_ids(parts: list[pd.DataFrame]) -> pd.Index:
    """The sorted union of the parts' indexes (sample ids), as an object index.

    Unique and sorted by pyarrow: code point order, which is what ``sorted`` gives for str.
    """
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    chunks = [pa.array(p.index, type=pa.large_string()) for p in parts]
    ids = pc.unique(pa.chunked_array(chunks, type=pa.large_string()))
    ids = ids.take(pc.sort_indices(ids))
    index: pd.Index = pd.Index(ids.to_numpy(zero_copy_only=False), name="sample_id", dtype="object")
    return index


def _artifact_table(
    inv: Inventory, indexes: Mapping[str, ShardIndex], keep: Literal["first", "last"]
) -> pd.DataFrame:
    import pandas as pd

    frames = []
    for artifact in ARTIFACTS:
        files: dict[str, str] = {}
        for (_et, art), found in inv.loose.items():
            if art == artifact:
                files.update(found)
        ids: list[str] = []
        shard_col: list[str] = []
        offsets: list[int] = []
        sizes: list[int] = []
        for rel, shard in sorted(inv.shards.items(), key=lambda kv: kv[1].part):
            if shard.artifact != artifact or rel not in indexes:
                continue
            for entry in indexes[rel].entries:
                ids.append(entry.sample_id)
                shard_col.append(rel)
                offsets.append(entry.offset)
                sizes.append(entry.size)
        in_shards = pd.DataFrame(
            {
                f"{artifact}_shard": pd.array(shard_col, dtype="object"),
                f"{artifact}_offset": pd.array(offsets, dtype="Int64"),
                f"{artifact}_size": pd.array(sizes, dtype="Int64"),
            },
            index=pd.Index(ids, name="sample_id", dtype="object"),
        )
        in_shards = in_shards[~in_shards.index.duplicated(keep=keep)]
        loose = pd.DataFrame(
            {f"{artifact}_file": pd.array(list(files.values()), dtype="object")},
            index=pd.Index(list(files.keys()), name="sample_id", dtype="object"),
        )
        frames.append(loose.join(in_shards, how="outer"))
    joined: pd.DataFrame = pd.concat(frames, axis=1)
    return joined


def build_table(
    inv: Inventory,
    fs: AbstractFileSystem,
    base: str,
    indexes: Mapping[str, ShardIndex],
    report: SkipReport,
    *,
    keep: Literal["first", "last"] = "first",
) -> pd.DataFrame:
    """Assemble the catalog table from an inventory and the shard indexes.

    ``keep`` picks the member of an id held by several shards of one family (part order).
    """
    import pandas as pd

    marking = _MarkingReport(report)
    report = marking
    ahead = _Ahead(inv, fs, base)
    try:
        prompts, metadata = _prompt_table(inv, fs, base, report)
        parts: list[pd.DataFrame] = [prompts, metadata]
        early: dict[RecordName, _Recorded] = {}
        for record in RECORD_FILES:
            if record == _WAITS_FOR and ahead.busy():
                # While the helper still parses these, read the file after them now, on the
                # side: its skips and errors are handed to ``report`` after these, as usual.
                early[_READ_EARLY] = _Recorded(
                    lambda rec: _record_table(inv, fs, base, _READ_EARLY, rec, ahead)
                )
            if record in early:
                t = early.pop(record).replay(report)
            else:
                t = _record_table(inv, fs, base, record, report, ahead)
            if t is not None:
                parts.append(t)
    finally:
        ahead.close()
    artifacts = _artifact_table(inv, indexes, keep)
    parts.append(artifacts)
    table = pd.DataFrame(index=_sorted_ids(parts))
    for p in parts:
        table = table.join(p, how="left")
    table.insert(0, "edit_type", [edit_type_of(s) for s in table.index])
    for flag in ["in_corpus", "has_metadata", *(f"in_{r}" for r in RECORD_FILES)]:
        if flag not in table:
            table[flag] = False
        table[flag] = table[flag].fillna(False).astype(bool)
    last = np.full(len(table), None, dtype=object)
    for record in PIPELINE_ORDER:
        last[table[f"in_{record}"].to_numpy()] = record
    table.insert(2, "last_record", last)
    has_artifact = np.zeros(len(table), dtype=bool)
    for artifact in ARTIFACTS:
        for col in (f"{artifact}_file", f"{artifact}_shard"):
            if col in table:
                has_artifact |= table[col].notna().to_numpy()
    in_records = table[[f"in_{r}" for r in RECORD_FILES]].any(axis=1).to_numpy()
    status = np.where(
        table["in_corpus"].to_numpy(),
        "corpus",
        np.where(
            has_artifact | table["has_metadata"].to_numpy(),
            "orphan",
            np.where(in_records, "rejected", "unknown"),
        ),
    )
    table.insert(1, "status", status)
    reasons = np.full(len(table), None, dtype=object)
    if marking.marks:
        where = table.index.get_indexer(list(marking.marks))
        found = where >= 0
        reasons[where[found]] = np.asarray(list(marking.marks.values()), dtype=object)[found]
    table["skip_reason"] = reasons
    result: pd.DataFrame = table
    return result
