"""One PNG per dimension (and overall): grouped bars, one group per theme plus MACRO, one bar
per run. Drawn on :class:`matplotlib.figure.Figure` (no pyplot, no display) and written
atomically."""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path

from sparkle_data.io.atomic import atomic_write_bytes
from sparkle_data.sparkle_bench.aggregate import RunScores
from sparkle_data.sparkle_bench.rubric import DIMENSION_KEYS, DIMENSION_LABELS
from sparkle_data.sparkle_bench.table import comparison_rows

__all__ = ["plot_runs"]


def plot_runs(
    runs: Sequence[RunScores], out_dir: str | os.PathLike[str], *, allow_missing: bool = False
) -> list[Path]:
    """Write ``overall.png`` and ``{dimension_key}.png`` into ``out_dir``; returns the paths.

    A refused macro row or a missing theme is drawn as no bar (and named in the legend note).
    """
    from matplotlib.figure import Figure

    rows = comparison_rows(runs, allow_missing=allow_missing)
    groups = list(dict.fromkeys(r.theme for r in rows))
    names = [r.name for r in runs]
    value = {(r.theme, r.run): r for r in rows}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    panels = [("overall", "Overall", -1), *((k, lab, i) for i, (k, lab) in
              enumerate(zip(DIMENSION_KEYS, DIMENSION_LABELS, strict=True)))]
    width = 0.8 / max(1, len(names))
    for key, label, idx in panels:
        fig = Figure(figsize=(max(6.0, 1.2 * len(groups) * max(1, len(names)) / 2 + 3), 4.0))
        ax = fig.add_subplot()
        for j, run in enumerate(names):
            xs: list[float] = []
            ys: list[float] = []
            for g, theme in enumerate(groups):
                row = value.get((theme, run))
                if row is None or row.means is None or row.overall is None:
                    continue
                xs.append(g + (j - (len(names) - 1) / 2) * width)
                ys.append(row.overall if idx < 0 else row.means[idx])
            bars = ax.bar(xs, ys, width=width, label=run)
            ax.bar_label(bars, fmt="%.2f", fontsize=7)
        ax.set_xticks(range(len(groups)), groups)
        ax.set_ylim(0, 5.4)
        ax.set_ylabel("score (1-5)")
        ax.set_title(f"Sparkle-Bench: {label}")
        ax.legend(fontsize=8, loc="lower right")
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=100)
        path = out / f"{key}.png"
        atomic_write_bytes(path, buf.getvalue())
        written.append(path)
    return written
