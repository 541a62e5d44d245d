"""Values of filter rules: the comparison operators, the value types of ``in [...]`` lists,
their checks (finite, exact, one kind per list, valid edit types and ids) and how they print.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Iterable
from typing import Any, Final, Literal, get_args

import numpy as np

from sparkle_data.filters._errors import FilterError
from sparkle_data.filters.field import SAMPLE_ID
from sparkle_data.layout import parse_edit_type, parse_sample_id

__all__ = [
    "OPS",
    "OP_FUNCS",
    "Op",
    "Value",
    "format_number",
    "format_value",
    "normalize_values",
    "python_value",
    "value_kind",
]

Op = Literal[">=", ">", "<=", "<", "==", "!="]
OPS: Final[tuple[Op, ...]] = get_args(Op)
OP_FUNCS: Final[dict[str, Callable[[Any, Any], Any]]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
    "==": operator.eq,
    "!=": operator.ne,
}

Value = str | int | float | bool
"""A value of an :class:`IsIn` rule."""


def format_number(v: float) -> str:
    """``8.0 -> '8'``, ``8.25 -> '8.25'``: the shortest text that reads back as ``v``."""
    if float(v).is_integer() and abs(v) < 1e15:
        return str(int(v))
    return repr(float(v))


_MAX_EXACT_INT: Final = 2**53


def python_value(v: Any) -> Value:
    """``v`` as a plain ``bool``, ``int`` (within ±2**53), finite ``float`` or ``str``."""
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        if abs(int(v)) > _MAX_EXACT_INT:
            raise FilterError.invalid("filter value", v, rule="must be within ±2**53")
        return int(v)
    if isinstance(v, (float, np.floating)):
        if not math.isfinite(float(v)):
            raise FilterError.invalid("filter value", v, rule="must be finite")
        return float(v)
    if isinstance(v, str):
        return v
    raise FilterError.invalid(
        "filter value", v, rule="must be a string, a number or a bool", hint=None
    )


def value_kind(v: Value) -> str:
    """``"bool"``, ``"str"`` or ``"number"``: the lists of ``in [...]`` hold one kind."""
    if isinstance(v, bool):
        return "bool"
    return "str" if isinstance(v, str) else "number"


def normalize_values(field: str, values: Iterable[Any]) -> tuple[Value, ...]:
    """The checked, sorted, unique values of an ``in [...]`` rule on ``field``."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise FilterError.invalid(
            f"values of {field}", values, rule="must be a list of values", hint=None
        )
    vals = [python_value(v) for v in values]
    if not vals:
        raise FilterError.invalid(f"values of {field}", vals, rule="give at least one value")
    kinds = {value_kind(v) for v in vals}
    if len(kinds) > 1:
        raise FilterError.invalid(
            f"values of {field}", vals, rule="mixes strings, numbers and bools"
        )
    if field == "edit_type":
        for v in vals:
            parse_edit_type(str(v))
    elif field == SAMPLE_ID:
        for v in vals:
            parse_sample_id(str(v))
    return tuple(sorted(set(vals)))


def format_value(v: Value) -> str:
    """``v`` as the filter grammar writes it (strings quoted, numbers shortest)."""
    if isinstance(v, (bool, str)):
        return repr(v)
    return format_number(v) if isinstance(v, float) else str(v)
