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

import importlib
from typing import Any

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

__all__ = sorted(_HOME)


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module 'sparkle_data.sparkle_bench' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOME])
