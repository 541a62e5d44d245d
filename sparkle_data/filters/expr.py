"""Filters over catalog rows: rules, their composition, and three-valued evaluation.

A :class:`Filter` is a frozen, hashable value. Rules (leaves) test one field:

* :class:`Compare` ``field op number`` (``>=``, ``>``, ``<=``, ``<``, ``==``, ``!=``);
* :class:`IsIn` ``field in [values]`` (edit types, subthemes, scenes, keywords, ids, counts);
* :class:`Matches` ``matches(field, 'regex')`` (``re.search`` on text);
* :class:`IsMissing` ``field is None`` (missing or non-finite).

They compose with ``&`` (:class:`And`), ``|`` (:class:`Or`) and ``~`` (:class:`Not`).

**Missing values.** A rule on a missing or non-finite value (``None``, ``NaN``, ``inf``) is
*unknown*, never true: ``nan >= 8`` does not pass and neither does ``not (nan >= 8)``.
Composition follows Kleene's three-valued logic (as SQL does with ``NULL``): ``unknown and
false`` is false, ``unknown or true`` is true, ``not unknown`` is unknown. A row is kept only
when the whole filter is *true*. Only :class:`IsMissing` looks at missing values on purpose.
"""

from __future__ import annotations

import abc
import math
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Final, Literal

import numpy as np

from sparkle_data.filters._errors import FilterError
from sparkle_data.filters.field import (
    SAMPLE_ID,
    column_values,
    numeric_values,
    resolve_field,
    table_of,
)
from sparkle_data.filters.result import FilterResult, build_result
from sparkle_data.filters.values import (
    OP_FUNCS,
    OPS,
    Op,
    Value,
    format_number,
    format_value,
    normalize_values,
    value_kind,
)

if TYPE_CHECKING:
    import pandas as pd
    from numpy.typing import NDArray

__all__ = [
    "OPS",
    "VIDEO_SCORE_FRAMES",
    "And",
    "Compare",
    "EvalContext",
    "Filter",
    "IsIn",
    "IsMissing",
    "Matches",
    "Not",
    "Op",
    "Or",
    "Truth",
    "Value",
    "evaluate",
    "every_frame",
    "field",
    "format_number",
    "ids",
    "set_readers",
]

@dataclass(frozen=True, slots=True)
class Truth:
    """Three-valued result per row: ``true``, ``false``, and neither (unknown)."""

    true: NDArray[np.bool_]
    false: NDArray[np.bool_]

    @property
    def unknown(self) -> NDArray[np.bool_]:
        out: NDArray[np.bool_] = ~(self.true | self.false)
        return out

    def __invert__(self) -> Truth:
        return Truth(self.false, self.true)


class EvalContext:
    """One evaluation: the table, and each rule's :class:`Truth` computed once."""

    __slots__ = ("memo", "table")

    def __init__(self, table: pd.DataFrame) -> None:
        self.table = table
        self.memo: dict[Filter, Truth] = {}

    def truth(self, f: Filter) -> Truth:
        got = self.memo.get(f)
        if got is None:
            got = f._truth(self)
            self.memo[f] = got
        return got


class Filter(abc.ABC):
    """A condition on catalog rows. Compose with ``&``, ``|``, ``~``; see the module doc."""

    __slots__ = ()

    @abc.abstractmethod
    def _truth(self, ctx: EvalContext) -> Truth: ...

    @abc.abstractmethod
    def describe(self) -> str:
        """A readable expression. It parses back to an equal filter, except for id lists of
        more than six ids (shortened) and custom presets; :meth:`to_dict` always round-trips.
        """

    @abc.abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """A JSON/YAML-ready dict; :meth:`from_dict` rebuilds an equal filter."""

    def rules(self) -> Iterator[Filter]:
        """The rules (leaves) in order of appearance, repeats included (a rule: itself)."""
        yield self

    def fields(self) -> tuple[str, ...]:
        """The fields the filter reads, in order of first use."""
        out: dict[str, None] = {}
        for r in self.rules():
            out.setdefault(getattr(r, "field", SAMPLE_ID), None)
        return tuple(out)

    def truth(self, source: Any) -> Truth:
        """Evaluate on a Catalog or DataFrame: a :class:`Truth` aligned with its rows."""
        return EvalContext(table_of(source)).truth(self)

    def mask(self, source: Any) -> pd.Series[bool]:
        """Boolean Series (indexed like the table): ``True`` where the filter is true."""
        import pandas as pd

        table = table_of(source)
        out: pd.Series[bool] = pd.Series(self.truth(table).true, index=table.index, name="keep")
        return out

    def apply(self, source: Any) -> FilterResult:
        """Evaluate on a Catalog or DataFrame: mask, kept rows and per-rule counts."""
        return evaluate(self, source)

    @classmethod
    def from_dict(cls, data: Any) -> Filter:
        """Rebuild a filter from :meth:`to_dict` output, a list (``and``) or an expression."""
        return _READERS["from_dict"](data)

    @classmethod
    def parse(cls, text: str) -> Filter:
        """Parse an expression such as ``"frame0_overall >= 8 and edit_type in ['time']"``."""
        return _READERS["parse"](text)

    def __and__(self, other: Filter) -> Filter:
        if not isinstance(other, Filter):
            return NotImplemented
        return And((*_flat(self, And), *_flat(other, And)))

    def __or__(self, other: Filter) -> Filter:
        if not isinstance(other, Filter):
            return NotImplemented
        return Or((*_flat(self, Or), *_flat(other, Or)))

    def __invert__(self) -> Filter:
        return Not(self)

    def __str__(self) -> str:
        return self.describe()


