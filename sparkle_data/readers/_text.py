"""Record JSONL files, line by line (private); the reader's shared report rule.

:func:`iter_jsonl_records` yields one validated record per line (the id checks first, then
the artifact's own ``convert``); :class:`JsonlRecords` runs the same checks one line at a
time for the batch readers. Lines come from :mod:`._lines` (sources, BOM, CRLF, line
numbers); CSV rows from :mod:`._csv`. Both are re-exported here, the readers' one import path.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any, Final, Generic, TypeVar

from sparkle_data.errors import CorruptRecordError, JoinError, LayoutError, SparkleError
from sparkle_data.layout import SampleId, parse_edit_type, parse_sample_id
from sparkle_data.policy import OnError, SkipReport
from sparkle_data.readers._csv import iter_csv_rows
from sparkle_data.readers._fields import (
    MISSING,
    RecordWhere,
    check_edit_type,
    check_sample_id,
    reason_of,
)
from sparkle_data.readers._lines import (
    BinaryReadable,
    Line,
    TextSource,
    iter_line_views,
    iter_lines,
    open_text_source,
    source_name,
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
    "TextSource",
    "check_unique",
    "fast_json_loads",
    "iter_csv_rows",
    "iter_jsonl_objects",
    "iter_jsonl_records",
    "iter_line_views",
    "iter_lines",
    "open_text_source",
    "resolve_report",
    "source_name",
]


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



# --------------------------------------------------------------------------- JSONL


def _bad_utf8(line: bytes, error: UnicodeDecodeError, where: RecordWhere) -> CorruptRecordError:
    bad = line[error.start : error.start + 1]
    return where.invalid(
        CorruptRecordError,
        "UTF-8",
        bad,
        rule=f"undecodable byte at byte offset {error.start} of the line ({error.reason})",
        hint="Record files are UTF-8.",
        reason="bad_utf8",
    )


def parse_json_line(line: bytes, where: RecordWhere, *, terminated: bool = True) -> object:
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
) -> tuple[RecordWhere, dict[str, object]] | None:
    """One line as :func:`iter_jsonl_objects` reads it: ``None`` for a blank line or a bad one
    (handed to ``report.handle``), else ``(where, object)``."""
    if not line or line.isspace():
        return None
    where = RecordWhere(name, number)
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
    source: TextSource, *, name: str, report: SkipReport
) -> Iterator[tuple[RecordWhere, dict[str, object]]]:
    """Yield ``(where, object)`` for each non-blank line of a JSONL file.

    Blank (whitespace-only) lines are ignored but still counted in line numbers. A line that is
    not UTF-8, not JSON, not a JSON object or a truncated last line goes to ``report.handle``
    (raises when strict, counted when lenient).
    """
    for number, line, terminated in iter_lines(source, name=name, on_long=_long_lines(report)):
        got = _json_object(number, line, terminated, name, report)
        if got is not None:
            yield got


_T = TypeVar("_T")


def _long_lines(report: SkipReport) -> Callable[[CorruptRecordError], None]:
    """What :func:`iter_line_views` does with a line too long to be a record: the report
    decides (raises when strict, counts ``line_too_long`` when lenient)."""

    def handle(error: CorruptRecordError) -> None:
        report.handle(error, "line_too_long")

    return handle


def iter_jsonl_records(
    source: TextSource,
    *,
    name: str,
    report: SkipReport,
    edit_type: str | None,
    convert: Callable[[dict[str, object], SampleId, RecordWhere], _T],
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
    views = iter_line_views(source, name=name, on_long=_long_lines(report))
    for number, line, terminated in views:
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
                    where = RecordWhere(name, number, value)
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
        convert: Callable[[dict[str, object], SampleId, RecordWhere], _T],
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


def check_unique(seen: dict[str, int], key: str, where: RecordWhere) -> None:
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
