"""Rows of the strict RFC-4180 CSV files (prompts, Sparkle-Bench) (private).

:func:`iter_csv_rows` reads the physical lines of :mod:`._lines`, so errors carry the
physical line a row starts on as well as its data row.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator

from sparkle_data.errors import CorruptRecordError
from sparkle_data.policy import SkipReport
from sparkle_data.readers._fields import RecordWhere, reason_of
from sparkle_data.readers._lines import Line, TextSource, iter_line_views

__all__ = ["iter_csv_rows"]


def _decoded_lines(
    lines: Iterator[tuple[int, Line, bool]], bad: dict[int, UnicodeDecodeError]
) -> Iterator[str]:
    """Physical lines decoded for :mod:`csv` with ``\\n`` restored (so quoted newlines survive).

    An undecodable line is decoded with ``surrogateescape`` and remembered in ``bad``, so the
    CSV row that contains it can be reported (or skipped) as a whole.
    """
    for number, line, terminated in lines:
        try:  # a line decodes iff it does with its newline (which cannot end a UTF-8 sequence)
            text = str(line, "utf-8")
        except UnicodeDecodeError:
            data = bytes(line) + b"\n" if terminated else bytes(line)
            try:
                data.decode("utf-8")
            except UnicodeDecodeError as e:  # the error as the whole line gives it
                bad[number] = e
            yield data.decode("utf-8", "surrogateescape")
        else:
            yield text + "\n" if terminated else text


def _header_problem(found: list[str], expected: tuple[str, ...]) -> str:
    missing = [c for c in expected if c not in found]
    extra = [c for c in found if c not in expected]
    parts = []
    if missing:
        parts.append("missing " + ", ".join(missing))
    if extra:
        parts.append("unexpected " + ", ".join(repr(c) for c in extra))
    if not parts:
        parts.append("columns out of order" if len(found) == len(expected) else "repeated columns")
    return "; ".join(parts)


def iter_csv_rows(
    source: TextSource, *, name: str, header: tuple[str, ...], report: SkipReport
) -> Iterator[tuple[RecordWhere, list[str]]]:
    """Yield ``(where, fields)`` for each data row of a strict RFC-4180 CSV file.

    ``where.row`` is the 1-based data row (header excluded, blank lines not counted) and
    ``where.line`` the physical line the row starts on. The header must equal ``header``
    exactly (a bad header is fatal under every policy). Rows with bad quoting, the wrong
    number of fields or bad UTF-8 go to ``report.handle``.
    """
    bad: dict[int, UnicodeDecodeError] = {}
    raw = iter_line_views(source, name=name, strip_cr=False)
    reader = csv.reader(_decoded_lines(raw, bad), dialect="excel", strict=True)
    consumed = 0  # physical lines consumed by the csv reader so far
    row = 0
    seen_header = False
    while True:
        start = consumed + 1
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as e:
            consumed = reader.line_num
            where = RecordWhere(name, start, row=row + 1 if seen_header else None)
            error = where.invalid(
                CorruptRecordError,
                "CSV record",
                f"lines {start}-{consumed}",
                rule=str(e),
                hint="Quote fields holding commas, quotes or newlines (RFC 4180).",
                reason="csv_syntax",
            )
            if not seen_header:
                raise error from None
            row += 1
            report.handle(error, "csv_syntax")
            continue
        consumed = reader.line_num
        if not fields:  # a blank line
            continue
        bad_lines = _pop_bad_lines(bad, consumed) if bad else []
        if not seen_header:
            seen_header = True
            if bad_lines:
                raise _bad_utf8_line(name, start, bad_lines[0], None)
            if tuple(fields) != header:
                raise CorruptRecordError.invalid(
                    "CSV header",
                    fields,
                    rule=f"must be exactly {','.join(header)} ({_header_problem(fields, header)})",
                    path=name,
                    line=start,
                )
            continue
        row += 1
        try:
            if bad_lines:
                raise _bad_utf8_line(name, start, bad_lines[0], row)
            if len(fields) != len(header):
                raise RecordWhere(name, start, row=row).invalid(
                    CorruptRecordError,
                    "CSV fields",
                    fields,
                    rule=f"has {len(fields)} fields, expected {len(header)} ({','.join(header)})",
                    hint="Quote fields holding commas (RFC 4180).",
                    reason="column_count",
                )
        except CorruptRecordError as e:
            report.handle(e, reason_of(e))
            continue
        yield RecordWhere(name, start, row=row), fields
    if not seen_header:
        raise CorruptRecordError.invalid(
            "CSV file", name, rule="is empty: no header row", hint=f"Expected {','.join(header)}."
        )


def _bad_utf8_line(
    name: str, start: int, bad: tuple[int, UnicodeDecodeError], row: int | None
) -> CorruptRecordError:
    number, e = bad
    return RecordWhere(name, start, row=row).invalid(
        CorruptRecordError,
        "UTF-8",
        e.object[e.start : e.start + 1],
        rule=f"undecodable byte at byte offset {e.start} of line {number} ({e.reason})",
        hint="CSV files are UTF-8.",
        reason="bad_utf8",
    )


def _pop_bad_lines(
    bad: dict[int, UnicodeDecodeError], upto: int
) -> list[tuple[int, UnicodeDecodeError]]:
    """Remove and return (in line order) the undecodable lines numbered ``<= upto``."""
    found = sorted(n for n in bad if n <= upto)
    return [(n, bad.pop(n)) for n in found]
