"""One signature for every record reader, and the readers built from one row parser (private).

Each record file is read three ways (lazy records, eager records, a fast table) and each
way takes the same arguments (the :class:`Reader` signature)::

    reader(source, *, edit_type=None, name=None, on_error="error", report=None)

A record module writes only what differs: a *row parser* ``rows(source, name, report,
edit_type)`` that yields validated rows (:data:`Rows`; :func:`jsonl_rows` makes one from a
JSONL ``convert``), and what to make of the rows. The decorators turn the latter into the
public reader, which keeps the decorated function's name and docstring::

    @lazy_reader(_csv_rows)
    def iter_prompts_csv(row: PromptCsvRow) -> PromptRow:
        \"\"\"Lazily read ``prompts/{edit_type}_train.csv``...\"\"\"
        return checked_record(PromptRow, row)        # one record per row

    @table_reader(_csv_rows)
    def load_prompts_table(rows: Iterator[PromptCsvRow]) -> pd.DataFrame:
        \"\"\"Read a prompts CSV into a DataFrame...\"\"\"
        ...                                          # all the rows, read now

    load_prompts_csv = eager_reader(iter_prompts_csv)  # list(iter_prompts_csv(...))

so ``iter_prompts_csv(source, *, edit_type=None, ...)`` is what callers call (mypy checks
the :class:`Reader` signature). A :func:`table_reader` whose body returns ``rows`` hands the
validated rows out (for the catalog, which gathers the rows of several files). The common part is
done once, here: the name errors use (:func:`source_name`) and the report the rows are
counted into (:func:`resolve_report`); an ``iter_X`` does nothing before its first ``next``.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator
from typing import ParamSpec, Protocol, TypeVar

from sparkle_data.layout import SampleId
from sparkle_data.policy import OnError, SkipReport
from sparkle_data.readers._fields import RecordWhere
from sparkle_data.readers._text import TextSource, iter_jsonl_records, resolve_report, source_name

__all__ = [
    "Reader",
    "Rows",
    "eager_reader",
    "jsonl_rows",
    "lazy_reader",
    "read_rows",
    "table_reader",
]

_R = TypeVar("_R")
_T = TypeVar("_T")
_T_co = TypeVar("_T_co", covariant=True)
_P = ParamSpec("_P")

Rows = Callable[[TextSource, str, SkipReport, "str | None"], Iterator[_R]]
"""A row parser: ``rows(source, name, report, edit_type)`` yields the validated rows of a
file, handing bad ones to ``report`` (which raises when strict)."""


class Reader(Protocol[_T_co]):
    """The signature every record reader shares (``iter_X``, ``load_X``, ``load_X_table``)."""

    def __call__(
        self,
        source: TextSource,
        *,
        edit_type: str | None = None,
        name: str | None = None,
        on_error: OnError = "error",
        report: SkipReport | None = None,
    ) -> _T_co: ...


def jsonl_rows(
    convert: Callable[[dict[str, object], SampleId, RecordWhere], _R],
    *,
    allowed_edit_types: tuple[str, ...] | None = None,
) -> Rows[_R]:
    """The row parser of a JSONL record file: ``convert(obj, sample_id, where)`` per line,
    after the id checks of :func:`~sparkle_data.readers._text.iter_jsonl_records` (ids of
    other edit types than ``allowed_edit_types``, when given, are bad lines)."""

    def rows(
        source: TextSource, name: str, report: SkipReport, edit_type: str | None
    ) -> Iterator[_R]:
        return iter_jsonl_records(
            source,
            name=name,
            report=report,
            edit_type=edit_type,
            convert=convert,
            allowed_edit_types=allowed_edit_types,
        )

    return rows


def read_rows(
    rows: Rows[_R],
    source: TextSource,
    *,
    edit_type: str | None = None,
    name: str | None = None,
    on_error: OnError = "error",
    report: SkipReport | None = None,
) -> Iterator[_R]:
    """``rows`` called with the reader arguments (for a reader with arguments of its own)."""
    return rows(source, source_name(source, name), resolve_report(on_error, report), edit_type)


def _reader(
    rows: Rows[_R],
    finish: Callable[[Callable[[], Iterator[_R]]], _T],
    like: Callable[..., object],
    returns: str,
) -> Reader[_T]:
    """The one reader body: ``finish`` gets a thunk that reads the rows with the arguments.
    The reader takes ``like``'s name and docstring; ``returns`` is its return annotation."""

    def reader(
        source: TextSource,
        *,
        edit_type: str | None = None,
        name: str | None = None,
        on_error: OnError = "error",
        report: SkipReport | None = None,
    ) -> _T:
        return finish(
            lambda: read_rows(
                rows, source, edit_type=edit_type, name=name, on_error=on_error, report=report
            )
        )

    for attr in ("__module__", "__name__", "__qualname__", "__doc__"):
        setattr(reader, attr, getattr(like, attr))
    reader.__annotations__ = {**reader.__annotations__, "return": returns}
    return reader


def _returns(function: Callable[..., object]) -> str:
    return str(getattr(function, "__annotations__", {}).get("return", "object"))


def lazy_reader(rows: Rows[_R]) -> Callable[[Callable[[_R], _T]], Reader[Iterator[_T]]]:
    """Decorate ``build(row) -> record``: the ``iter_X`` generator of one record per row."""

    def decorate(build: Callable[[_R], _T]) -> Reader[Iterator[_T]]:
        def records(read: Callable[[], Iterator[_R]]) -> Iterator[_T]:
            for row in read():
                yield build(row)

        return _reader(rows, records, build, f"Iterator[{_returns(build)}]")

    return decorate


def table_reader(rows: Rows[_R]) -> Callable[[Callable[[Iterator[_R]], _T]], Reader[_T]]:
    """Decorate ``tabulate(rows) -> table``: ``load_X_table``, the table of the rows read now."""

    def decorate(tabulate: Callable[[Iterator[_R]], _T]) -> Reader[_T]:
        return _reader(rows, lambda read: tabulate(read()), tabulate, _returns(tabulate))

    return decorate


def eager_reader(lazy: Callable[_P, Iterator[_T]]) -> Callable[_P, list[_T]]:
    """``load_X``: ``list(iter_X(...))``, with ``iter_X``'s signature (whatever it is)."""

    @functools.wraps(lazy)
    def load(*args: _P.args, **kwargs: _P.kwargs) -> list[_T]:
        return list(lazy(*args, **kwargs))

    signature = inspect.signature(lazy)
    returned = str(signature.return_annotation).removeprefix("Iterator[").removesuffix("]")
    load.__signature__ = signature.replace(  # type: ignore[attr-defined]
        return_annotation=f"list[{returned}]"
    )
    lazy_name: str = getattr(lazy, "__name__", "iter_records")
    load.__name__ = load.__qualname__ = "load_" + lazy_name.removeprefix("iter_")
    load.__doc__ = f"Eagerly read the whole file into a list; see :func:`{lazy_name}`."
    return load