_READERS: dict[str, Callable[[Any], Filter]] = {}


def set_readers(*, parse: Callable[[str], Filter], from_dict: Callable[[Any], Filter]) -> None:
    """Plug the parser behind :meth:`Filter.parse` and :meth:`Filter.from_dict`.

    :mod:`sparkle_data.filters.parse` builds rules from this module's classes, so this module
    cannot import it without a cycle; the parser registers itself instead when it is imported.
    The package ``sparkle_data.filters`` imports it, and Python runs the package before any of
    its modules, so the readers are always in place.
    """
    _READERS["parse"] = parse
    _READERS["from_dict"] = from_dict


def _flat(f: Filter, kind: type[And] | type[Or]) -> tuple[Filter, ...]:
    return f.filters if isinstance(f, kind) else (f,)


# ---------------------------------------------------------------------------- rules


_HINT_TEXT: Final = "Compare text or categories with `in [...]`."


@dataclass(frozen=True, slots=True)
class Compare(Filter):
    """``field op value`` on a numeric column; missing or non-finite values are unknown."""

    field: str
    op: Op
    value: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "field", resolve_field(self.field))
        if self.op not in OPS:
            raise FilterError.invalid(
                "comparison", self.op, rule="not a comparison operator", hint=f"Use {OPS}."
            )
        v = self.value
        if isinstance(v, (bool, np.bool_)) or not isinstance(
            v, (int, float, np.integer, np.floating)
        ):
            raise FilterError.invalid(
                f"threshold of {self.field}", v, rule="must be a number", hint=_HINT_TEXT
            )
        try:
            value = float(v)
        except OverflowError:
            value = math.inf
        if not math.isfinite(value):
            raise FilterError.invalid(f"threshold of {self.field}", v, rule="must be finite")
        object.__setattr__(self, "value", value)

    def _truth(self, ctx: EvalContext) -> Truth:
        values = numeric_values(ctx.table, self.field)
        finite = np.isfinite(values)
        with np.errstate(invalid="ignore"):
            hold = OP_FUNCS[self.op](values, self.value)
        return Truth(finite & hold, finite & ~hold)

    def describe(self) -> str:
        return f"{self.field} {self.op} {format_number(self.value)}"

    def to_dict(self) -> dict[str, Any]:
        return {"field": self.field, "op": self.op, "value": self.value}


@dataclass(frozen=True, slots=True)
class IsIn(Filter):
    """``field in [values]``; values are stored sorted and unique. Missing values are unknown.

    ``edit_type`` values must be edit types and ``sample_id`` values sample ids (typos raise).
    """

    field: str
    values: tuple[Value, ...]

    def __post_init__(self) -> None:
        f = resolve_field(self.field)
        object.__setattr__(self, "field", f)
        object.__setattr__(self, "values", normalize_values(f, self.values))

    def _truth(self, ctx: EvalContext) -> Truth:
        from pandas.api.types import is_bool_dtype, is_numeric_dtype

        kind = value_kind(self.values[0])
        col = column_values(ctx.table, self.field)
        numeric = is_numeric_dtype(col.dtype) and not is_bool_dtype(col.dtype)
        if kind == "number" and numeric:
            arr = numeric_values(ctx.table, self.field)
            present = np.isfinite(arr)
            hit = np.isin(arr, np.asarray(self.values, dtype=np.float64))
        elif numeric:
            raise FilterError.invalid(
                f"values of {self.field}",
                list(self.values),
                rule=f"the column is numeric ({col.dtype}); give numbers",
            )
        else:
            present = col.notna().to_numpy(dtype=bool)
            hit = col.isin(list(self.values)).to_numpy(dtype=bool)
        return Truth(present & hit, present & ~hit)

    def describe(self) -> str:
        if self.field == SAMPLE_ID and len(self.values) > 6:
            shown = ", ".join(repr(v) for v in self.values[:3])
            return f"sample_id in [{shown}, ... ({len(self.values)} ids)]"
        return f"{self.field} in [{', '.join(format_value(v) for v in self.values)}]"

    def to_dict(self) -> dict[str, Any]:
        if self.field == SAMPLE_ID:
            return {"ids": list(self.values)}
        return {"field": self.field, "in": list(self.values)}


