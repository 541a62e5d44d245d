"""Line and row iteration for the text artifacts: prompts CSV and record JSONL (private).

Sources are a local path, an ``os.PathLike`` or an already-open *binary* file object (anything
with ``.read(n) -> bytes``: a local file, ``io.BytesIO``, an fsspec file for ``hf://`` or
``https://``). A file object handed in is never closed here.

Bytes are split on ``b"\\n"`` only, so a JSON string holding U+2028, U+0085 or a lone ``\\r``
stays on its line; a trailing ``\\r`` (CRLF files) is dropped; a UTF-8 BOM at the start of
the file is dropped. Line numbers are 1-based physical lines and every error carries one.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
from collections.abc import Callable, Iterator
from typing import Any, Final, Generic, Protocol, TypeVar, Union

from sparkle_data.errors import CorruptRecordError, JoinError, LayoutError, SparkleError
from sparkle_data.layout import SampleId, parse_edit_type, parse_sample_id
from sparkle_data.policy import OnError, SkipReport
from sparkle_data.readers._fields import (
    MISSING,
    Where,
    check_edit_type,
    check_sample_id,
    reason_of,
)

try:
    import orjson

    _orjson_loads: Callable[[bytes | memoryview], Any] | None = orjson.loads
except ImportError:  # pragma: no cover - orjson is a dependency; json is the fallback
    _orjson_loads = None


def _no_fast_parse(line: bytes | memoryview) -> Any:  # pragma: no cover - no orjson
    raise ValueError("orjson is not installed")


fast_json_loads: Final[Callable[[bytes | memoryview], Any]] = _orjson_loads or _no_fast_parse
"""orjson's ``loads`` for the common case; a ``ValueError`` sends a line to
:func:`parse_json_line` (which also takes what only :mod:`json` accepts, and reports)."""

__all__ = [
    "SKIPPED",
    "BinaryReadable",
    "JsonlRecords",
    "Line",
    "Source",
    "check_unique",
    "fast_json_loads",
    "iter_csv_rows",
    "iter_jsonl_objects",
    "iter_jsonl_records",
    "iter_line_views",
    "iter_lines",
    "open_source",
    "resolve_report",
    "source_name",
]

BOM: Final = b"\xef\xbb\xbf"
CHUNK_SIZE: Final = 1 << 20
MAX_LINE_BYTES: Final = 64 << 20
"""A physical line longer than this (64 MiB) is treated as a corrupt file, not buffered."""


class BinaryReadable(Protocol):
    """The one method a source file object needs: ``read(n)`` returning ``bytes``."""

    def read(self, size: int = ..., /) -> bytes: ...


Source = Union[str, "os.PathLike[str]", BinaryReadable]
"""A path, an ``os.PathLike`` or an open binary file object."""


def _is_path(source: object) -> bool:
    return isinstance(source, (str, os.PathLike))


def source_name(source: Source, name: str | None = None) -> str:
    """The name errors use for ``source``: ``name``, else the path, else the file's name."""
    if name is not None:
        return name
    if _is_path(source):
        return os.fspath(source)  # type: ignore[arg-type]
    for attr in ("name", "path", "full_name"):
        value = getattr(source, attr, None)
        if isinstance(value, str) and value:
            return value
    return "<stream>"


@contextlib.contextmanager
def open_source(source: Source) -> Iterator[BinaryReadable]:
    """Open a path for binary reading, or pass a file object through (left open)."""
    if _is_path(source):
        with open(source, "rb") as f:  # type: ignore[arg-type]
            yield f
    elif callable(getattr(source, "read", None)):
        yield source  # type: ignore[misc]
    else:
        raise TypeError(
            f"Invalid source {source!r}: expected a path, an os.PathLike or a binary file "
            "object with .read()."
        )


