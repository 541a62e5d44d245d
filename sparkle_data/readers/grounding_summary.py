"""The grounding summary table, fast: :func:`load_grounding_summary_table`.

The file is read whole and most lines are checked in bulk by pyarrow
(:mod:`._grounding_bulk`); the lines it does not vouch for take the line-by-line path of the
record readers, so the table, the errors and the skip counts are exactly theirs. The steps
are public for the catalog, which runs the side-effect-free ones (:func:`parse_ahead`,
:func:`prepare_whole`) on a helper thread and the rest (:func:`summary_table`) in order.
Also importable from :mod:`sparkle_data.readers.grounding`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal, cast

import numpy as np
import numpy.typing as npt

import sparkle_data.readers._lines as physical_lines
from sparkle_data.errors import CorruptRecordError
from sparkle_data.layout import parse_edit_type
from sparkle_data.policy import OnError, SkipReport
from sparkle_data.readers._fields import RecordWhere, reason_of
from sparkle_data.readers._grounding import GroundingValues, SummaryRow, converter, summary_of
from sparkle_data.readers._grounding_bulk import bulk_rows, check_rows, parse_lines
from sparkle_data.readers._text import (
    SKIPPED,
    JsonlRecords,
    Line,
    TextSource,
    check_unique,
    iter_line_views,
    open_text_source,
    resolve_report,
    source_name,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "ParsedAhead",
    "PreparedSummary",
    "load_grounding_summary_table",
    "parse_ahead",
    "prepare_parsed",
    "prepare_summary",
    "prepare_whole",
    "summary_table",
]


def load_grounding_summary_table(
    source: TextSource,
    *,
    record: Literal[
        "foreground_grounding_r1", "foreground_grounding_r2"
    ] = "foreground_grounding_r2",
    edit_type: str | None = None,
    name: str | None = None,
    on_error: OnError = "error",
    report: SkipReport | None = None,
) -> pd.DataFrame:
    """Per-sample grounding counts as a DataFrame, fast (no record objects are built).

    Columns: ``sample_id``, ``num_labels`` (``len(round1_labels)``), ``num_frames`` (frames in
    ``frame_objects`` for r2; 1 for r1, whose boxes are on the source first frame),
    ``num_empty_boxes`` (label slots with no box: ``bbox_2d: []``, a label a frame omits, or a
    box made unusable under a lenient policy) and ``empty_box_share`` = ``num_empty_boxes /
    (num_frames * num_labels)``, or 1.0 when there is no slot at all (nothing localised, so a
    ``share <= t`` filter drops it). ``max_box_area`` and ``mean_box_area``: the largest and
    the mean area of the localised boxes of those same slots, as a share of the frame,
    ``(x2 - x1) * (y2 - y1) / 1e6`` in ``[0, 1]`` (boxes as kept: repaired under a lenient
    policy); NaN when no slot has a box. Validation is exactly that of the ``iter_*`` readers.
    """
    if record not in ("foreground_grounding_r1", "foreground_grounding_r2"):
        raise ValueError(f"Invalid record {record!r}: must be a foreground_grounding_r* file.")
    report = resolve_report(on_error, report)
    if edit_type is not None:
        parse_edit_type(edit_type)
    path = source_name(source, name)
    with_frames = record == "foreground_grounding_r2"
    prepared = prepare_summary(source, with_frames=with_frames, name=path, edit_type=edit_type)
    return summary_table(prepared, name=path, edit_type=edit_type, report=report)



_Entry = tuple[int, "bytes | CorruptRecordError | None", bool, "SummaryRow | None"]
"""A non-blank line: ``(number, line, terminated, row)``; see :class:`PreparedSummary`."""


@dataclass(frozen=True, slots=True)
class PreparedSummary:
    """A grounding file read and, where possible, validated in bulk (:func:`prepare_summary`).

    ``entries`` has one ``(number, line, terminated, row)`` per non-blank line, in file order.
    ``row`` is the line's summary when the bulk check vouched for the line (``line`` is then
    ``None``), else ``None`` with the line's bytes, for the line-by-line path, or the error
    of a line too long to be a record (skipped unread; reported in its place). ``stop`` is
    what reading raised after the last entry (a line too long, a text-mode file, an I/O
    error), to be raised at that point. Preparing has no side effect: nothing is reported,
    nothing raised; :func:`summary_table` does both, in file order.
    """

    with_frames: bool
    entries: list[_Entry]
    stop: Exception | None



def summary_table(
    prepared: PreparedSummary, *, name: str, edit_type: str | None, report: SkipReport
) -> pd.DataFrame:
    """The table of :func:`load_grounding_summary_table` from a prepared file.

    Lines are taken in file order: a vouched line gives its summary after the duplicate-id
    check, any other line goes through the line-by-line path (:meth:`JsonlRecords.exact`
    with the full converter, its box problems handed to ``report``), so the table, the
    errors and the skip counts are exactly those of the ``iter_*`` readers.
    """
    import pandas as pd

    records = JsonlRecords(name, report, edit_type, converter(prepared.with_frames))
    ids: list[str] = []
    counts: list[tuple[int, int, int]] = []
    areas: list[tuple[float, float]] = []
    for number, line, terminated, row in prepared.entries:
        if isinstance(line, CorruptRecordError):
            report.handle(line, "line_too_long")
            continue
        if row is None:
            values = records.exact(number, cast(bytes, line), terminated)
            if values is SKIPPED:
                continue
            values = cast(GroundingValues, values)
            for problem in values[-1]:
                report.handle(problem, reason_of(problem))
            row = summary_of(values)
        elif not records.first_sighting(row[0], number):
            check_unique(records.seen, row[0], RecordWhere(name, number, row[0]))  # raises
        ids.append(row[0])
        counts.append(row[1:4])
        areas.append(row[4:])
    if prepared.stop is not None:
        raise prepared.stop
    table = np.array(counts, dtype=np.int64).reshape(len(counts), 3)
    total = table[:, 0] * table[:, 1]
    share = np.ones(len(counts), dtype=np.float64)
    np.divide(table[:, 2], total, out=share, where=total > 0)
    box_areas = np.array(areas, dtype=np.float64).reshape(len(areas), 2)
    frame: pd.DataFrame = pd.DataFrame(
        {
            "sample_id": pd.array(ids, dtype="str"),
            "num_labels": table[:, 0],
            "num_frames": table[:, 1],
            "num_empty_boxes": table[:, 2],
            "empty_box_share": share,
            "max_box_area": box_areas[:, 0],
            "mean_box_area": box_areas[:, 1],
        }
    )
    return frame


_BULK_BYTES: Final = 64 << 20
"""Lines checked in one pyarrow call when the whole file cannot be."""
_BULK_RETRY_LINES: Final = (2048, 64)
"""A group pyarrow refuses (one bad line fails the parse) is retried in parts this long."""
_WHITESPACE: Final = frozenset(b" \t\n\r\x0b\x0c")  # bytes.isspace
"""pyarrow's parse block (a longer line fails the parse, and goes to the line-by-line path)."""


