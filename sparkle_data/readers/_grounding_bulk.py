"""The bulk check of grounding lines with pyarrow, for the summary table (private).

:func:`bulk_rows` (lines wrapped one per row) and :func:`parse_lines` + :func:`check_rows`
(lines parsed as they are) vouch for the lines that pass every check of the line-by-line
path, and give their summary rows; :mod:`.grounding_summary` leaves every other line to that
path. Nothing here reports or raises a reader error.
"""

from __future__ import annotations

import functools
import re
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from sparkle_data.errors import SparkleError
from sparkle_data.layout import (
    BBOX_SCALE,
    EDIT_TYPES,
    METADATA_EDIT_TYPE_ALIASES,
    canonical_edit_type,
    parse_sample_id,
)
from sparkle_data.readers._fields import NOWHERE
from sparkle_data.readers._grounding import (
    BOX_AREA,
    MAX_GROUNDING_FRAMES,
    SummaryRow,
    check_prompt_and_type,
)

__all__ = ["PARSE_BLOCK", "box_areas", "bulk_rows", "check_rows", "parse_lines"]

_ID_PATTERN: Final = f"^Sparkle_(?:{'|'.join(map(re.escape, EDIT_TYPES))})_[0-9]{{6}}$"
"""The sample id rule of :func:`~sparkle_data.layout.parse_sample_id`, as a regex for
pyarrow (built from the layout's edit types)."""

PARSE_BLOCK: Final = 4 << 20
"""pyarrow's parse block (a longer line fails the parse, and goes to the line-by-line path)."""


@functools.lru_cache(maxsize=4)
def _bulk_schema(with_frames: bool, wrapped: bool) -> Any:
    """The record's keys and types, as the value of ``r`` when the lines are ``wrapped``."""
    import pyarrow as pa

    obj = pa.struct([("bbox_2d", pa.list_(pa.int64())), ("label", pa.string())])
    fields = [
        ("id", pa.string()),
        ("prompt", pa.string()),
        ("edit_type", pa.string()),
        ("round1_labels", pa.list_(pa.string())),
        ("round1_objects", pa.list_(obj)),
    ]
    if with_frames:
        fields.append(("frame_objects", pa.list_(pa.list_(obj))))
    return pa.schema([("r", pa.struct(fields))]) if wrapped else pa.schema(fields)


@functools.lru_cache(maxsize=8)
def _raw_edit_types(edit_type: str) -> tuple[str, ...]:
    """The ``edit_type`` values :func:`canonical_edit_type` maps to ``edit_type``."""
    names = (*METADATA_EDIT_TYPE_ALIASES, *EDIT_TYPES)
    return tuple(n for n in names if canonical_edit_type(n) == edit_type)


def bulk_rows(
    wrapped: bytes, count: int, with_frames: bool, edit_type: str | None, use_threads: bool
) -> list[SummaryRow | None] | None:
    """The summary of each line the bulk check vouches for (``None`` for the others), or
    ``None`` when pyarrow refuses the lines as a whole.

    ``wrapped`` holds ``count`` lines, each as ``{"r": <line>}``; pyarrow parses them against
    a schema of exactly the record's keys (an unexpected key anywhere is an error), one row
    per line: so a row is a line that is one JSON object holding only those keys, each at
    most once, with the schema's types (``int64`` boxes: a float, a bool, NaN or an integer
    past 64 bits is refused). With every string valid UTF-8 (``validate(full=True)``) and no
    ``null`` (a missing key reads as ``null``), such a line is one orjson parses to the same
    values. The rest is checked here as the line-by-line path checks it: the id
    (:func:`~sparkle_data.layout.parse_sample_id`, the file's edit type), the header (as
    :func:`check_prompt_and_type`), at most 11 frames, every object list listing exactly
    ``round1_labels`` in order, every box ``[]`` or four ints with ``0 <= x1 <= x2 <= 1000``
    and ``0 <= y1 <= y2 <= 1000``: the records where :func:`_objects` keeps every box as it
    is and reports nothing. Any other line is left to that path.
    """
    fields = parse_lines(wrapped, count, with_frames, use_threads, wrapped=True)
    return None if fields is None else check_rows(fields, with_frames, edit_type)


def parse_lines(
    lines: bytes | memoryview, count: int, with_frames: bool, use_threads: bool, *, wrapped: bool
) -> Any:
    """pyarrow's parse of ``count`` lines (see :func:`bulk_rows`, :func:`_parse_whole`), or
    ``None``: the record's fields, one array per key."""
    import pyarrow as pa
    import pyarrow.json as pj

    try:
        table = pj.read_json(
            pa.BufferReader(pa.py_buffer(lines)),
            read_options=pj.ReadOptions(use_threads=use_threads, block_size=PARSE_BLOCK),
            parse_options=pj.ParseOptions(
                explicit_schema=_bulk_schema(with_frames, wrapped),
                unexpected_field_behavior="error",
            ),
        )
        table.validate(full=True)  # UTF-8, which the JSON reader does not check
    except pa.ArrowException:
        return None
    if table.num_rows != count:
        return None
    if not wrapped:
        return [column.combine_chunks() for column in table.columns]
    rec = table.column(0).combine_chunks()
    return None if rec.null_count else rec.flatten()  # a line that is null


