"""PNG plots of scores and of the rejection funnel (matplotlib, no pyplot, no display).

Figures are drawn with :class:`matplotlib.figure.Figure` directly (the Agg renderer), so the
caller's matplotlib backend and global state are left alone; files are written atomically.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from sparkle_data.filters.expr import format_number
from sparkle_data.filters.field import numeric_values, table_of
from sparkle_data.filters.funnel import ALL_GROUP, Population, population_mask
from sparkle_data.filters.preset import PAPER, PRESET_FIELDS, ScorePreset
from sparkle_data.io.atomic import atomic_write_bytes
from sparkle_data.layout import EDIT_TYPES

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

__all__ = ["EDIT_TYPE_COLORS", "default_score_fields", "plot_funnel", "plot_score_histograms"]

EDIT_TYPE_COLORS: Final[dict[str, str]] = dict(
    zip(EDIT_TYPES, ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd"), strict=True)
)
"""One fixed color per edit type, the same in every plot."""

_OTHER_COLORS: Final = ("#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
_DPI: Final = 100


def _figure(width: float, height: float) -> Figure:
    try:
        from matplotlib.figure import Figure
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("Plots need matplotlib: pip install matplotlib") from e
    return Figure(figsize=(width, height), dpi=_DPI, layout="constrained")


def _save(fig: Figure, path: Path) -> Path:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI)
    atomic_write_bytes(path, buf.getvalue())
    return path


def _color(group: str, k: int) -> str:
    return EDIT_TYPE_COLORS.get(group, _OTHER_COLORS[k % len(_OTHER_COLORS)])


def default_score_fields(table: pd.DataFrame) -> tuple[str, ...]:
    """The preset scores, plus ``video_min_o_score`` when the table has it."""
    extra = ("video_min_o_score",) if "video_min_o_score" in table.columns else ()
    return (*PRESET_FIELDS, *extra)


def _group_order(values: Sequence[str]) -> list[str]:
    present = set(values)
    order = [t for t in EDIT_TYPES if t in present]
    return order + sorted(present - set(order))


def plot_score_histograms(
    source: Any,
    out_dir: str | os.PathLike[str],
    *,
    fields: Sequence[str] | None = None,
    thresholds: ScorePreset | Mapping[str, float] = PAPER,
    population: Population = "entered",
    by: str = "edit_type",
    bins: int = 40,
) -> tuple[Path, ...]:
    """Write ``hist_{field}.png`` per score: one step histogram per ``by`` group (edit type),
    the threshold as a dashed line, and per group the count below it and the count missing.
    """
    table = table_of(source)
    sub = table[population_mask(table, population)]
    limits = dict(thresholds.thresholds if isinstance(thresholds, ScorePreset) else thresholds)
    groups = [str(v) for v in sub[by].dropna().unique()] if by in sub.columns else []
    order = _group_order(groups)
    labels = sub[by].astype(object).to_numpy() if by in sub.columns else None
    out: list[Path] = []
    for fld in fields or default_score_fields(sub):
        values = numeric_values(sub, fld)
        finite = np.isfinite(values)
        thr = limits.get(fld)
        data = values[finite]
        lo = float(min(data.min(), thr if thr is not None else np.inf)) if data.size else 0.0
        hi = float(max(data.max(), thr if thr is not None else -np.inf)) if data.size else 10.0
        if hi - lo < 1e-9:
            lo, hi = lo - 0.5, hi + 0.5
        edges = np.linspace(lo, hi, bins + 1)
        fig = _figure(7.0, 4.2)
        ax = fig.add_subplot()
        series = [(g, labels == g) for g in order] if labels is not None else []
        if not series:
            series = [(ALL_GROUP, np.ones(len(sub), dtype=bool))]
        for k, (g, rows) in enumerate(series):
            v = values[rows & finite]
            missing = int((rows & ~finite).sum())
            label = f"{g} (n={v.size}"
            if thr is not None:
                label += f", <{format_number(thr)}: {int((v < thr).sum())}"
            label += f", missing {missing})"
            ax.hist(
                v, bins=list(edges), histtype="step", linewidth=1.6, color=_color(g, k), label=label
            )
        if thr is not None:
            ax.axvline(thr, color="black", linestyle="--", linewidth=1.2)
            ax.annotate(
                f"threshold {format_number(thr)}",
                xy=(thr, 1.0),
                xycoords=("data", "axes fraction"),
                xytext=(4, -12),
                textcoords="offset points",
                fontsize=9,
            )
        ax.set_xlabel(fld)
        ax.set_ylabel("samples")
        ax.set_title(f"{fld} ({population} ids, {int(finite.sum())} scored)")
        ax.legend(fontsize=8, loc="upper left")
        out.append(_save(fig, Path(out_dir) / f"hist_{fld}.png"))
    return tuple(out)


def plot_funnel(funnel: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Draw a :func:`~sparkle_data.filters.funnel.funnel_table` as ``path`` (PNG).

    Left: the ``all`` funnel, ids left after each stage. Right: the share each stage removes
    in sequence, per group.
    """
    group_col = str(funnel.columns[0])
    stages = list(dict.fromkeys(funnel["stage"]))
    total = funnel[funnel[group_col] == ALL_GROUP]
    groups = [g for g in _group_order([str(g) for g in funnel[group_col]]) if g != ALL_GROUP]
    fig = _figure(12.0, 4.6)
    left, right = fig.subplots(1, 2, width_ratios=(1.0, 1.3))
    if len(total):
        counts = [int(total["entered"].iloc[0]), *(int(k) for k in total["kept"])]
        names = ["entered", *(f"after {s}" for s in stages)]
        y = np.arange(len(counts))[::-1]
        left.barh(y, counts, color="#4c72b0")
        for yi, c in zip(y, counts, strict=True):
            share = c / counts[0] if counts[0] else 0.0
            left.annotate(
                f"{c} ({share:.0%})",
                xy=(c, yi),
                xytext=(3, 0),
                textcoords="offset points",
                va="center",
                fontsize=9,
            )
        left.set_yticks(y, names, fontsize=8)
        left.set_xlim(0, max(counts) * 1.3 if max(counts) else 1)
        left.set_xlabel("ids")
        left.set_title("ids left after each stage (all edit types)")
    width = 0.8 / max(1, len(groups))
    x = np.arange(len(stages))
    for k, g in enumerate(groups):
        rows = funnel[funnel[group_col] == g].set_index("stage").reindex(stages)
        shares = rows["share_removed_in_sequence"].to_numpy(dtype=float) * 100
        right.bar(
            x + (k - (len(groups) - 1) / 2) * width, shares, width, color=_color(g, k), label=g
        )
    right.set_xticks(
        x, [s.replace("edited_", "").replace("_score", "") for s in stages], fontsize=8
    )
    right.set_ylabel("% of ids reaching the stage")
    right.set_title("removed at each stage, in sequence")
    if groups:
        right.legend(fontsize=8)
    return _save(fig, Path(path))