def prepare_summary(
    source: TextSource,
    *,
    with_frames: bool,
    name: str,
    edit_type: str | None,
    use_threads: bool = True,
) -> PreparedSummary:
    """Read a grounding file and vouch for the lines that pass every check, in bulk.

    Side-effect free (see :class:`PreparedSummary`). :func:`parse_ahead` then
    :func:`prepare_parsed`; the first half may run on another thread.
    """
    parsed = parse_ahead(source, with_frames=with_frames, use_threads=use_threads, one_read=False)
    return prepare_parsed(parsed, name=name, edit_type=edit_type, use_threads=use_threads)


@dataclass(frozen=True, slots=True)
class ParsedAhead:
    """A grounding file read whole and, when it is in the form that allows it, its lines
    ``2 .. n`` parsed by pyarrow in one call (:func:`parse_ahead`): what
    :func:`prepare_parsed` checks. ``table`` is ``None`` when the file is not in that form.

    ``data`` is the file; ``sizes`` the lengths of the chunks the reads returned (``None``: a
    regular file read in one go, whose chunks of :data:`physical_lines.CHUNK_SIZE` are implied);
    ``raw`` the chunks themselves when some were not ``bytes``; ``failure`` what opening or
    reading raised. The line reader is replayed on exactly those reads when needed.
    """

    with_frames: bool
    data: bytes
    sizes: list[int] | None
    raw: list[Any] | None
    failure: Exception | None
    segments: list[_Segment] | None


def parse_ahead(
    source: TextSource, *, with_frames: bool, use_threads: bool = False, one_read: bool = True
) -> ParsedAhead:
    """Read ``source`` and parse it with pyarrow in one call, when it is in the form that
    allows it: bytes, at least two lines, no line longer than :data:`physical_lines.MAX_LINE_BYTES`,
    no blank line (``{"r":}`` fails the parse), so that every line is one row.

    Side-effect free, and a few calls that hold the GIL briefly (the parse releases it): the
    part of :func:`prepare_summary` that pays on another thread. Nothing is checked here
    beyond what the parse refuses. ``one_read`` reads a regular file in one ``read()``: the
    bytes :func:`iter_line_views` would read in chunks (a failing read then raises here, for
    the caller to read the file the usual way).
    """
    chunks, failure = _read_chunks(source, one_read)
    if one_read and failure is not None:
        raise failure  # the chunked reads of the line reader may have got further
    if failure is not None or any(type(c) is not bytes for c in chunks):
        return ParsedAhead(with_frames, b"", None, chunks, failure, None)
    data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    sizes = None if one_read else [len(c) for c in chunks]
    del chunks
    segments = _parse_whole(data, with_frames, use_threads)
    return ParsedAhead(with_frames, data, sizes, None, None, segments)


