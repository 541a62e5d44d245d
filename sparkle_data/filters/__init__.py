"""Filters over catalog rows, rejection statistics, and reproducible subset specs.

See ``docs/filters.md``::

    from sparkle_data.filters import PAPER, field, parse_filter

    f = PAPER.with_thresholds(video_mean_o_score=8.3) & field("edit_type").isin(["time"])
    result = f.apply(catalog)            # mask, kept rows, per-rule counts
    f = parse_filter("paper and grounding_empty_box_share <= 0.1")

Modules: ``expr`` (rules, composition, three-valued evaluation), ``values`` (operators, rule
values, their checks and text), ``parse`` (expressions and dicts, no ``eval``), ``preset``
(paper / strict / loose), ``result``, ``funnel`` (rejection statistics), ``plot`` and
``stats`` (PNG and CSV/JSON files), ``spec`` (subset specs).
"""

from sparkle_data.filters._errors import FilterError, FilterSyntaxError, SubsetMismatchError
from sparkle_data.filters.expr import (
    And,
    Compare,
    Filter,
    IsIn,
    IsMissing,
    Matches,
    Not,
    Or,
    Truth,
    evaluate,
    every_frame,
    field,
    ids,
)
from sparkle_data.filters.field import ALIASES, PENDING_COLUMNS, resolve_field
from sparkle_data.filters.funnel import POPULATIONS, Population, funnel_table
from sparkle_data.filters.parse import filter_from_dict, parse_filter
from sparkle_data.filters.plot import plot_funnel, plot_score_histograms
from sparkle_data.filters.preset import LOOSE, PAPER, PRESETS, STRICT, ScorePreset, get_preset
from sparkle_data.filters.result import FilterResult, RuleCount
from sparkle_data.filters.spec import SourceRef, SubsetSpec, ids_sha256, subset_ids
from sparkle_data.filters.stats import StatsFiles, write_stats

__all__ = [
    "ALIASES",
    "LOOSE",
    "PAPER",
    "PENDING_COLUMNS",
    "POPULATIONS",
    "PRESETS",
    "STRICT",
    "And",
    "Compare",
    "Filter",
    "FilterError",
    "FilterResult",
    "FilterSyntaxError",
    "IsIn",
    "IsMissing",
    "Matches",
    "Not",
    "Or",
    "Population",
    "RuleCount",
    "ScorePreset",
    "SourceRef",
    "StatsFiles",
    "SubsetMismatchError",
    "SubsetSpec",
    "Truth",
    "evaluate",
    "every_frame",
    "field",
    "filter_from_dict",
    "funnel_table",
    "get_preset",
    "ids",
    "ids_sha256",
    "parse_filter",
    "plot_funnel",
    "plot_score_histograms",
    "resolve_field",
    "subset_ids",
    "write_stats",
]
