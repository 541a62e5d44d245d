"""``regen calibrate-canny``: measure the Canny settings against released canny videos.

For samples holding all four of ``source_video``, ``source_video_mask``,
``edited_background_video`` and ``edited_video_canny`` (e.g. the 100 preview samples of each
edit type), every setting of a grid is run on a few evenly spaced frames and compared with
the released edges (the canny video's grey level >= 128). The measure is **edge F1 with a
one-pixel tolerance** (a predicted edge pixel counts as right when a reference edge lies in
its 3x3 neighbourhood, and the other way round for recall; H.264 moves thin edges by a pixel),
pooled over all frames; the pixel-exact IoU is reported beside it.
"""

from __future__ import annotations

import dataclasses
import itertools
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import numpy.typing as npt
from tqdm import tqdm

from sparkle_data.catalog import Catalog
from sparkle_data.readers.mask import read_mask
from sparkle_data.readers.video import probe_video, read_video
from sparkle_data.regen.canny import edge_map
from sparkle_data.regen.config import CannyConfig

__all__ = [
    "CANNY_INPUTS",
    "DEFAULT_GRID",
    "CalibrationResult",
    "EdgeCounts",
    "calibrate_canny",
    "edge_counts",
    "reference_edges",
]

CANNY_INPUTS: Final = (
    "source_video",
    "source_video_mask",
    "edited_background_video",
    "edited_video_canny",
)
DEFAULT_GRID: Final[dict[str, tuple[Any, ...]]] = {
    "blur": (0, 3, 5),
    "low": (50, 100, 150),
    "high": (150, 200, 300),
    "dilate": (0, 3),
}


@dataclass(frozen=True, slots=True)
class EdgeCounts:
    """Pooled agreement counts between predicted and reference edges."""

    pred_hit: int = 0
    """Predicted edge pixels with a reference edge within the tolerance."""
    pred: int = 0
    ref_hit: int = 0
    """Reference edge pixels with a predicted edge within the tolerance."""
    ref: int = 0
    inter: int = 0
    union: int = 0

    def __add__(self, o: EdgeCounts) -> EdgeCounts:
        return EdgeCounts(*(a + b for a, b in zip(dataclasses.astuple(self),
                                                   dataclasses.astuple(o), strict=True)))

    @property
    def precision(self) -> float:
        return self.pred_hit / self.pred if self.pred else 1.0

    @property
    def recall(self) -> float:
        return self.ref_hit / self.ref if self.ref else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def iou(self) -> float:
        return self.inter / self.union if self.union else 1.0


def _grow(edges: npt.NDArray[np.bool_], tolerance: int) -> npt.NDArray[np.bool_]:
    if tolerance <= 0:
        return edges
    import cv2

    k = np.ones((2 * tolerance + 1, 2 * tolerance + 1), dtype=np.uint8)
    out: npt.NDArray[np.bool_] = cv2.dilate(edges.astype(np.uint8), k) > 0
    return out


def edge_counts(
    pred: npt.NDArray[np.bool_], ref: npt.NDArray[np.bool_], *, tolerance: int = 1
) -> EdgeCounts:
    """Agreement of two ``(H, W)`` edge maps (see the module docstring)."""
    if pred.shape != ref.shape:
        raise ValueError(f"Invalid edge maps {pred.shape} vs {ref.shape}: shapes differ.")
    return EdgeCounts(
        pred_hit=int((pred & _grow(ref, tolerance)).sum()),
        pred=int(pred.sum()),
        ref_hit=int((ref & _grow(pred, tolerance)).sum()),
        ref=int(ref.sum()),
        inter=int((pred & ref).sum()),
        union=int((pred | ref).sum()),
    )


def reference_edges(canny_rgb: npt.NDArray[np.uint8]) -> npt.NDArray[np.bool_]:
    """Edges of a decoded canny frame (or frames): mean grey level >= 128."""
    out: npt.NDArray[np.bool_] = canny_rgb.mean(axis=-1) >= 128
    return out


@dataclass(frozen=True)
class CalibrationResult:
    rows: list[dict[str, Any]]
    """One row per setting, best F1 first: the grid values, f1, precision, recall, iou."""
    samples: list[str]
    skipped: dict[str, str] = field(default_factory=dict)
    frames: int = 0
    tolerance: int = 1

    def __repr__(self) -> str:
        return f"CalibrationResult({len(self.rows)} settings, {len(self.samples)} samples)"

    @property
    def best(self) -> dict[str, Any]:
        return self.rows[0]

    def to_dict(self) -> dict[str, Any]:
        return {
            "measure": f"edge F1, {self.tolerance}-pixel tolerance, pooled over frames",
            "samples": self.samples,
            "frames": self.frames,
            "skipped": self.skipped,
            "settings": self.rows,
        }

    def format(self, top: int = 10) -> str:
        lines = [
            f"calibrate-canny: {len(self.samples)} samples, {self.frames} frames, "
            f"{len(self.rows)} settings (edge F1 with {self.tolerance}-px tolerance)"
        ]
        keys = [k for k in self.rows[0] if k not in ("f1", "precision", "recall", "iou")]
        for r in self.rows[:top]:
            setting = " ".join(f"{k}={r[k]}" for k in keys)
            lines.append(
                f"  F1 {r['f1']:.4f}  P {r['precision']:.4f}  R {r['recall']:.4f}  "
                f"IoU {r['iou']:.4f}  {setting}"
            )
        if self.skipped:
            lines.append(f"  skipped {len(self.skipped)} samples (see --json)")
        return "\n".join(lines)


