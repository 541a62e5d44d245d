"""Summaries of a catalog: counts, artifact coverage, score statistics (``sparkle-data info``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from sparkle_data.catalog.model import Catalog
from sparkle_data.catalog.table import PIPELINE_ORDER
from sparkle_data.layout import ARTIFACTS

__all__ = ["PAPER_THRESHOLDS", "format_summary", "summarize_catalog"]

PAPER_THRESHOLDS: dict[str, float] = {
    "frame0_overall": 8.0,
    "fg_removed_overall": 8.5,
    "video_mean_o_score": 8.0,
}
"""The paper's filters: a sample is dropped when the score is below the threshold."""


def _stats(values: Any, threshold: float | None) -> dict[str, Any]:
    arr = np.asarray(values, dtype=np.float64)
    finite = arr[np.isfinite(arr)]
    out: dict[str, Any] = {
        "count": int(arr.size),
        "missing_or_non_finite": int(arr.size - finite.size),
    }
    if finite.size:
        out.update(
            mean=round(float(finite.mean()), 4),
            min=round(float(finite.min()), 4),
            median=round(float(np.median(finite)), 4),
            max=round(float(finite.max()), 4),
        )
    if threshold is not None:
        out["threshold"] = threshold
        out["below_threshold"] = int((finite < threshold).sum())
    return out


def summarize_catalog(catalog: Catalog) -> dict[str, Any]:
    """A JSON-ready summary: per edit type counts, coverage per artifact, score statistics."""
    t = catalog.table
    per_type: dict[str, Any] = {}
    for et in catalog.inventory.edit_types:
        rows = t[t["edit_type"] == et]
        corpus = rows[rows["in_corpus"]]
        rejected = rows[rows["status"] == "rejected"]
        coverage = {}
        for artifact in ARTIFACTS:
            loose = corpus[f"{artifact}_file"].notna()
            shard = corpus[f"{artifact}_shard"].notna()
            coverage[artifact] = {
                "available": int((loose | shard).sum()),
                "in_shards": int(shard.sum()),
                "loose": int(loose.sum()),
                "shards": len(catalog.inventory.shards_of(et, artifact)),
            }
        scores = {
            col: _stats(rows.get(col, []), None) | {"corpus": _stats(corpus.get(col, []), thr)}
            for col, thr in PAPER_THRESHOLDS.items()
        }
        per_type[et] = {
            "corpus": len(corpus),
            "with_metadata": int(corpus["has_metadata"].sum()),
            "rejected": len(rejected),
            "rejected_after": {
                rec: int((rejected["last_record"] == rec).sum()) for rec in PIPELINE_ORDER
            },
            "orphans": int((rows["status"] == "orphan").sum()),
            "coverage": coverage,
            "scores": scores,
            "grounding_labels_mean": _column_mean(corpus, "grounding_num_labels", 3),
            "empty_box_share_mean": _column_mean(corpus, "grounding_empty_box_share", 4),
            "max_box_area_mean": _column_mean(corpus, "grounding_max_box_area", 4),
        }
    return {
        "root": catalog.root,
        "edit_types": per_type,
        "shards": len(catalog.indexes),
        "shard_bytes": int(sum(ix.shard_size for ix in catalog.indexes.values())),
        "missing": catalog.missing(),
        "skipped": catalog.report.to_dict(),
    }


def _column_mean(table: Any, column: str, digits: int) -> float | None:
    """Mean of a catalog column over the rows that have a value (``None`` if none has)."""
    if column not in table or not table[column].notna().any():
        return None
    return round(float(table[column].mean()), digits)


def format_summary(summary: dict[str, Any]) -> str:
    """Human-readable tables of :func:`summarize_catalog`'s result."""
    ets = list(summary["edit_types"])
    info = summary["edit_types"]
    w = max(10, *(len(e) for e in ets))
    lines = [f"Sparkle root {summary['root']}", ""]
    head = (
        f"  {'edit_type':<{w}} {'corpus':>7} {'metadata':>8} {'rejected':>8}"
        "  rejected after f0/r1/fg/r2/video"
    )
    lines.append(head)
    for et in ets:
        d = info[et]
        stages = "/".join(str(d["rejected_after"][r]) for r in PIPELINE_ORDER)
        lines.append(
            f"  {et:<{w}} {d['corpus']:>7} {d['with_metadata']:>8} {d['rejected']:>8}  {stages}"
        )
    lines += ["", "  artifact coverage of corpus samples (available/corpus, shards)"]
    aw = max(len(a) for a in ARTIFACTS)
    lines.append(f"  {'artifact':<{aw}} " + " ".join(f"{et:>14}" for et in ets))
    for artifact in ARTIFACTS:
        cells = []
        for et in ets:
            c = info[et]["coverage"][artifact]
            cells.append(f"{c['available']}/{info[et]['corpus']} ({c['shards']})".rjust(14))
        lines.append(f"  {artifact:<{aw}} " + " ".join(cells))
    lines += ["", "  scores of corpus samples: mean [min, max], below the paper's threshold"]
    for col, thr in PAPER_THRESHOLDS.items():
        cells = []
        for et in ets:
            s = info[et]["scores"][col]["corpus"]
            if "mean" in s:
                cells.append(
                    f"{s['mean']:.2f} [{s['min']:.1f},{s['max']:.1f}] "
                    f"<{thr}: {s['below_threshold']}"
                )
            else:
                cells.append("-")
        lines.append(f"  {col:<{aw}} " + " | ".join(cells))
    gib = summary["shard_bytes"] / 2**30
    lines += ["", f"  {summary['shards']} shards indexed, {gib:.2f} GiB"]
    if summary["missing"]:
        lines.append(f"  missing pieces ({len(summary['missing'])}):")
        lines += [f"    {m}" for m in summary["missing"][:20]]
        if len(summary["missing"]) > 20:
            lines.append("    ...")
    if summary["skipped"]["total"]:
        lines.append(f"  skipped while reading: {summary['skipped']['counts']}")
    return "\n".join(lines)