def check_rows(
    fields: list[Any], with_frames: bool, edit_type: str | None
) -> list[SummaryRow | None] | None:
    """The checks of :func:`bulk_rows` on parsed lines (one array per key): a summary or
    ``None`` per line; ``None`` if some value is ``null`` (which line is then not known)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    ids, prompts, types, labels, round1 = fields[:5]
    label_values = labels.flatten()
    n = len(ids)
    # (object lists, the row of each list): round1_objects, then each frame of frame_objects
    groups: list[tuple[Any, npt.NDArray[np.int64]]] = [(round1, np.arange(n))]
    n_frames = np.ones(n, dtype=np.int64)
    if with_frames:
        n_frames, _ = _list_bounds(fields[5])
        groups.append((fields[5].flatten(), np.repeat(np.arange(n), n_frames)))
    arrays = [*fields, label_values]
    flat = []
    for object_lists, owner in groups:
        objects = object_lists.flatten()
        boxes, object_labels = objects.flatten()
        flat.append((object_lists, owner, objects, boxes, object_labels))
        arrays += [object_lists, objects, boxes, object_labels, boxes.flatten()]
    if any(a.null_count for a in arrays):
        return None  # a missing key or a null somewhere: rare, left to smaller groups
    n_labels, label_start = _list_bounds(labels)
    ok = n_frames <= MAX_GROUNDING_FRAMES
    empty = np.zeros(n, dtype=np.int64)
    box_row = box_area = np.zeros(0, dtype=np.int64)  # the row and area of each box counted
    for object_lists, owner, objects, boxes, object_labels in flat:
        length, start = _list_bounds(object_lists)
        of_list = np.repeat(np.arange(len(length)), length)  # the list of each object
        row = owner[of_list]
        position = np.arange(len(objects)) - start[of_list]
        bad = position >= n_labels[row]  # more objects than labels
        if len(label_values):
            index = np.minimum(label_start[row] + position, len(label_values) - 1)
            same = pc.equal(object_labels, label_values.take(pa.array(index)))
            bad |= ~same.to_numpy(zero_copy_only=False)
        box_len, box_start = _list_bounds(boxes)
        bad |= (box_len != 0) & (box_len != 4)
        boxed = box_len == 4
        four = box_start[boxed]
        area = np.zeros(0, dtype=np.int64)
        if len(four):
            v = boxes.flatten().to_numpy()
            x1, y1, x2, y2 = v[four], v[four + 1], v[four + 2], v[four + 3]
            bad[boxed] |= (
                (x1 < 0) | (y1 < 0) | (x2 > BBOX_SCALE) | (y2 > BBOX_SCALE) | (x1 > x2) | (y1 > y2)
            )
            area = (x2 - x1) * (y2 - y1)  # in [0, 1000**2] on the rows kept
        bad_list = (length != n_labels[owner]) | (
            np.bincount(of_list, weights=bad, minlength=len(length)) > 0
        )
        ok &= np.bincount(owner, weights=bad_list, minlength=n) == 0
        # the slots counted: those of the frames for r2, of round 1 for r1 (the last group)
        empty = np.bincount(row, weights=box_len == 0, minlength=n).astype(np.int64)
        box_row, box_area = row[boxed], area
    max_area, mean_area = box_areas(box_row, box_area, n)
    # the header, as check_prompt_and_type and the id checks would find it
    ok &= pc.match_substring_regex(ids, _ID_PATTERN).to_numpy(zero_copy_only=False)
    if edit_type is not None:
        ok &= pc.starts_with(ids, f"Sparkle_{edit_type}_").to_numpy(zero_copy_only=False)
        raw_ok = pc.is_in(types, value_set=pa.array(_raw_edit_types(edit_type), pa.string()))
        ok &= raw_ok.to_numpy(zero_copy_only=False)
    id_list = ids.to_pylist()
    # a prompt starting with a printable ASCII character is not blank; the others, and the
    # raw edit types when the file's edit type is not given, are checked one by one
    plain = pc.match_substring_regex(prompts, "^[!-~]").to_numpy(zero_copy_only=False)
    for i in np.flatnonzero(ok & ~plain if edit_type is not None else ok).tolist():
        try:
            check_prompt_and_type(
                parse_sample_id(id_list[i]), prompts[i].as_py(), types[i].as_py(), NOWHERE
            )
        except SparkleError:
            ok[i] = False
    counts = zip(
        id_list,
        n_labels.tolist(),
        n_frames.tolist(),
        empty.tolist(),
        max_area.tolist(),
        mean_area.tolist(),
        strict=True,
    )
    return [row if good else None for row, good in zip(counts, ok.tolist(), strict=True)]


def box_areas(
    row: npt.NDArray[np.int64], area: npt.NDArray[np.int64], n: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Per row of ``n``: the largest and the mean of the box ``area`` (``[0, 1000]`` units,
    the row of each box in ``row``) as a share of the frame, NaN for a row with no box.

    Exactly the floats of :func:`summary_of`: ``max / 1e6`` and ``sum / (count * 1e6)``,
    each one correctly rounded division of integers that float64 holds exactly.
    """
    count = np.bincount(row, minlength=n)
    total = np.bincount(row, weights=area, minlength=n)  # exact: integers below 2**53
    largest = np.zeros(n, dtype=np.int64)
    if len(row) and bool((row[1:] >= row[:-1]).all()):  # grouped by row, as built
        starts = np.flatnonzero(np.r_[True, row[1:] != row[:-1]])
        largest[row[starts]] = np.maximum.reduceat(area, starts)
    elif len(row):
        np.maximum.at(largest, row, area)
    has = count > 0
    max_area = np.full(n, np.nan)
    mean_area = np.full(n, np.nan)
    np.divide(largest, float(BOX_AREA), out=max_area, where=has)
    np.divide(total, count * float(BOX_AREA), out=mean_area, where=has)
    return max_area, mean_area


def _list_bounds(lists: Any) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Lengths of the lists of a pyarrow list array, and where each starts in ``flatten()``."""
    offsets = lists.offsets.to_numpy().astype(np.int64)
    return np.diff(offsets), offsets[:-1] - offsets[0]