def prepare_parsed(
    parsed: ParsedAhead, *, name: str, edit_type: str | None, use_threads: bool = True
) -> PreparedSummary:
    """The checks of :func:`prepare_summary` on a file read (and maybe parsed) ahead."""
    with_frames = parsed.with_frames
    whole = prepare_whole(parsed, edit_type=edit_type)
    if whole is not None:
        return whole
    entries: list[_Entry] = []
    block: list[tuple[int, Line, bool]] = []
    size = 0
    stop: Exception | None = None

    def too_long(error: CorruptRecordError) -> None:
        nonlocal block, size
        if block:  # keep file order: the lines before it first
            _vouch(block, with_frames, edit_type, use_threads, entries)
            block, size = [], 0
        entries.append((error.line or 0, error, False, None))

    try:
        for item in iter_line_views(_Replay(parsed), name=name, on_long=too_long):
            line = item[1]
            if not line or (line[0] in _WHITESPACE and bytes(line).isspace()):
                continue  # blank: the line-by-line path skips it, with no effect
            block.append(item)
            size += len(line)
            if size >= _BULK_BYTES:
                _vouch(block, with_frames, edit_type, use_threads, entries)
                block, size = [], 0
    except Exception as e:  # raised by reading: re-raised after the lines before it
        stop = e
    if block:
        _vouch(block, with_frames, edit_type, use_threads, entries)
    return PreparedSummary(with_frames, entries, stop)


def prepare_whole(parsed: ParsedAhead, *, edit_type: str | None) -> PreparedSummary | None:
    """:func:`prepare_parsed` when the file was in the form :func:`parse_ahead` parses whole
    (then a few calls per segment, most of them releasing the GIL), else ``None``."""
    if parsed.segments is None:
        return None
    with_frames = parsed.with_frames
    rows: list[SummaryRow | None] = []
    for segment in parsed.segments:
        got = None
        if segment.fields is not None:
            got = check_rows(segment.fields, with_frames, edit_type)
        if got is None:  # pyarrow refused it, or a null somewhere: retried in smaller groups
            lines = [parsed.data[a:b] for a, b in segment.bounds()]
            got = _vouch_rows(lines, with_frames, edit_type, False, _BULK_RETRY_LINES)
        rows += got
    return PreparedSummary(with_frames, _whole_entries(parsed.data, rows), None)


def _read_chunks(source: TextSource, one_read: bool) -> tuple[list[bytes], Exception | None]:
    """What :func:`iter_line_views` reads from ``source``, chunk by chunk, and what opening or
    reading raised (then the chunks before it); replayed by :class:`_Replay`."""
    chunks: list[bytes] = []
    try:
        with open_text_source(source) as f:
            while True:
                chunk = f.read() if one_read else f.read(physical_lines.CHUNK_SIZE)
                if not chunk:
                    break
                chunks.append(chunk)
    except Exception as e:
        return chunks, e
    return chunks, None


class _Replay:
    """A binary file object making the reads of :class:`ParsedAhead` again (same chunks),
    then raising what reading raised."""

    def __init__(self, parsed: ParsedAhead) -> None:
        self._parsed = parsed
        self._raw = list(parsed.raw or ())[::-1]
        self._sizes = list(parsed.sizes or ())[::-1]
        self._pos = 0

    def read(self, size: int = -1, /) -> Any:
        parsed = self._parsed
        if parsed.raw is not None:
            if self._raw:
                return self._raw.pop()
        elif self._pos < len(parsed.data):
            step = self._sizes.pop() if parsed.sizes is not None else size
            chunk = parsed.data[self._pos : self._pos + step]
            self._pos += step
            return chunk
        if parsed.failure is not None:
            raise parsed.failure
        return b""


@dataclass(frozen=True, slots=True)
class _Segment:
    """Lines parsed together by :func:`_parse_whole`: ``count`` lines whose ``\\n`` are at
    ``ends``, the first starting at ``start``; ``fields`` as :func:`parse_lines` gives them."""

    start: int
    ends: npt.NDArray[np.int64]
    fields: list[Any] | None

    def bounds(self) -> Iterator[tuple[int, int]]:
        """``(start, stop)`` of each line, its newline left out."""
        start = self.start
        for end in self.ends.tolist():
            yield start, end
            start = end + 1


_SEGMENT_BYTES: Final = 32 << 20
"""Lines parsed in one pyarrow call by :func:`_parse_whole` (a bad line fails its segment)."""


