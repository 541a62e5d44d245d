"""Comparison tables of several runs: text (side by side per theme) and CSV."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from sparkle_data.io.atomic import atomic_write_text
from sparkle_data.sparkle_bench.aggregate import RunScores
from sparkle_data.sparkle_bench.errors import IncompleteScoresError
from sparkle_data.sparkle_bench.rubric import DIMENSION_KEYS

__all__ = ["SHORT_NAMES", "TableRow", "comparison_rows", "format_table", "table_csv", "write_csv"]

SHORT_NAMES: Final[tuple[str, ...]] = ("Ins", "Vis", "FgIn", "FgMo", "BgDy", "BgVi")
"""Upstream's column headers for the six dimensions."""
MACRO: Final = "MACRO"


@dataclass(frozen=True, slots=True)
class TableRow:
    """One ``(theme or MACRO, run)`` row; ``means`` is ``None`` for a refused macro row."""

    theme: str
    run: str
    n: int
    expected: int | None
    missing: int | None
    means: tuple[float, ...] | None
    overall: float | None
    note: str = ""


def comparison_rows(runs: Sequence[RunScores], *, allow_missing: bool = False) -> list[TableRow]:
    """Rows grouped by theme (every theme any run has, in upstream order), then the macro rows.

    A theme a run lacks gives a row without means (note ``missing theme``); a run whose
    macro row is refused gives a row without means and the reason as its note.
    """
    order: list[str] = []
    for r in runs:
        for t in (*[t.theme for t in r.themes], *r.missing_themes):
            if t not in order:
                order.append(t)
    rows: list[TableRow] = []
    for theme in order:
        for r in runs:
            ts = next((t for t in r.themes if t.theme == theme), None)
            if ts is None:
                rows.append(TableRow(theme, r.name, 0, None, None, None, None, "missing theme"))
            else:
                missing = None if ts.expected is None else len(ts.missing)
                rows.append(
                    TableRow(theme, r.name, ts.n, ts.expected, missing, ts.means, ts.overall)
                )
    for r in runs:
        try:
            m = r.macro(allow_missing=allow_missing)
        except IncompleteScoresError:
            rows.append(
                TableRow(MACRO, r.name, 0, None, None, None, None,
                         f"refused: {r.incomplete_reason()}")
            )
            continue
        expected = None if r.unknown_expected else sum(t.expected or 0 for t in r.themes)
        note = ""
        if m.missing_themes:
            note = f"over {len(m.themes)} themes (no {', '.join(m.missing_themes)})"
        rows.append(
            TableRow(MACRO, r.name, m.n, expected, None if r.unknown_expected else m.missing_items,
                     m.means, m.overall, note)
        )
    return rows


def _num(v: int | None) -> str:
    return "?" if v is None else str(v)


def format_table(runs: Sequence[RunScores], *, allow_missing: bool = False, digits: int = 2) -> str:
    """A fixed-width table: ``theme run n missing Overall Ins Vis FgIn FgMo BgDy BgVi``."""
    rows = comparison_rows(runs, allow_missing=allow_missing)
    rw = max(3, *(len(r.run) for r in rows))
    head = f"{'theme':<9} {'run':<{rw}} {'n':>5} {'missing':>7} {'Overall':>7} " + " ".join(
        f"{s:>5}" for s in SHORT_NAMES
    )
    lines = [head, "-" * len(head)]
    last = None
    for r in rows:
        if last is not None and r.theme != last:
            lines.append("")
        last = r.theme
        prefix = f"{r.theme:<9} {r.run:<{rw}} {r.n:>5} {_num(r.missing):>7}"
        if r.means is None or r.overall is None:
            lines.append(f"{prefix} {r.note}")
            continue
        vals = " ".join(f"{v:>5.{digits}f}" for v in r.means)
        note = f"  {r.note}" if r.note else ""
        lines.append(f"{prefix} {r.overall:>7.{digits}f} {vals}{note}")
    return "\n".join(lines)


def table_csv(runs: Sequence[RunScores], *, allow_missing: bool = False) -> str:
    """CSV with full precision: ``theme,run,n,expected,missing,overall,<6 keys>,note``."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["theme", "run", "n", "expected", "missing", "overall", *DIMENSION_KEYS, "note"])
    for r in comparison_rows(runs, allow_missing=allow_missing):
        means = [repr(v) for v in r.means] if r.means is not None else [""] * len(DIMENSION_KEYS)
        w.writerow([
            r.theme, r.run, r.n, "" if r.expected is None else r.expected,
            "" if r.missing is None else r.missing,
            "" if r.overall is None else repr(r.overall), *means, r.note,
        ])
    return buf.getvalue()


def write_csv(
    runs: Sequence[RunScores], path: str | os.PathLike[str], *, allow_missing: bool = False
) -> None:
    """Write :func:`table_csv` atomically."""
    atomic_write_text(path, table_csv(runs, allow_missing=allow_missing))
