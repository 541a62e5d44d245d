"""``write_stats``: the funnel as CSV + JSON, score histograms and a funnel chart as PNG."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from sparkle_data._version import __version__
from sparkle_data.catalog.cells import cell_value
from sparkle_data.filters.expr import Compare
from sparkle_data.filters.field import table_of
from sparkle_data.filters.funnel import Population, StagesLike, funnel_table, resolve_stages
from sparkle_data.filters.preset import PAPER, ScorePreset
from sparkle_data.io.atomic import atomic_write_text

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["POPULATION_RULES", "StatsFiles", "funnel_to_json", "stage_thresholds", "write_stats"]

POPULATION_RULES: Final[dict[str, str]] = {
    "entered": "ids with a line in edited_frame0_score.jsonl (corpus + rejected at any stage)",
    "corpus": "ids listed in the prompts CSVs (the released pairs)",
    "all": "every row of the table",
}


@dataclass(frozen=True, eq=False)
class StatsFiles:
    """What :func:`write_stats` wrote, and the funnel table itself."""

    funnel: pd.DataFrame
    funnel_csv: Path
    funnel_json: Path
    funnel_png: Path | None
    histograms: tuple[Path, ...]

    @property
    def paths(self) -> tuple[Path, ...]:
        extra = (self.funnel_png,) if self.funnel_png is not None else ()
        return (self.funnel_csv, self.funnel_json, *extra, *self.histograms)


def _clean(v: Any) -> Any:
    plain = cell_value(v)
    return None if isinstance(plain, float) and not math.isfinite(plain) else plain


def stage_thresholds(stages: StagesLike) -> dict[str, float]:
    """``{field: threshold}`` of the stages that are ``field >= x`` (or ``>``) rules."""
    if isinstance(stages, ScorePreset):
        return stages.thresholds
    out: dict[str, float] = {}
    for _, f in resolve_stages(stages):
        if isinstance(f, Compare) and f.op in (">=", ">"):
            out.setdefault(f.field, f.value)
    return out


def funnel_to_json(
    funnel: pd.DataFrame,
    stages: StagesLike = PAPER,
    *,
    population: Population = "entered",
) -> dict[str, Any]:
    """A JSON-ready document: population, stages (with their filter dicts) and the rows."""
    pairs = resolve_stages(stages)
    return {
        "population": population,
        "population_rule": POPULATION_RULES[population],
        "group_by": str(funnel.columns[0]),
        "stages": [
            {"step": i, "stage": name, "rule": f.describe(), "filter": f.to_dict()}
            for i, (name, f) in enumerate(pairs, start=1)
        ],
        "rows": [{str(k): _clean(v) for k, v in row.items()} for row in funnel.to_dict("records")],
        "sparkle_data_version": __version__,
    }


def write_stats(
    source: Any,
    out_dir: str | os.PathLike[str],
    *,
    stages: StagesLike = PAPER,
    population: Population = "entered",
    by: str | None = "edit_type",
    fields: Sequence[str] | None = None,
    plots: bool = True,
) -> StatsFiles:
    """Write ``funnel.csv``, ``funnel.json``, ``funnel.png`` and ``hist_{score}.png``.

    ``source`` is a Catalog or its table. Histograms draw the thresholds of ``stages`` (the
    paper's by default; for custom stages, those of ``field >= x`` rules). ``plots=False``
    writes the tables only (no matplotlib needed).
    """
    table = table_of(source)
    out = Path(out_dir)
    funnel = funnel_table(table, stages, population=population, by=by)
    csv_path = out / "funnel.csv"
    json_path = out / "funnel.json"
    atomic_write_text(csv_path, funnel.to_csv(index=False, lineterminator="\n"))
    doc = funnel_to_json(funnel, stages, population=population)
    atomic_write_text(json_path, json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
    png: Path | None = None
    hists: tuple[Path, ...] = ()
    if plots:
        from sparkle_data.filters.plot import plot_funnel, plot_score_histograms

        png = plot_funnel(funnel, out / "funnel.png")
        hists = plot_score_histograms(
            table,
            out,
            fields=fields,
            thresholds=stage_thresholds(stages),
            population=population,
            by=by or "edit_type",
        )
    return StatsFiles(funnel, csv_path, json_path, png, hists)