@dataclass(frozen=True, slots=True)
class Matches(Filter):
    """``re.search(pattern, value)`` on a text column; missing values are unknown.

    Patterns come from users: Python's ``re`` has no time limit, so a pathological pattern
    (nested repeats) can be slow on long prompts. Keep patterns simple.
    """

    field: str
    pattern: str
    ignore_case: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "field", resolve_field(self.field))
        if not isinstance(self.pattern, str):
            raise FilterError.invalid("regex", self.pattern, rule="must be a string")
        if not isinstance(self.ignore_case, bool):
            raise FilterError.invalid("ignore_case", self.ignore_case, rule="must be a bool")
        try:
            re.compile(self.pattern)
        except re.error as e:
            raise FilterError.invalid("regex", self.pattern, rule=str(e)) from None

    def _truth(self, ctx: EvalContext) -> Truth:
        from pandas.api.types import is_object_dtype, is_string_dtype

        col = column_values(ctx.table, self.field)
        if not (is_string_dtype(col.dtype) or is_object_dtype(col.dtype)):
            raise FilterError.invalid(
                "filter field", self.field, rule=f"a regex needs a text column, not {col.dtype}"
            )
        present = col.notna().to_numpy(dtype=bool)
        regex = re.compile(self.pattern, re.IGNORECASE if self.ignore_case else 0)
        hit = np.fromiter(
            (isinstance(v, str) and regex.search(v) is not None for v in col),
            dtype=bool,
            count=len(col),
        )
        return Truth(present & hit, present & ~hit)

    def describe(self) -> str:
        extra = ", ignore_case=True" if self.ignore_case else ""
        return f"matches({self.field}, {self.pattern!r}{extra})"

    def to_dict(self) -> dict[str, Any]:
        return {"field": self.field, "matches": self.pattern, "ignore_case": self.ignore_case}


@dataclass(frozen=True, slots=True)
class IsMissing(Filter):
    """True where ``field`` is missing or non-finite (never unknown)."""

    field: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "field", resolve_field(self.field))

    def _truth(self, ctx: EvalContext) -> Truth:
        from pandas.api.types import is_bool_dtype, is_numeric_dtype

        col = column_values(ctx.table, self.field)
        if is_numeric_dtype(col.dtype) and not is_bool_dtype(col.dtype):
            missing = ~np.isfinite(numeric_values(ctx.table, self.field))
        else:
            missing = col.isna().to_numpy(dtype=bool)
        return Truth(missing, ~missing)

    def describe(self) -> str:
        return f"{self.field} is None"

    def to_dict(self) -> dict[str, Any]:
        return {"field": self.field, "missing": True}


# ---------------------------------------------------------------------------- composition


def _check_children(kind: str, filters: Any) -> tuple[Filter, ...]:
    items = tuple(filters) if isinstance(filters, Iterable) else (filters,)
    if not items:
        raise FilterError.invalid(kind, [], rule="needs at least one filter")
    for f in items:
        if not isinstance(f, Filter):
            raise FilterError.invalid(kind, f, rule="every item must be a Filter")
    return items


def _wrap(f: Filter) -> str:
    text = f.describe()
    return f"({text})" if isinstance(f, (And, Or, Not)) else text


class _Combination(Filter):
    """``And``/``Or``: filters joined by one word (``"and"``: true only when all are)."""

    __slots__ = ()
    filters: tuple[Filter, ...]
    _WORD: ClassVar[Literal["and", "or"]]

    def __post_init__(self) -> None:
        object.__setattr__(self, "filters", _check_children(self._WORD, self.filters))

    def _truth(self, ctx: EvalContext) -> Truth:
        parts = [ctx.truth(f) for f in self.filters]
        true, false = [p.true for p in parts], [p.false for p in parts]
        if self._WORD == "and":
            return Truth(np.logical_and.reduce(true), np.logical_or.reduce(false))
        return Truth(np.logical_or.reduce(true), np.logical_and.reduce(false))

    def describe(self) -> str:
        return f" {self._WORD} ".join(_wrap(f) for f in self.filters)

    def to_dict(self) -> dict[str, Any]:
        return {self._WORD: [f.to_dict() for f in self.filters]}

    def rules(self) -> Iterator[Filter]:
        for f in self.filters:
            yield from f.rules()