def resolve_report(on_error: OnError, report: SkipReport | None) -> SkipReport:
    """The report a reader counts into.

    Without ``report``, a fresh one with ``on_error``. With ``report``, its own policy applies
    (``report=SkipReport(on_error="skip")`` alone is enough); an ``on_error`` other than the
    default that disagrees with it is a :class:`ValueError`.
    """
    if report is None:
        return SkipReport(on_error=on_error)
    if on_error not in ("error", report.on_error):
        raise ValueError(
            f"Invalid on_error {on_error!r}: the report given has on_error={report.on_error!r}. "
            "State the policy once: in the report, or the same value in both."
        )
    return report


def iter_lines(
    source: Source, *, name: str, strip_cr: bool = True
) -> Iterator[tuple[int, bytes, bool]]:
    """Yield ``(line_number, line, terminated)`` for each physical line of ``source``.

    ``line`` has its ``\\n`` removed (and a trailing ``\\r`` with ``strip_cr``) and, on
    line 1, a UTF-8 BOM; ``terminated`` is False only for a last line with no newline.
    """
    for number, line, terminated in iter_line_views(source, name=name, strip_cr=strip_cr):
        yield number, line.tobytes() if isinstance(line, memoryview) else line, terminated


Line = bytes | memoryview
"""A line from :func:`iter_line_views`: ``bytes``, or a read-only view of the chunk it is in."""


def _finish_line(number: int, line: bytes, strip_cr: bool) -> bytes:
    if number == 1 and line.startswith(BOM):
        line = line[3:]
    if strip_cr and line.endswith(b"\r"):
        line = line[:-1]
    return line


def iter_line_views(
    source: Source, *, name: str, strip_cr: bool = True
) -> Iterator[tuple[int, Line, bool]]:
    """:func:`iter_lines` without a copy per line (the loop under every JSONL reader).

    A line that lies inside one read chunk is a ``memoryview`` slice of that chunk (an
    immutable ``bytes``, so the view stays valid); line 1 and lines spanning chunks are
    ``bytes``. ``orjson.loads`` takes either; ``bytes(line)`` gives the ``bytes``. The lines,
    numbers and errors are exactly those of :func:`iter_lines`.
    """
    with open_source(source) as f:
        pending: list[bytes] = []
        pending_len = 0
        number = 0
        while True:
            chunk = f.read(CHUNK_SIZE)
            if not chunk:
                break
            if not isinstance(chunk, bytes):
                if isinstance(chunk, str):
                    raise TypeError(
                        f"Invalid source {name!r}: read() returned str; open the file in binary "
                        "mode ('rb') so bytes, BOMs and bad UTF-8 can be reported exactly."
                    )
                chunk = bytes(chunk)
            find = chunk.find
            j = find(b"\n")
            if j < 0:
                pending.append(chunk)
                pending_len += len(chunk)
                if pending_len > MAX_LINE_BYTES:
                    raise CorruptRecordError.invalid(
                        "line",
                        f"<{pending_len} bytes without a newline>",
                        rule=f"a line longer than {MAX_LINE_BYTES} bytes is not a record",
                        path=name,
                        line=number + 1,
                    )
                continue
            view = memoryview(chunk)
            pos = 0
            if pending or number == 0:
                pending.append(chunk[:j])
                number += 1
                yield number, _finish_line(number, b"".join(pending), strip_cr), True
                pending = []
                pos = j + 1
                j = find(b"\n", pos)
            while j >= 0:
                number += 1
                end = j - 1 if strip_cr and j > pos and chunk[j - 1] == 13 else j  # 13: "\r"
                yield number, view[pos:end], True
                pos = j + 1
                j = find(b"\n", pos)
            tail = chunk[pos:]
            if tail:
                pending.append(tail)
            pending_len = len(tail)
        if pending:
            number += 1
            yield number, _finish_line(number, b"".join(pending), strip_cr), False


# --------------------------------------------------------------------------- JSONL


def _bad_utf8(line: bytes, error: UnicodeDecodeError, where: Where) -> CorruptRecordError:
    bad = line[error.start : error.start + 1]
    return where.invalid(
        CorruptRecordError,
        "UTF-8",
        bad,
        rule=f"undecodable byte at byte offset {error.start} of the line ({error.reason})",
        hint="Record files are UTF-8.",
        reason="bad_utf8",
    )


