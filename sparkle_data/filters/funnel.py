"""The rejection funnel: what each rule removes alone and in pipeline order, per edit type.

The population is every id that entered the pipeline (``population="entered"``: rows with
``in_edited_frame0_score``, i.e. corpus samples plus the ids the records show as rejected).
Stages default to the paper preset in pipeline order (frame 0 -> foreground removed -> video).

For each group (edit type, then ``all``) and stage the table gives:

* ``reached``: rows still in after the earlier stages; ``removed_in_sequence`` of them fail
  this stage (``_missing``: the value is missing or non-finite, ``_below``: it is present and
  fails the rule), ``kept`` go on;
* ``removed_alone``: rows of the whole population that fail this rule on its own. Ids stopped
  at an earlier stage have no later score, so they count in ``removed_alone_missing``;
  ``removed_alone_below`` counts real scores under the threshold;
* ``observed_rejected``: ids the records show as rejected at this stage (``status`` rejected
  and ``last_record`` equal to the stage's record file); empty for stages that are not
  record files. With the paper preset it equals ``removed_in_sequence`` when the released
  records agree with the card's thresholds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final, Literal, get_args

import numpy as np

from sparkle_data.catalog.table import PIPELINE_ORDER
from sparkle_data.filters._errors import FilterError
from sparkle_data.filters.expr import Filter
from sparkle_data.filters.field import table_of
from sparkle_data.filters.preset import PAPER, ScorePreset
from sparkle_data.layout import EDIT_TYPES

if TYPE_CHECKING:
    import pandas as pd
    from numpy.typing import NDArray

__all__ = [
    "ALL_GROUP",
    "FUNNEL_COLUMNS",
    "POPULATIONS",
    "Population",
    "StagesLike",
    "funnel_table",
    "population_mask",
    "resolve_stages",
]

Population = Literal["entered", "corpus", "all"]
POPULATIONS: Final[tuple[Population, ...]] = get_args(Population)

ALL_GROUP: Final = "all"
"""Label of the rows that total every group."""

StagesLike = ScorePreset | Sequence[tuple[str, Filter] | Filter]
"""A preset (its three stages), or rules in order, each ``(name, filter)`` or a filter."""

FUNNEL_COLUMNS: Final[tuple[str, ...]] = (
    "step",
    "stage",
    "rule",
    "entered",
    "reached",
    "removed_in_sequence",
    "removed_in_sequence_missing",
    "removed_in_sequence_below",
    "kept",
    "removed_alone",
    "removed_alone_missing",
    "removed_alone_below",
    "share_removed_in_sequence",
    "share_removed_alone",
    "observed_rejected",
)
"""Columns after the group column, in order."""


def population_mask(table: pd.DataFrame, population: Population) -> NDArray[np.bool_]:
    """Rows of ``table`` in the population (``entered``, ``corpus`` or ``all``)."""
    if population == "all":
        return np.ones(len(table), dtype=bool)
    if population == "entered":
        col = "in_edited_frame0_score"
        if col not in table.columns:
            raise FilterError.invalid(
                "population",
                population,
                rule=f"the table has no {col} column",
                hint="Use a catalog table, or population='all'.",
            )
        return table[col].fillna(False).to_numpy(dtype=bool)
    if population == "corpus":
        if "in_corpus" in table.columns:
            return table["in_corpus"].fillna(False).to_numpy(dtype=bool)
        if "status" in table.columns:
            return (table["status"] == "corpus").to_numpy(dtype=bool)
        raise FilterError.invalid(
            "population", population, rule="the table has no in_corpus or status column"
        )
    raise FilterError.invalid(
        "population", population, rule="unknown", hint=f"Use one of {', '.join(POPULATIONS)}."
    )


def resolve_stages(stages: StagesLike) -> tuple[tuple[str, Filter], ...]:
    """``(name, filter)`` pairs; names must be unique."""
    if isinstance(stages, ScorePreset):
        return stages.stages()
    if isinstance(stages, Filter):
        return ((stages.describe(), stages),)
    out: list[tuple[str, Filter]] = []
    for s in stages:
        if isinstance(s, Filter):
            out.append((s.describe(), s))
        elif (
            isinstance(s, tuple)
            and len(s) == 2
            and isinstance(s[0], str)
            and isinstance(s[1], Filter)
        ):
            out.append((s[0], s[1]))
        else:
            raise FilterError.invalid("funnel stage", s, rule="must be (name, Filter) or a Filter")
    names = [n for n, _ in out]
    if not out or len(set(names)) != len(names):
        raise FilterError.invalid("funnel stages", names, rule="need one or more unique names")
    return tuple(out)


def _groups(sub: pd.DataFrame, by: str | None) -> list[tuple[str, NDArray[np.bool_]]]:
    everything = np.ones(len(sub), dtype=bool)
    if by is None:
        return [(ALL_GROUP, everything)]
    if by not in sub.columns:
        raise FilterError.invalid("funnel group column", by, rule="the table has no such column")
    col = sub[by]
    present = [str(v) for v in col.dropna().unique()]
    order: list[str] = []
    if by == "edit_type":
        order = [t for t in EDIT_TYPES if t in present]
        order += sorted(set(present) - set(order))
    else:
        order = sorted(present)
    values = col.astype(object).to_numpy()
    return [(v, values == v) for v in order] + [(ALL_GROUP, everything)]


def _share(num: int, den: int) -> float:
    return num / den if den else float("nan")


def funnel_table(
    source: Any,
    stages: StagesLike = PAPER,
    *,
    population: Population = "entered",
    by: str | None = "edit_type",
) -> pd.DataFrame:
    """Per group and stage: rows removed alone and in sequence (see the module doc).

    ``source`` is a Catalog or its table; ``by`` a column to group on (``None``: totals only).
    """
    import pandas as pd

    table = table_of(source)
    pairs = resolve_stages(stages)
    sub = table[population_mask(table, population)]
    truths = [(name, f, f.truth(sub)) for name, f in pairs]
    observable = {"status", "last_record"} <= set(sub.columns)
    rejected_at: NDArray[np.object_] | None = None
    if observable:
        rejected = sub["status"].astype(object).to_numpy() == "rejected"
        rejected_at = sub["last_record"].astype(object).to_numpy().copy()
        rejected_at[~rejected] = None
    rows: list[dict[str, Any]] = []
    for label, g in _groups(sub, by):
        alive = g.copy()
        entered = int(g.sum())
        for step, (name, f, t) in enumerate(truths, start=1):
            reached = int(alive.sum())
            seq_missing = int((alive & t.unknown).sum())
            seq_below = int((alive & t.false).sum())
            alive = alive & t.true
            alone_missing = int((g & t.unknown).sum())
            alone_below = int((g & t.false).sum())
            observed = (
                int((g & (rejected_at == name)).sum())
                if rejected_at is not None and name in PIPELINE_ORDER
                else None
            )
            rows.append(
                {
                    by or "group": label,
                    "step": step,
                    "stage": name,
                    "rule": f.describe(),
                    "entered": entered,
                    "reached": reached,
                    "removed_in_sequence": seq_missing + seq_below,
                    "removed_in_sequence_missing": seq_missing,
                    "removed_in_sequence_below": seq_below,
                    "kept": int(alive.sum()),
                    "removed_alone": alone_missing + alone_below,
                    "removed_alone_missing": alone_missing,
                    "removed_alone_below": alone_below,
                    "share_removed_in_sequence": _share(seq_missing + seq_below, reached),
                    "share_removed_alone": _share(alone_missing + alone_below, entered),
                    "observed_rejected": observed,
                }
            )
    columns = [by or "group", *FUNNEL_COLUMNS]
    out = pd.DataFrame(rows, columns=columns)
    out["observed_rejected"] = out["observed_rejected"].astype("Int64")
    result: pd.DataFrame = out
    return result
