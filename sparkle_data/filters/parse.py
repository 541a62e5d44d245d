"""Filters from text and from dicts (YAML / JSON specs), without ``eval``.

The expression grammar is a small subset of Python expressions, read with :mod:`ast` and
never executed::

    expr     := expr "or" expr | expr "and" expr | "not" expr | "(" expr ")" | test
    test     := FIELD OP NUMBER [OP NUMBER ...]     chains: 7 <= frame0_overall < 9
              | NUMBER OP FIELD [OP NUMBER ...]
              | FIELD ("==" | "!=") (STRING | BOOL)
              | FIELD ["not"] "in" "[" LITERAL, ... "]"
              | STRING ["not"] "in" FIELD           substring of a text field
              | FIELD "is" ["not"] "None"           missing (or non-finite)
              | "matches(" FIELD ", " STRING [", ignore_case=" BOOL] ")"
              | PRESET | PRESET "(" FIELD "=" NUMBER, ... ")"     paper, strict, loose
    OP       := ">=" | ">" | "<=" | "<" | "==" | "!="

FIELD is a column name (letters, digits, ``_``); names starting with ``_`` are refused.
Anything else (attribute access, subscripts, other calls, lambdas, comprehensions,
arithmetic, f-strings, walrus, imports, which are statements) raises
:class:`~sparkle_data.filters.FilterSyntaxError` naming the construct and its column.

The dict form is what :meth:`Filter.to_dict` writes::

    {"field": "frame0_overall", "op": ">=", "value": 8.0}
    {"field": "edit_type", "in": ["location", "time"]}
    {"field": "prompt", "matches": "sunset", "ignore_case": false}
    {"field": "video_mean_o_score", "missing": true}
    {"ids": ["Sparkle_location_000000", ...]}
    {"preset": "paper", "thresholds": {"video_mean_o_score": 8.3}}
    {"and": [...]}, {"or": [...]}, {"not": {...}}
    {"expr": "frame0_overall >= 8 and ..."}          (or a bare string)
    [...]                                            (a list means "and")
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from typing import Any, Final

from sparkle_data.errors import SparkleError
from sparkle_data.filters._errors import FilterError, FilterSyntaxError
from sparkle_data.filters.expr import (
    And,
    Compare,
    Filter,
    IsIn,
    IsMissing,
    Matches,
    Not,
    Op,
    Or,
    Value,
    set_readers,
)
from sparkle_data.filters.field import ALIASES, resolve_field
from sparkle_data.filters.preset import PRESET_FIELDS, PRESETS, ScorePreset, get_preset

__all__ = ["MAX_EXPRESSION_LENGTH", "filter_from_dict", "parse_filter"]

MAX_EXPRESSION_LENGTH: Final = 20_000
"""Longer expressions are refused (use the dict form, or ids lists, for big filters)."""

_CMP: Final[dict[type[ast.cmpop], Op]] = {
    ast.GtE: ">=",
    ast.Gt: ">",
    ast.LtE: "<=",
    ast.Lt: "<",
    ast.Eq: "==",
    ast.NotEq: "!=",
}
_FLIP: Final[dict[Op, Op]] = {">=": "<=", ">": "<", "<=": ">=", "<": ">", "==": "==", "!=": "!="}
_GRAMMAR_HINT: Final = (
    "Allowed: comparisons of a field with numbers, `field in [...]`, `'text' in field`, "
    "`field is None`, matches(field, 'regex'), presets (paper, strict, loose), and, or, not."
)

_WHAT: Final[dict[type[ast.AST], str]] = {
    ast.Attribute: "attribute access",
    ast.Subscript: "a subscript",
    ast.Call: "a function call",
    ast.Lambda: "a lambda",
    ast.ListComp: "a comprehension",
    ast.SetComp: "a comprehension",
    ast.DictComp: "a comprehension",
    ast.GeneratorExp: "a comprehension",
    ast.BinOp: "arithmetic",
    ast.JoinedStr: "an f-string",
    ast.NamedExpr: "an assignment expression",
    ast.IfExp: "a conditional expression",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.Starred: "a starred expression",
    ast.Dict: "a dict literal",
}


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text

    def error(self, node: ast.AST | None, rule: str, hint: str | None = _GRAMMAR_HINT) -> Exception:
        col = getattr(node, "col_offset", None)
        where = f" (at column {col + 1})" if isinstance(col, int) else ""
        return FilterSyntaxError.invalid(
            "filter expression", self.text, rule=rule + where, hint=hint
        )

    def refuse(self, node: ast.AST) -> Exception:
        what = _WHAT.get(type(node), type(node).__name__)
        hint = _GRAMMAR_HINT
        if isinstance(node, ast.Attribute):
            dotted = _dotted(node)
            if dotted in ALIASES:
                hint = f"Use the column name {ALIASES[dotted]} instead of {dotted}."
        return self.error(node, f"{what} is not allowed", hint)

    # ------------------------------------------------------------------ names and literals
    def name(self, node: ast.AST) -> str:
        if not isinstance(node, ast.Name):
            raise self.refuse(node) if type(node) in _WHAT else self.error(node, "expected a field")
        if node.id.startswith("_"):
            raise self.error(node, f"name {node.id!r} is not allowed (leading underscore)")
        return node.id

    def number(self, node: ast.AST) -> float:
        sign = 1.0
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            sign = -1.0 if isinstance(node.op, ast.USub) else 1.0
            node = node.operand
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, (int, float))
            and not isinstance(node.value, bool)
        ):
            try:
                return sign * float(node.value)
            except OverflowError:
                raise self.error(node, "number too large") from None
        raise self.refuse(node) if type(node) in _WHAT else self.error(node, "expected a number")

    def literal(self, node: ast.AST) -> Value:
        if isinstance(node, ast.Constant) and isinstance(node.value, (str, bool, int, float)):
            return node.value
        if (
            isinstance(node, ast.UnaryOp)
            and isinstance(node.op, ast.USub)
            and isinstance(node.operand, ast.Constant)
            and isinstance(node.operand.value, int)
            and not isinstance(node.operand.value, bool)
        ):
            return -node.operand.value
        return self.number(node)

    def literal_list(self, node: ast.AST) -> tuple[Value, ...]:
        if not isinstance(node, (ast.List, ast.Tuple, ast.Set)):
            raise self.error(node, "`in` needs a list of values such as ['a', 'b']")
        return tuple(self.literal(e) for e in node.elts)

    # ------------------------------------------------------------------ expressions
    def expr(self, node: ast.AST) -> Filter:
        if isinstance(node, ast.BoolOp):
            parts = tuple(self.expr(v) for v in node.values)
            return And(parts) if isinstance(node.op, ast.And) else Or(parts)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return Not(self.expr(node.operand))
        if isinstance(node, ast.Compare):
            return self.compare(node)
        if isinstance(node, ast.Call):
            return self.call(node)
        if isinstance(node, ast.Name):
            if node.id in PRESETS:
                return PRESETS[node.id]
            raise self.error(
                node,
                f"{node.id!r} alone is not a condition",
                "Compare it (e.g. `frame0_overall >= 8`) or use a preset: "
                + ", ".join(PRESETS)
                + ".",
            )
        if isinstance(node, ast.Constant):
            raise self.error(node, f"the constant {node.value!r} is not a condition")
        raise self.refuse(node)

    def call(self, node: ast.Call) -> Filter:
        func = node.func
        if not isinstance(func, ast.Name) or func.id not in ("matches", *PRESETS):
            raise self.error(
                node,
                "a function call is not allowed",
                "Only matches(field, 'regex') and presets with thresholds, e.g. "
                "paper(video_mean_o_score=8.3), may be called.",
            )
        if func.id in PRESETS:
            if node.args:
                raise self.error(node, f"{func.id}(...) takes keyword thresholds only")
            kw: dict[str, float] = {}
            for k in node.keywords:
                if k.arg is None:
                    raise self.error(node, "**kwargs are not allowed")
                kw[k.arg] = self.number(k.value)
            return get_preset(func.id, **kw)
        if len(node.args) != 2:
            raise self.error(node, "matches() takes a field and a regex string")
        fld = self.name(node.args[0])
        pat = node.args[1]
        if not (isinstance(pat, ast.Constant) and isinstance(pat.value, str)):
            raise self.error(pat, "the regex of matches() must be a string literal")
        ignore_case = False
        for k in node.keywords:
            if k.arg != "ignore_case" or not (
                isinstance(k.value, ast.Constant) and isinstance(k.value.value, bool)
            ):
                raise self.error(node, "matches() accepts only ignore_case=True/False")
            ignore_case = k.value.value
        return Matches(fld, pat.value, ignore_case)

    def compare(self, node: ast.Compare) -> Filter:
        operands = [node.left, *node.comparators]
        parts: list[Filter] = []
        for left, op, right in zip(operands, node.ops, operands[1:], strict=False):
            parts.append(self.pair(node, left, op, right))
        return parts[0] if len(parts) == 1 else And(tuple(parts))

    def pair(self, node: ast.AST, left: ast.AST, op: ast.cmpop, right: ast.AST) -> Filter:
        if isinstance(op, (ast.In, ast.NotIn)):
            if isinstance(left, ast.Constant) and isinstance(left.value, str):
                rule: Filter = Matches(self.name(right), re.escape(left.value))
            else:
                rule = IsIn(self.name(left), self.literal_list(right))
            return Not(rule) if isinstance(op, ast.NotIn) else rule
        if isinstance(op, (ast.Is, ast.IsNot)):
            if not (isinstance(right, ast.Constant) and right.value is None):
                raise self.error(node, "`is` compares only with None (missing values)")
            rule = IsMissing(self.name(left))
            return Not(rule) if isinstance(op, ast.IsNot) else rule
        sym = _CMP[type(op)]
        if isinstance(left, ast.Name):
            fld, value = self.name(left), right
        elif isinstance(right, ast.Name):
            fld, value, sym = self.name(right), left, _FLIP[sym]
        else:
            for side in (left, right):
                if type(side) in _WHAT:
                    raise self.refuse(side)
            raise self.error(node, "a comparison needs a field on one side")
        if isinstance(value, ast.Constant) and isinstance(value.value, (str, bool)):
            if sym not in ("==", "!="):
                raise self.error(node, f"{sym} needs a number; compare text with == or in [...]")
            rule = IsIn(fld, (value.value,))
            return Not(rule) if sym == "!=" else rule
        return Compare(fld, sym, self.number(value))


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return node.id if isinstance(node, ast.Name) else "?"


def parse_filter(text: str) -> Filter:
    """Parse a filter expression (see the module doc for the grammar); never evaluates it."""
    if not isinstance(text, str):
        raise FilterSyntaxError.invalid("filter expression", text, rule="must be a string")
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise FilterSyntaxError.invalid(
            "filter expression",
            text,
            rule=f"longer than {MAX_EXPRESSION_LENGTH} characters",
            hint="Use the dict form or an ids list.",
        )
    text = text.strip()
    parser = _Parser(text)
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as e:
        raise FilterSyntaxError.invalid(
            "filter expression",
            text,
            rule=f"not a valid expression ({e.msg}, column {e.offset})",
            hint=_GRAMMAR_HINT,
        ) from None
    except (RecursionError, ValueError) as e:
        raise FilterSyntaxError.invalid("filter expression", text, rule=str(e)) from None
    try:
        return parser.expr(tree.body)
    except RecursionError:
        raise FilterSyntaxError.invalid(
            "filter expression", text, rule="nested too deeply"
        ) from None
    except FilterSyntaxError:
        raise
    except SparkleError as e:
        raise FilterSyntaxError(f"Invalid filter expression {text!r}: {e}") from e


# ---------------------------------------------------------------------------- dicts

_LEAF_KEYS: Final = {
    "op": ("field", "op", "value"),
    "in": ("field", "in"),
    "matches": ("field", "matches", "ignore_case"),
    "missing": ("field", "missing"),
}


def _keys(data: Mapping[str, Any], allowed: tuple[str, ...], where: str) -> None:
    extra = sorted(set(data) - set(allowed))
    if extra:
        raise FilterError.invalid(
            f"filter dict at {where}",
            dict(data),
            rule=f"unexpected key(s) {', '.join(map(repr, extra))}",
            hint=f"Allowed here: {', '.join(allowed)}.",
        )


def _from(data: Any, where: str) -> Filter:
    if isinstance(data, Filter):
        return data
    if isinstance(data, str):
        return parse_filter(data)
    if isinstance(data, list):
        return And(tuple(_from(d, f"{where}[{i}]") for i, d in enumerate(data)))
    if not isinstance(data, Mapping):
        raise FilterError.invalid(
            f"filter at {where}", data, rule="must be a mapping, a list or an expression string"
        )
    for key in ("and", "or"):
        if key in data:
            _keys(data, (key,), where)
            items = data[key]
            if not isinstance(items, list):
                raise FilterError.invalid(f"{key} at {where}", items, rule="must be a list")
            parts = tuple(_from(d, f"{where}.{key}[{i}]") for i, d in enumerate(items))
            return And(parts) if key == "and" else Or(parts)
    if "not" in data:
        _keys(data, ("not",), where)
        return Not(_from(data["not"], f"{where}.not"))
    if "expr" in data:
        _keys(data, ("expr",), where)
        return parse_filter(data["expr"])
    if "ids" in data:
        _keys(data, ("ids",), where)
        if not isinstance(data["ids"], list):
            raise FilterError.invalid(f"ids at {where}", data["ids"], rule="must be a list")
        return IsIn("sample_id", tuple(data["ids"]))
    if "preset" in data:
        return _preset(data, where)
    if "field" not in data:
        raise FilterError.invalid(
            f"filter dict at {where}",
            dict(data),
            rule="has none of the keys and, or, not, expr, ids, preset, field",
        )
    for key, allowed in _LEAF_KEYS.items():
        if key in data:
            _keys(data, allowed, where)
            break
    else:
        raise FilterError.invalid(
            f"filter dict at {where}",
            dict(data),
            rule="a field rule needs op+value, in, matches or missing",
        )
    fld = data["field"]
    if key == "op":
        if "value" not in data:
            raise FilterError.invalid(f"filter dict at {where}", dict(data), rule="needs value")
        return Compare(fld, data["op"], data["value"])
    if key == "in":
        if not isinstance(data["in"], list):
            raise FilterError.invalid(f"in at {where}", data["in"], rule="must be a list")
        return IsIn(fld, tuple(data["in"]))
    if key == "matches":
        return Matches(fld, data["matches"], data.get("ignore_case", False))
    if data["missing"] is not True:
        raise FilterError.invalid(f"missing at {where}", data["missing"], rule="must be true")
    return IsMissing(fld)


def _preset(data: Mapping[str, Any], where: str) -> ScorePreset:
    _keys(data, ("preset", "thresholds"), where)
    name = data["preset"]
    thresholds = data.get("thresholds") or {}
    if not isinstance(thresholds, Mapping):
        raise FilterError.invalid(
            f"thresholds at {where}", thresholds, rule="must be a mapping field -> number"
        )
    if name in PRESETS:
        return get_preset(name, **thresholds)
    resolved = {resolve_field(k): v for k, v in thresholds.items()}
    if set(resolved) != set(PRESET_FIELDS):
        raise FilterError.invalid(
            f"preset at {where}",
            name,
            rule="not a built-in preset, so its three thresholds must be given",
            hint=f"Give {', '.join(PRESET_FIELDS)}; built-in presets: {', '.join(PRESETS)}.",
        )
    return ScorePreset(name, *(resolved[f] for f in PRESET_FIELDS))


def filter_from_dict(data: Any) -> Filter:
    """Build a filter from its dict form, a list (``and``) or an expression string."""
    return _from(data, "filters")


set_readers(parse=parse_filter, from_dict=filter_from_dict)
