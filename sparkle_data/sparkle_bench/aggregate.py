"""Aggregate score files exactly as upstream's ``eval_sparkle_bench_gemini.py`` does.

Per theme: the mean of each of the six dimensions over the theme's records (summed in file
order, then divided by the count), and ``overall`` = the mean of the six means. Macro row: per
dimension, the mean over themes of the per-theme means (themes in upstream's order,
``location, season, style, time``), and ``overall`` = the mean of those six.

Unlike upstream, completeness is checked: a theme's expected ids come from the Sparkle-Bench
items (``expected=``) or from the ``{theme}_{rater}_sparkle_unrated.json`` file that
``sparkle-bench rate`` writes. :meth:`RunScores.macro` refuses (raises
:class:`~sparkle_data.sparkle_bench.errors.IncompleteScoresError`) while a theme is missing,
an item is unrated, or completeness is unknown, unless ``allow_missing=True``.
"""

from __future__ import annotations

import difflib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from sparkle_data.errors import JoinError
from sparkle_data.sparkle_bench.errors import IncompleteScoresError, ScoreFileError
from sparkle_data.sparkle_bench.outputs import find_score_files, rater_tag, status_file_name
from sparkle_data.sparkle_bench.rubric import DIMENSION_KEYS, N_DIMENSIONS
from sparkle_data.sparkle_bench.scorefile import ScoreRecord, read_score_file

__all__ = [
    "UPSTREAM_THEME_ORDER",
    "MacroRow",
    "RunScores",
    "ThemeScores",
    "load_run",
    "macro_row",
    "pick_score_files",
    "theme_scores",
]

UPSTREAM_THEME_ORDER: Final[tuple[str, ...]] = ("location", "season", "style", "time")


@dataclass(frozen=True, slots=True)
class ThemeScores:
    """One theme of one run."""

    theme: str
    n: int
    means: tuple[float, ...]
    """Per dimension, in :data:`~sparkle_data.sparkle_bench.rubric.DIMENSION_KEYS` order."""
    overall: float
    expected: int | None = None
    """Items the theme should hold; ``None`` when unknown."""
    missing: tuple[str, ...] = ()
    """Expected ids with no record (empty when ``expected`` is unknown)."""

    def as_dict(self) -> dict[str, float]:
        return {**dict(zip(DIMENSION_KEYS, self.means, strict=True)), "overall": self.overall}


@dataclass(frozen=True, slots=True)
class MacroRow:
    n: int
    means: tuple[float, ...]
    overall: float
    themes: tuple[str, ...]
    missing_items: int
    missing_themes: tuple[str, ...]

    def as_dict(self) -> dict[str, float]:
        return {**dict(zip(DIMENSION_KEYS, self.means, strict=True)), "overall": self.overall}


def theme_scores(
    theme: str, records: Sequence[ScoreRecord], expected: Sequence[str] | None = None
) -> ThemeScores:
    """Means of one theme's records (upstream's ``avg_score_by_edit_type``), with the ids of
    ``expected`` that have no record. A record of another theme, or not in ``expected``,
    raises :class:`~sparkle_data.errors.JoinError`."""
    if not records:
        raise ScoreFileError.invalid("theme", theme, rule="has no records")
    sums = [0.0] * N_DIMENSIONS
    for r in records:
        if r.edit_type != theme:
            raise JoinError.invalid(
                "edit_type", r.edit_type, rule=f"is not this file's theme {theme!r}",
                sample_id=r.id,
            )
        for i in range(N_DIMENSIONS):
            sums[i] += r.scores[i]
    n = len(records)
    means = tuple(s / n for s in sums)
    overall = sum(means) / N_DIMENSIONS
    missing: tuple[str, ...] = ()
    if expected is not None:
        want = set(expected)
        unknown = sorted({r.id for r in records} - want)
        if unknown:
            raise JoinError.invalid(
                "rated ids", unknown[:5],
                rule=f"are not among the {len(want)} expected {theme} items",
                hint="Was this run made on another version of Sparkle-Bench?",
            )
        have = {r.id for r in records}
        missing = tuple(sid for sid in expected if sid not in have)
    return ThemeScores(
        theme, n, means, overall, None if expected is None else len(set(expected)), missing
    )


def macro_row(
    themes: Sequence[ThemeScores],
    *,
    missing_themes: Sequence[str] = (),
) -> MacroRow:
    """Mean over ``themes`` of the per-theme means (in the order given), overall likewise."""
    if not themes:
        raise IncompleteScoresError("No theme has scores: there is no macro row to compute.")
    sums = [0.0] * N_DIMENSIONS
    for t in themes:
        for i in range(N_DIMENSIONS):
            sums[i] += t.means[i]
    means = tuple(s / len(themes) for s in sums)
    return MacroRow(
        sum(t.n for t in themes),
        means,
        sum(means) / N_DIMENSIONS,
        tuple(t.theme for t in themes),
        sum(len(t.missing) for t in themes),
        tuple(missing_themes),
    )