def parse_json_line(line: bytes, where: Where, *, terminated: bool = True) -> object:
    """Parse one JSONL line: orjson first, then ``json`` (which accepts ``NaN``/``Infinity``,
    so such values reach validation and are rejected there with a precise message)."""
    if _orjson_loads is not None:
        try:
            return _orjson_loads(line)
        except ValueError:
            pass
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as e:
        raise _bad_utf8(line, e, where) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        if not terminated:
            raise where.invalid(
                CorruptRecordError,
                "last line",
                _preview(text),
                rule=f"truncated: no trailing newline and not valid JSON ({e.msg} at column "
                f"{e.colno})",
                hint="The file was probably cut short (interrupted download or write).",
                reason="truncated_line",
            ) from None
        raise where.invalid(
            CorruptRecordError,
            "JSON",
            _preview(text),
            rule=f"{e.msg} at column {e.colno}",
            reason="bad_json",
        ) from None
    except RecursionError:
        raise where.invalid(
            CorruptRecordError, "JSON", _preview(text), rule="nested too deeply", reason="bad_json"
        ) from None


def _preview(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def _json_object(
    number: int, line: bytes, terminated: bool, name: str, report: SkipReport
) -> tuple[Where, dict[str, object]] | None:
    """One line as :func:`iter_jsonl_objects` reads it: ``None`` for a blank line or a bad one
    (handed to ``report.handle``), else ``(where, object)``."""
    if not line or line.isspace():
        return None
    where = Where(name, number)
    try:
        obj = parse_json_line(line, where, terminated=terminated)
        if not isinstance(obj, dict):
            raise where.invalid(
                CorruptRecordError,
                "JSON line",
                type(obj).__name__,
                rule="each line must be a JSON object",
                reason="bad_json",
            )
    except CorruptRecordError as e:
        report.handle(e, reason_of(e))
        return None
    return where, obj


def iter_jsonl_objects(
    source: Source, *, name: str, report: SkipReport
) -> Iterator[tuple[Where, dict[str, object]]]:
    """Yield ``(where, object)`` for each non-blank line of a JSONL file.

    Blank (whitespace-only) lines are ignored but still counted in line numbers. A line that is
    not UTF-8, not JSON, not a JSON object or a truncated last line goes to ``report.handle``
    (raises when strict, counted when lenient).
    """
    for number, line, terminated in iter_lines(source, name=name):
        got = _json_object(number, line, terminated, name, report)
        if got is not None:
            yield got


_T = TypeVar("_T")


def iter_jsonl_records(
    source: Source,
    *,
    name: str,
    report: SkipReport,
    edit_type: str | None,
    convert: Callable[[dict[str, object], SampleId, Where], _T],
    allowed_edit_types: tuple[str, ...] | None = None,
) -> Iterator[_T]:
    """Yield ``convert(obj, sample_id, where)`` for each record line of a JSONL file.

    Each line's ``id`` is parsed first, then checked for duplicates (a :class:`JoinError`
    under every policy: ids of lines skipped for other reasons count too), then against
    ``edit_type`` and ``allowed_edit_types``; then ``convert`` validates the rest. Errors from
    parsing, the id checks and ``convert`` go to ``report.handle``.
    """
    records = JsonlRecords(name, report, edit_type, convert, allowed_edit_types)
    loads = fast_json_loads
    parse_id = parse_sample_id
    seen = records.seen
    for number, line, terminated in iter_line_views(source, name=name):
        # The common case inline: orjson gives an object whose id parses and is new. Anything
        # else goes through records.exact, which redoes the line with every check in order
        # (nothing is recorded before that point, so redoing it is safe).
        try:
            obj = loads(line)
        except ValueError:
            obj = None
        if type(obj) is dict:
            value = obj.get("id")
            if type(value) is str:
                try:
                    sid = parse_id(value)
                except LayoutError:
                    pass
                else:
                    where = Where(name, number, value)
                    if seen.setdefault(value, number) != number:
                        check_unique(seen, value, where)  # raises the duplicate error
                    try:
                        if (edit_type is not None and sid.edit_type != edit_type) or (
                            allowed_edit_types is not None
                            and sid.edit_type not in allowed_edit_types
                        ):
                            check_edit_type(sid, edit_type, where, allowed=allowed_edit_types)
                        item = convert(obj, sid, where)
                    except SparkleError as e:
                        report.handle(e, reason_of(e))
                        continue
                    yield item
                    continue
        got = records.exact(number, line, terminated)
        if got is not SKIPPED:
            yield got  # type: ignore[misc]  # not SKIPPED: convert's value


SKIPPED: Final = object()
"""What :meth:`JsonlRecords.exact` returns for a blank line or a line handed to the report."""


class JsonlRecords(Generic[_T]):
    """The checks of :func:`iter_jsonl_records` for one file, one line at a time.

    :meth:`exact` runs every check on a line, in order: the slow path of
    :func:`iter_jsonl_records`, and of the batch readers that validate many lines at once and
    hand the lines that need a precise error (or a lenient repair) back here.
    """

    __slots__ = ("allowed", "convert", "edit_type", "name", "report", "seen")

    def __init__(
        self,
        name: str,
        report: SkipReport,
        edit_type: str | None,
        convert: Callable[[dict[str, object], SampleId, Where], _T],
        allowed_edit_types: tuple[str, ...] | None = None,
    ) -> None:
        if edit_type is not None:
            parse_edit_type(edit_type)
        self.name = name
        self.report = report
        self.edit_type = edit_type
        self.convert = convert
        self.allowed = allowed_edit_types
        self.seen: dict[str, int] = {}

    def exact(self, number: int, line: Line, terminated: bool) -> _T | object:
        """``convert``'s value for the line, or :data:`SKIPPED`."""
        got = _json_object(number, bytes(line), terminated, self.name, self.report)
        if got is None:
            return SKIPPED
        where, obj = got
        value = obj.get("id", MISSING)
        try:
            sid = check_sample_id(value, where)
        except SparkleError as e:
            self.report.handle(e, reason_of(e))
            return SKIPPED
        key: str = value  # type: ignore[assignment]  # it parsed, so it is the id string
        where = where.at_sample(key)
        check_unique(self.seen, key, where)
        try:
            check_edit_type(sid, self.edit_type, where, allowed=self.allowed)
            return self.convert(obj, sid, where)
        except SparkleError as e:
            self.report.handle(e, reason_of(e))
            return SKIPPED

    def first_sighting(self, key: str, number: int) -> bool:
        """Record ``key`` at line ``number`` (as :meth:`exact` does); False if already seen."""
        return self.seen.setdefault(key, number) == number


def check_unique(seen: dict[str, int], key: str, where: Where) -> None:
    """Remember ``key`` at ``where.line``; a second sighting is a :class:`JoinError`, always."""
    first = seen.setdefault(key, where.line or 0)
    if first != (where.line or 0):
        raise where.invalid(
            JoinError,
            "sample id",
            key,
            rule=f"duplicate: first seen on line {first}",
            hint="Ids must be unique within a file; duplicates are never skipped.",
            reason="duplicate",
        )


# --------------------------------------------------------------------------- CSV


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
    source: Source, *, name: str, header: tuple[str, ...], report: SkipReport
) -> Iterator[tuple[Where, list[str]]]:
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
            where = Where(name, start, row=row + 1 if seen_header else None)
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
                raise Where(name, start, row=row).invalid(
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
        yield Where(name, start, row=row), fields
    if not seen_header:
        raise CorruptRecordError.invalid(
            "CSV file", name, rule="is empty: no header row", hint=f"Expected {','.join(header)}."
        )


def _bad_utf8_line(
    name: str, start: int, bad: tuple[int, UnicodeDecodeError], row: int | None
) -> CorruptRecordError:
    number, e = bad
    return Where(name, start, row=row).invalid(
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