@dataclass(frozen=True, slots=True)
class And(_Combination):
    """True when every filter is true; false when any is false; else unknown."""

    filters: tuple[Filter, ...]
    _WORD: ClassVar[Literal["and", "or"]] = "and"


@dataclass(frozen=True, slots=True)
class Or(_Combination):
    """True when any filter is true; false when every one is false; else unknown."""

    filters: tuple[Filter, ...]
    _WORD: ClassVar[Literal["and", "or"]] = "or"


@dataclass(frozen=True, slots=True)
class Not(Filter):
    """True where the filter is false; unknown stays unknown (missing never passes)."""

    filter: Filter

    def __post_init__(self) -> None:
        if not isinstance(self.filter, Filter):
            raise FilterError.invalid("not", self.filter, rule="must wrap a Filter")

    def _truth(self, ctx: EvalContext) -> Truth:
        return ~ctx.truth(self.filter)

    def describe(self) -> str:
        return f"not ({self.filter.describe()})"

    def to_dict(self) -> dict[str, Any]:
        return {"not": self.filter.to_dict()}

    def rules(self) -> Iterator[Filter]:
        yield from self.filter.rules()


# ---------------------------------------------------------------------------- builders


@dataclass(frozen=True, slots=True)
class _FieldRef:
    """``field("x") >= 8``: a small builder of rules on one field."""

    name: str

    def __ge__(self, v: float) -> Filter:
        return Compare(self.name, ">=", v)

    def __gt__(self, v: float) -> Filter:
        return Compare(self.name, ">", v)

    def __le__(self, v: float) -> Filter:
        return Compare(self.name, "<=", v)

    def __lt__(self, v: float) -> Filter:
        return Compare(self.name, "<", v)

    def between(self, low: float, high: float) -> Filter:
        """``low <= field <= high``."""
        return Compare(self.name, ">=", low) & Compare(self.name, "<=", high)

    def equals(self, v: Value) -> Filter:
        """``field == v``: a numeric comparison for numbers, membership for text."""
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return Compare(self.name, "==", v)
        return IsIn(self.name, (v,))

    def isin(self, values: Iterable[Value]) -> Filter:
        return IsIn(self.name, tuple(values))

    def matches(self, pattern: str, *, ignore_case: bool = False) -> Filter:
        return Matches(self.name, pattern, ignore_case)

    def is_missing(self) -> Filter:
        return IsMissing(self.name)


def field(name: str) -> _FieldRef:
    """Start a rule on a field: ``field("frame0_overall") >= 8``, ``field("scene").isin(...)``."""
    return _FieldRef(resolve_field(name))


VIDEO_SCORE_FRAMES: Final = 4
"""Frames scored per video in ``edited_video_score`` (catalog columns ``video_*_score_{i}``)."""


def every_frame(score: Literal["sc", "pq", "o"], op: Op, value: float) -> Filter:
    """``video_{score}_score_i op value`` for each of the four scored frames (an :class:`And`).

    ``every_frame("sc", ">=", 7)`` keeps videos whose worst-frame SC score is at least 7. A
    missing frame score makes the rule unknown (the row is not kept).
    """
    if score not in ("sc", "pq", "o"):
        raise FilterError.invalid("frame score", score, rule="must be 'sc', 'pq' or 'o'", hint=None)
    return And(
        tuple(Compare(f"video_{score}_score_{i}", op, value) for i in range(VIDEO_SCORE_FRAMES))
    )


def ids(sample_ids: Iterable[str]) -> Filter:
    """Keep exactly these sample ids (validated as ``Sparkle_{edit_type}_{NNNNNN}``)."""
    return IsIn(SAMPLE_ID, tuple(sample_ids))


def _unseen_values(f: Filter, table: pd.DataFrame) -> str | None:
    if not isinstance(f, IsIn):
        return None
    col = column_values(table, f.field)
    seen = set(col.dropna().tolist())
    unseen = [v for v in f.values if v not in seen]
    if not unseen:
        return None
    shown = ", ".join(repr(v) for v in unseen[:5]) + (", ..." if len(unseen) > 5 else "")
    what = "ids" if f.field == SAMPLE_ID else f"values of {f.field}"
    return f"{len(unseen)} {what} appear in no row: {shown}"


def evaluate(f: Filter, source: Any) -> FilterResult:
    """Evaluate ``f`` on a Catalog or DataFrame; see :class:`FilterResult`."""
    table = table_of(source)
    ctx = EvalContext(table)
    total = ctx.truth(f)
    rules: dict[Filter, Truth] = {}
    for r in f.rules():
        if r not in rules:
            rules[r] = ctx.truth(r)
    warnings = [w for w in (_unseen_values(r, table) for r in rules) if w is not None]
    return build_result(f, table, total, rules, warnings)