@dataclass(frozen=True, slots=True)
class RunScores:
    """The scores of one output dir (one checkpoint) with one rater."""

    name: str
    outdir: str
    tag: str
    themes: tuple[ThemeScores, ...]
    missing_themes: tuple[str, ...]
    torn_tails: tuple[str, ...] = ()
    """Score files that ended in a torn line (dropped; rerun ``rate`` to finish them)."""

    @property
    def unknown_expected(self) -> tuple[str, ...]:
        """Themes whose expected ids are unknown (no items given, no status file)."""
        return tuple(t.theme for t in self.themes if t.expected is None)

    @property
    def missing_items(self) -> int:
        return sum(len(t.missing) for t in self.themes)

    @property
    def complete(self) -> bool:
        return not (self.missing_themes or self.missing_items or self.unknown_expected)

    def incomplete_reason(self) -> str:
        parts = []
        if self.missing_themes:
            parts.append(f"themes without scores: {', '.join(self.missing_themes)}")
        for t in self.themes:
            if t.missing:
                parts.append(f"{t.theme}: {len(t.missing)} of {t.expected} items unrated")
        if self.unknown_expected:
            parts.append(
                f"expected items unknown for {', '.join(self.unknown_expected)} "
                "(pass --bench-root)"
            )
        return "; ".join(parts)

    def macro(self, *, allow_missing: bool = False) -> MacroRow:
        if not self.complete and not allow_missing:
            raise IncompleteScoresError(
                f"Refusing the macro row of {self.name} ({self.outdir}): "
                f"{self.incomplete_reason()}. Rate the rest, or pass --allow-missing to "
                "average what is there (the counts are then shown).",
                path=self.outdir,
            )
        return macro_row(self.themes, missing_themes=self.missing_themes)


def _status_expected(outdir: Path, theme: str, tag: str) -> list[str] | None:
    path = outdir / status_file_name(theme, tag)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise ScoreFileError.invalid("status file", str(path), rule=str(e), path=str(path)) from e
    exp = doc.get("expected") if isinstance(doc, dict) else None
    if not isinstance(exp, list) or not all(isinstance(x, str) for x in exp):
        raise ScoreFileError.invalid(
            "status file", str(path), rule="has no list of expected ids", path=str(path)
        )
    return exp


def pick_score_files(
    outdir: str | os.PathLike[str],
    tag: str | None = None,
    themes: Sequence[str] | None = None,
) -> tuple[str, dict[str, Path]]:
    """The rater tag and its score files by theme in ``outdir``: ``tag``'s (a model name, as in
    the file names), or the only rater's. Raises :class:`ScoreFileError` when there is
    nothing to aggregate: no score file, several raters and no ``tag``, a ``tag`` with no
    file, or (``themes``) none of those themes; ``ValueError`` for a ``tag`` no file name can
    hold."""
    where = os.fspath(outdir)
    found = find_score_files(where)
    if not found:
        raise ScoreFileError.invalid(
            "output dir",
            where,
            rule="holds no {theme}_{rater}_sparkle_score.jsonl file: nothing to aggregate",
            hint="Run `sparkle-data sparkle-bench rate` first.",
        )
    if tag is None:
        if len(found) > 1:
            raise ScoreFileError.invalid(
                "output dir",
                where,
                rule=f"holds score files of several raters ({', '.join(found)}): choose one "
                "with --rater (tag= in Python)",
            )
        key = next(iter(found))
    else:
        key = rater_tag(tag)
        if key not in found:
            close = difflib.get_close_matches(key, list(found), n=1, cutoff=0.6)
            raise ScoreFileError.invalid(
                "rater",
                key,
                rule=f"no score file of it (raters: {', '.join(sorted(found))})",
                path=where,
                hint=f"Did you mean {close[0]!r}?" if close else None,
            )
    if themes is not None and not set(found[key]) & set(themes):
        raise ScoreFileError.invalid(
            "output dir",
            where,
            rule=f"holds no score file of rater {key!r} for {', '.join(themes)} "
            f"(it has: {', '.join(found[key])})",
        )
    return key, found[key]


def load_run(
    outdir: str | os.PathLike[str],
    *,
    tag: str | None = None,
    themes: Sequence[str] = UPSTREAM_THEME_ORDER,
    expected: Mapping[str, Sequence[str]] | None = None,
    name: str | None = None,
) -> RunScores:
    """Read the score files of ``outdir`` (ours or upstream's) and aggregate each theme.

    ``tag`` picks the rater (the model name in the file names); by default the only one
    present. ``expected`` maps a theme to its item ids (see :func:`~.items.load_items`);
    without it the status files written by ``rate`` are used when present.
    """
    base = Path(outdir)
    key, files = pick_score_files(base, tag)
    out: list[ThemeScores] = []
    missing_themes: list[str] = []
    torn: list[str] = []
    for theme in themes:
        path = files.get(theme)
        exp = expected.get(theme) if expected is not None else _status_expected(base, theme, key)
        if path is None:
            missing_themes.append(theme)
            continue
        sf = read_score_file(path)
        if sf.torn_tail:
            torn.append(str(path))
        if not sf.records:
            missing_themes.append(theme)
            continue
        out.append(theme_scores(theme, sf.records, exp))
    return RunScores(
        name or base.name or str(base), str(base), key, tuple(out), tuple(missing_themes),
        tuple(torn),
    )