def _settings(base: CannyConfig, grid: Mapping[str, Sequence[Any]]) -> list[CannyConfig]:
    names = list(grid)
    out = []
    for values in itertools.product(*(grid[n] for n in names)):
        try:
            out.append(dataclasses.replace(base, **dict(zip(names, values, strict=True))))
        except ValueError:
            continue  # e.g. low > high
    if not out:
        raise ValueError(f"Invalid grid {dict(grid)!r}: no valid CannyConfig in it.")
    return out


def _eligible(catalog: Catalog, ids: Sequence[str] | None) -> list[str]:
    t = catalog.table
    ok = t["in_corpus"].to_numpy(copy=True).astype(bool)
    for a in CANNY_INPUTS:
        ok &= (t[f"{a}_file"].notna() | t[f"{a}_shard"].notna()).to_numpy()
    found = [str(i) for i in t.index[ok]]
    if ids is not None:
        wanted = set(ids)
        found = [i for i in found if i in wanted]
    return sorted(found)


def calibrate_canny(
    catalog: Catalog,
    *,
    ids: Sequence[str] | None = None,
    grid: Mapping[str, Sequence[Any]] | None = None,
    base: CannyConfig | None = None,
    frames_per_sample: int = 8,
    limit: int | None = 20,
    tolerance: int = 1,
    progress: bool = False,
) -> CalibrationResult:
    """Score every setting of ``grid`` (fields of :class:`CannyConfig`) on up to ``limit``
    samples; raises ``ValueError`` when no sample has the four inputs."""
    settings = _settings(base or CannyConfig(), grid or DEFAULT_GRID)
    names = list(grid or DEFAULT_GRID)
    chosen = _eligible(catalog, ids)
    if limit is not None:
        chosen = chosen[:limit]
    if not chosen:
        raise ValueError(
            f"Invalid root {catalog.root!r} for calibrate-canny: no sample has all of "
            f"{', '.join(CANNY_INPUTS)} (the preview samples usually do)."
        )
    totals = [EdgeCounts() for _ in settings]
    used: list[str] = []
    skipped: dict[str, str] = {}
    n_frames = 0
    for sid in tqdm(chosen, desc="calibrate-canny", unit="sample", file=sys.stderr,
                    disable=not progress):
        try:
            src_bytes = catalog.read_bytes(sid, "source_video")
            n = probe_video(src_bytes, sample_id=sid).num_frames
            idx = sorted({round(i * (n - 1) / max(1, frames_per_sample - 1))
                          for i in range(frames_per_sample)})
            src = read_video(src_bytes, indices=idx, sample_id=sid)
            bg = read_video(catalog.read_bytes(sid, "edited_background_video"), indices=idx,
                            sample_id=sid)
            ref = reference_edges(read_video(catalog.read_bytes(sid, "edited_video_canny"),
                                             indices=idx, sample_id=sid))
            mask = read_mask(catalog.read_bytes(sid, "source_video_mask"), frames=idx,
                             sample_id=sid)
        except Exception as e:  # a bad sample is skipped and reported, never fatal
            skipped[sid] = f"{type(e).__name__}: {e}"
            continue
        used.append(sid)
        n_frames += len(idx)
        for k, cfg in enumerate(settings):
            for j in range(len(idx)):
                pred = np.where(mask[j], edge_map(src[j], cfg), edge_map(bg[j], cfg))
                totals[k] = totals[k] + edge_counts(pred, ref[j], tolerance=tolerance)
    if not used:
        raise ValueError(
            f"Invalid root {catalog.root!r} for calibrate-canny: every candidate sample "
            f"failed to decode ({len(skipped)} skipped)."
        )
    rows = []
    for cfg, c in zip(settings, totals, strict=True):
        row: dict[str, Any] = {n: getattr(cfg, n) for n in names}
        row.update(f1=round(c.f1, 6), precision=round(c.precision, 6),
                   recall=round(c.recall, 6), iou=round(c.iou, 6))
        rows.append(row)
    rows.sort(key=lambda r: (-r["f1"], -r["iou"]))
    return CalibrationResult(rows, used, skipped, n_frames, tolerance)
