"""The public API of sparkle_data.filters: a test that fails when it drifts."""

from __future__ import annotations

import importlib

import sparkle_data.filters as filters

PUBLIC = {
    "ALIASES", "LOOSE", "PAPER", "PENDING_COLUMNS", "POPULATIONS", "PRESETS", "STRICT",
    "And", "Compare", "Filter", "FilterError", "FilterResult", "FilterSyntaxError", "IsIn",
    "IsMissing", "Matches", "Not", "Or", "Population", "RuleCount", "ScorePreset", "SourceRef",
    "StatsFiles", "SubsetMismatchError", "SubsetSpec", "Truth", "evaluate", "every_frame", "field",
    "filter_from_dict", "funnel_table", "get_preset", "ids", "ids_sha256", "parse_filter",
    "plot_funnel", "plot_score_histograms", "resolve_field", "subset_ids", "write_stats",
}  # fmt: skip

MODULES = (
    "_errors",
    "expr",
    "field",
    "funnel",
    "parse",
    "plot",
    "preset",
    "result",
    "spec",
    "stats",
)


def test_public_names_are_stable() -> None:
    assert set(filters.__all__) == PUBLIC
    for name in filters.__all__:
        assert getattr(filters, name) is not None


def test_every_module_lists_what_it_defines() -> None:
    for mod_name in MODULES:
        mod = importlib.import_module(f"sparkle_data.filters.{mod_name}")
        for name in mod.__all__:
            assert hasattr(mod, name), f"{mod_name}.{name}"


def test_importing_filters_does_not_import_matplotlib() -> None:
    import subprocess
    import sys

    code = "import sys, sparkle_data.filters; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_errors_are_value_errors() -> None:
    from sparkle_data.errors import SparkleError

    for cls in (filters.FilterError, filters.FilterSyntaxError, filters.SubsetMismatchError):
        assert issubclass(cls, SparkleError)
        assert issubclass(cls, ValueError)
