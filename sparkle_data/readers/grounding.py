"""Foreground grounding records: ``foreground_grounding_r1.jsonl`` and ``..._r2.jsonl``.

:func:`iter_grounding_r1` / :func:`load_grounding_r1` and :func:`iter_grounding_r2` /
:func:`load_grounding_r2` read them into :class:`GroundingR1Record` / :class:`GroundingR2Record`
records. This module is also the one import path for the rest of the grounding vocabulary,
each defined in the module of its job:

* :mod:`.boxes`: the ``bbox_2d`` rules, :data:`BBox`, :func:`normalize_bbox`;
* :mod:`.grounding_records`: the record types and their label rules;
* :mod:`.grounding_summary`: :func:`load_grounding_summary_table`, the fast per-sample table;
* :mod:`.grounding_arrays`: :func:`boxes_array`, :class:`BoxesArray`,
  :func:`grounding_frame_indices` (pixels for training).

Box problems are handled (raised, or counted under a lenient policy) after a record passed
every structural check, so the counts cover only the records that are kept.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

from sparkle_data.policy import SkipReport
from sparkle_data.readers._fields import reason_of
from sparkle_data.readers._grounding import (
    MAX_GROUNDING_FRAMES,
    GroundingValues,
    Slots,
    converter,
)
from sparkle_data.readers._reader import Rows, eager_reader, jsonl_rows, lazy_reader
from sparkle_data.readers._text import TextSource
from sparkle_data.readers.boxes import BBox, normalize_bbox
from sparkle_data.readers.grounding_arrays import BoxesArray, boxes_array, grounding_frame_indices
from sparkle_data.readers.grounding_records import (
    GroundedObject,
    GroundingR1Record,
    GroundingR2Record,
)
from sparkle_data.readers.grounding_summary import ParsedAhead as ParsedAhead
from sparkle_data.readers.grounding_summary import PreparedSummary as PreparedSummary
from sparkle_data.readers.grounding_summary import (
    load_grounding_summary_table,
)
from sparkle_data.readers.grounding_summary import parse_ahead as parse_ahead
from sparkle_data.readers.grounding_summary import prepare_parsed as prepare_parsed
from sparkle_data.readers.grounding_summary import prepare_summary as prepare_summary
from sparkle_data.readers.grounding_summary import prepare_whole as prepare_whole
from sparkle_data.readers.grounding_summary import summary_table as summary_table

__all__ = [
    "MAX_GROUNDING_FRAMES",
    "BBox",
    "BoxesArray",
    "GroundedObject",
    "GroundingR1Record",
    "GroundingR2Record",
    "boxes_array",
    "grounding_frame_indices",
    "iter_grounding_r1",
    "iter_grounding_r2",
    "load_grounding_r1",
    "load_grounding_r2",
    "load_grounding_summary_table",
    "normalize_bbox",
]


def _record_rows(with_frames: bool) -> Rows[GroundingValues]:
    """The row parser of a grounding file: validated values per record, box problems handed
    to the report once the record passed every other check."""
    convert = converter(with_frames)
    records = jsonl_rows(convert)

    def rows(
        source: TextSource, name: str, report: SkipReport, edit_type: str | None
    ) -> Iterator[GroundingValues]:
        for values in records(source, name, report, edit_type):
            for problem in values[-1]:
                report.handle(problem, reason_of(problem))
            yield values

    return rows


def _objects(labels: tuple[str, ...], boxes: Slots) -> tuple[GroundedObject, ...]:
    return tuple(GroundedObject(label, box) for label, box in zip(labels, boxes, strict=True))


@lazy_reader(_record_rows(with_frames=False))
def iter_grounding_r1(values: GroundingValues) -> GroundingR1Record:
    """Lazily read ``foreground_grounding_r1.jsonl``."""
    sid, prompt, edit_type, labels, round1, _, _ = values
    return GroundingR1Record(sid, prompt, edit_type, labels, _objects(labels, round1))


@lazy_reader(_record_rows(with_frames=True))
def iter_grounding_r2(values: GroundingValues) -> GroundingR2Record:
    """Lazily read ``foreground_grounding_r2.jsonl``."""
    sid, prompt, edit_type, labels, round1, frames, _ = values
    return GroundingR2Record(
        sid,
        prompt,
        edit_type,
        labels,
        _objects(labels, round1),
        tuple(_objects(labels, f) for f in frames or ()),
    )


load_grounding_r1: Final = eager_reader(iter_grounding_r1)
load_grounding_r2: Final = eager_reader(iter_grounding_r2)
