"""What evaluating a filter gives: the mask, the kept rows, and counts per rule."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from sparkle_data.filters.field import SAMPLE_ID

if TYPE_CHECKING:
    import pandas as pd

    from sparkle_data.filters.expr import Filter, Truth

__all__ = ["FilterResult", "RuleCount", "build_result"]


@dataclass(frozen=True, slots=True)
class RuleCount:
    """How one rule, evaluated alone on every row, splits them.

    ``missing`` rows failed because the value is missing or non-finite; ``failed`` rows have
    a value that breaks the rule (below the threshold, not in the list, no regex match).
    """

    rule: str
    field: str
    total: int
    passed: int
    missing: int
    failed: int

    @property
    def removed(self) -> int:
        """Rows this rule alone would remove: ``missing + failed``."""
        return self.missing + self.failed

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "removed": self.removed}


@dataclass(frozen=True, eq=False)
class FilterResult:
    """Result of :meth:`Filter.apply`.

    ``mask`` is a boolean Series indexed like the input table; ``table`` holds the kept rows.
    ``failed`` rows are definitely rejected, ``unknown`` rows are rejected because a value
    the decision needed was missing or non-finite (they are never kept).
    """

    filter: Filter
    mask: pd.Series[bool]
    table: pd.DataFrame
    rules: tuple[RuleCount, ...]
    total: int
    kept: int
    failed: int
    unknown: int
    warnings: tuple[str, ...] = ()

    @property
    def ids(self) -> tuple[str, ...]:
        """Sample ids of the kept rows, in table order."""
        return tuple(str(i) for i in self.table.index)

    @property
    def removed(self) -> int:
        return self.failed + self.unknown

    def counts_frame(self) -> pd.DataFrame:
        """One row per rule: ``rule, field, total, passed, missing, failed, removed``."""
        import pandas as pd

        frame: pd.DataFrame = pd.DataFrame([r.to_dict() for r in self.rules])
        return frame

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready counts (no row data)."""
        return {
            "filter": self.filter.to_dict(),
            "description": self.filter.describe(),
            "total": self.total,
            "kept": self.kept,
            "failed": self.failed,
            "unknown": self.unknown,
            "rules": [r.to_dict() for r in self.rules],
            "warnings": list(self.warnings),
        }

    def summary(self) -> str:
        """A readable report of the counts."""
        lines = [
            f"{self.filter.describe()}",
            f"  kept {self.kept} of {self.total} rows; removed {self.failed} failing, "
            f"{self.unknown} with a missing or non-finite value",
        ]
        if self.rules:
            w = max(len(r.rule) for r in self.rules)
            lines.append(f"  {'rule (alone)':<{w}}  {'passed':>7} {'missing':>7} {'failed':>7}")
            for r in self.rules:
                lines.append(f"  {r.rule:<{w}}  {r.passed:>7} {r.missing:>7} {r.failed:>7}")
        lines += [f"  warning: {w_}" for w_ in self.warnings]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (
            f"FilterResult({self.filter.describe()!r}, kept={self.kept}/{self.total}, "
            f"failed={self.failed}, unknown={self.unknown})"
        )


def build_result(
    f: Filter,
    table: pd.DataFrame,
    total: Truth,
    rules: Mapping[Filter, Truth],
    warnings: Sequence[str] = (),
) -> FilterResult:
    """Assemble a :class:`FilterResult` from the filter's and each rule's truth."""
    import pandas as pd

    n = len(table)
    counts = []
    for rule, t in rules.items():
        counts.append(
            RuleCount(
                rule=rule.describe(),
                field=getattr(rule, "field", SAMPLE_ID),
                total=n,
                passed=int(t.true.sum()),
                missing=int(t.unknown.sum()),
                failed=int(t.false.sum()),
            )
        )
    keep = np.asarray(total.true, dtype=bool)
    mask = pd.Series(keep, index=table.index, name="keep")
    return FilterResult(
        filter=f,
        mask=mask,
        table=table[keep],
        rules=tuple(counts),
        total=n,
        kept=int(keep.sum()),
        failed=int(total.false.sum()),
        unknown=int(total.unknown.sum()),
        warnings=tuple(warnings),
    )