def _parse_whole(data: bytes, with_frames: bool, use_threads: bool) -> list[_Segment] | None:
    """Lines ``2 .. n`` of ``data`` (``n - 1`` if the last line has no newline) parsed by
    pyarrow in segments, or ``None`` (see :func:`parse_ahead`). Line 1 (which may hold a BOM)
    and an unterminated last line are left to the line-by-line path.

    The lines are parsed as they are, with no copy, when each starts with ``{`` and ends
    with ``}`` (before an optional ``\\r``): no JSON value can then span a newline (inside a
    value, ``}`` is never followed by ``{``), so a line holds whole values, and with as many
    rows as lines, exactly one.
    """
    nl = _newlines(data)
    if len(nl) < 2:
        return None
    limit = physical_lines.MAX_LINE_BYTES
    if int(nl[0]) >= limit or len(data) - int(nl[-1]) > limit or int(np.diff(nl).max()) > limit:
        return None  # the line reader may refuse a line this long: its call
    codes = np.frombuffer(data, dtype=np.uint8)
    ends = nl[1:] - 1  # the last byte of lines 2 .. len(nl)
    ends -= codes[ends] == 13  # before a "\\r" (an empty line then fails the test below)
    if not ((codes[nl[:-1] + 1] == 0x7B).all() and (codes[ends] == 0x7D).all()):
        return None
    segments = []
    first = 0  # the newline before the segment's first line
    while first < len(nl) - 1:
        last = int(np.searchsorted(nl, nl[first] + _SEGMENT_BYTES, side="right")) - 1
        last = min(max(last, first + 1), len(nl) - 1)
        start, stop = int(nl[first]) + 1, int(nl[last]) + 1
        lines = memoryview(data)[start:stop]
        fields = parse_lines(lines, last - first, with_frames, use_threads, wrapped=False)
        segments.append(_Segment(start, nl[first + 1 : last + 1], fields))
        first = last
    return segments


def _newlines(data: bytes, step: int = 16 << 20) -> npt.NDArray[np.int64]:
    """Where the ``\\n`` of ``data`` are (in windows, to keep the temporaries small)."""
    codes = np.frombuffer(data, dtype=np.uint8)
    found = [np.flatnonzero(codes[i : i + step] == 10) + i for i in range(0, len(codes), step)]
    return np.concatenate(found) if found else np.zeros(0, dtype=np.int64)


def _whole_entries(data: bytes, rows: list[SummaryRow | None]) -> list[_Entry]:
    """The entries of a file whose lines ``2 .. len(rows) + 1`` are ``rows``; the others
    (line 1, an unterminated last line, lines not vouched for) as the line reader gives them."""
    if all(row is not None for row in rows):  # only the first and last lines are needed
        bounds = [-1, data.index(b"\n")]
        tail = data.rindex(b"\n")
    else:
        found = _newlines(data).tolist()
        bounds, tail = [-1, *found], found[-1]

    def exact(number: int, terminated: bool) -> _Entry:
        start = bounds[number - 1] + 1 if terminated else tail + 1
        line = data[start : bounds[number]] if terminated else data[start:]
        if number == 1 and line.startswith(physical_lines.BOM):
            line = line[3:]
        if line.endswith(b"\r"):
            line = line[:-1]
        return (number, line, terminated, None)

    entries = [exact(1, True)]
    entries += [
        (number, None, True, row) if row is not None else exact(number, True)
        for number, row in enumerate(rows, start=2)
    ]
    if tail < len(data) - 1:  # an unterminated last line
        entries.append(exact(len(rows) + 2, False))
    return entries


def _vouch(
    block: list[tuple[int, Line, bool]],
    with_frames: bool,
    edit_type: str | None,
    use_threads: bool,
    entries: list[_Entry],
) -> None:
    """Append the entries of ``block`` (its lines checked by :func:`_vouch_rows`)."""
    lines = [line for _, line, _ in block]
    rows = _vouch_rows(lines, with_frames, edit_type, use_threads, _BULK_RETRY_LINES)
    for (number, line, terminated), row in zip(block, rows, strict=True):
        entries.append((number, None if row is not None else bytes(line), terminated, row))


def _vouch_rows(
    lines: Sequence[Line],
    with_frames: bool,
    edit_type: str | None,
    use_threads: bool,
    retry: tuple[int, ...],
) -> list[SummaryRow | None]:
    """:func:`bulk_rows` of ``lines``; a group pyarrow refuses is retried in parts."""
    wrapped = b'{"r":' + b'}\n{"r":'.join(lines) + b"}\n"
    rows = bulk_rows(wrapped, len(lines), with_frames, edit_type, use_threads)
    if rows is not None:
        return rows
    parts = [p for p in retry if p < len(lines)]
    if not parts:
        return [None] * len(lines)
    out: list[SummaryRow | None] = []
    for start in range(0, len(lines), parts[0]):
        part = lines[start : start + parts[0]]
        out += _vouch_rows(part, with_frames, edit_type, use_threads, tuple(parts[1:]))
    return out


