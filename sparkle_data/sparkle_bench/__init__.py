"""Sparkle-Bench evaluation: items, output layout, output checks, rater client, scores.

Named ``sparkle_bench`` so that it is never confused with ``bench/``, this project's
performance scripts. One job per module:

================  ==============================================================
module            does
================  ==============================================================
``items``         Sparkle-Bench items (CSV + metadata), rank/worker sharding
``outputs``       where inference and the rater write (upstream's layout)
``check``         missing/extra/unreadable outputs, frame and size mismatches
``rubric``        rubric loading (text or upstream script, via ``ast``), answer parsing, cap
``scorefile``     score records, crash-safe appends, torn-tail repair
``rater``         the OpenAI-compatible rater client (retries, resume, report)
``aggregate``     per-theme means and the macro row, exactly as upstream
``table``         side-by-side tables and CSV of several runs
``plot``          one PNG per dimension
================  ==============================================================

Importing a name from this package imports only its module (``openai`` and ``matplotlib``
are imported by the functions that need them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sparkle_data._lazy import lazy_exports

if TYPE_CHECKING:
    from sparkle_data.sparkle_bench.aggregate import (
        RunScores,
        ThemeScores,
        load_run,
        macro_row,
        theme_scores,
    )
    from sparkle_data.sparkle_bench.check import CheckReport, check_outputs, format_check
    from sparkle_data.sparkle_bench.errors import (
        IncompleteScoresError,
        RaterError,
        RubricError,
        ScoreFileError,
    )
    from sparkle_data.sparkle_bench.items import BenchItem, BenchItems, load_items, shard_items
    from sparkle_data.sparkle_bench.outputs import output_path, output_relpath, score_file_name
    from sparkle_data.sparkle_bench.plot import plot_runs
    from sparkle_data.sparkle_bench.rater import RaterConfig, RateReport, make_client, rate_items
    from sparkle_data.sparkle_bench.rubric import (
        DIMENSIONS,
        apply_cap,
        fill_rubric,
        load_rubric,
        parse_answer,
    )
    from sparkle_data.sparkle_bench.scorefile import ScoreRecord, ScoreWriter, read_score_file
    from sparkle_data.sparkle_bench.table import format_table, table_csv, write_csv

__all__ = [
    "DIMENSIONS",
    "BenchItem",
    "BenchItems",
    "CheckReport",
    "IncompleteScoresError",
    "RateReport",
    "RaterConfig",
    "RaterError",
    "RubricError",
    "RunScores",
    "ScoreFileError",
    "ScoreRecord",
    "ScoreWriter",
    "ThemeScores",
    "apply_cap",
    "check_outputs",
    "fill_rubric",
    "format_check",
    "format_table",
    "load_items",
    "load_rubric",
    "load_run",
    "macro_row",
    "make_client",
    "output_path",
    "output_relpath",
    "parse_answer",
    "plot_runs",
    "rate_items",
    "read_score_file",
    "score_file_name",
    "shard_items",
    "table_csv",
    "theme_scores",
    "write_csv",
]

_HOME: dict[str, str] = {
    "BenchItem": "items", "BenchItems": "items", "load_items": "items",
    "shard_items": "items",
    "output_path": "outputs", "output_relpath": "outputs", "score_file_name": "outputs",
    "CheckReport": "check", "check_outputs": "check", "format_check": "check",
    "DIMENSIONS": "rubric", "load_rubric": "rubric", "fill_rubric": "rubric",
    "parse_answer": "rubric", "apply_cap": "rubric",
    "ScoreRecord": "scorefile", "ScoreWriter": "scorefile", "read_score_file": "scorefile",
    "RaterConfig": "rater", "RateReport": "rater", "make_client": "rater",
    "rate_items": "rater",
    "RunScores": "aggregate", "ThemeScores": "aggregate", "load_run": "aggregate",
    "macro_row": "aggregate", "theme_scores": "aggregate",
    "format_table": "table", "table_csv": "table", "write_csv": "table",
    "plot_runs": "plot",
    "IncompleteScoresError": "errors", "RaterError": "errors", "RubricError": "errors",
    "ScoreFileError": "errors",
}  # fmt: skip

lazy_exports(__name__, _HOME)
