"""What the pages show about one sample: metadata, status and scores against a preset."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from sparkle_data.catalog.table import SCORE_COLUMNS
from sparkle_data.layout import ARTIFACTS

if TYPE_CHECKING:
    import pandas as pd

    from sparkle_data.filters import ScorePreset

__all__ = ["SCORE_LABELS", "SampleInfo", "ScoreCell", "sample_info", "status_badge"]

SCORE_LABELS: Final[dict[str, str]] = {
    "frame0_prompt_following": "frame 0: prompt following",
    "frame0_consistency": "frame 0: consistency",
    "frame0_perceptual_quality": "frame 0: perceptual quality",
    "frame0_overall": "frame 0: overall",
    "fg_removed_prompt_following": "foreground removed: prompt following",
    "fg_removed_consistency": "foreground removed: consistency",
    "fg_removed_perceptual_quality": "foreground removed: perceptual quality",
    "fg_removed_overall": "foreground removed: overall",
    "video_mean_o_score": "video: mean O",
    "video_min_o_score": "video: min O",
    "video_mean_sc_score": "video: mean SC",
    "video_mean_pq_score": "video: mean PQ",
}


@dataclass(frozen=True, slots=True)
class ScoreCell:
    """One score; ``passed`` is ``None`` for scores the preset does not threshold."""

    column: str
    label: str
    value: float | None
    threshold: float | None
    passed: bool | None

    @property
    def shown(self) -> str:
        return "—" if self.value is None else f"{self.value:.2f}"


@dataclass(frozen=True, slots=True)
class SampleInfo:
    """The displayable facts of one catalog row (strings are raw: templates escape them)."""

    sample_id: str
    edit_type: str
    status: str
    badge: str
    prompt: str | None
    keyword: str | None
    subtheme: str | None
    scene: str | None
    original_scene: str | None
    artifacts: tuple[str, ...]
    scores: tuple[ScoreCell, ...]
    preset: str


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _number(value: Any) -> float | None:
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def status_badge(row: pd.Series[Any]) -> str:
    """``corpus``, ``rejected at {record}`` (the last record holding the id) or the status."""
    status = str(row.get("status"))
    if status == "rejected":
        last = _text(row.get("last_record"))
        return f"rejected at {last}" if last else "rejected"
    return status


def sample_info(table: pd.DataFrame, sample_id: str, preset: ScorePreset) -> SampleInfo:
    """Facts of ``sample_id`` (which must be in ``table``), scores judged by ``preset``."""
    row = table.loc[sample_id]
    thresholds = preset.thresholds
    scores = []
    for col in SCORE_COLUMNS:
        if col not in row.index:
            continue
        value = _number(row.get(col))
        threshold = thresholds.get(col)
        passed = None if threshold is None else (value is not None and value >= threshold)
        scores.append(ScoreCell(col, SCORE_LABELS.get(col, col), value, threshold, passed))
    present = tuple(
        a
        for a in ARTIFACTS
        if isinstance(row.get(f"{a}_file"), str) or isinstance(row.get(f"{a}_shard"), str)
    )
    return SampleInfo(
        sample_id=sample_id,
        edit_type=str(row.get("edit_type")),
        status=str(row.get("status")),
        badge=status_badge(row),
        prompt=_text(row.get("prompt")),
        keyword=_text(row.get("chosen_keyword")),
        subtheme=_text(row.get("subtheme")),
        scene=_text(row.get("scene")),
        original_scene=_text(row.get("original_scene")),
        artifacts=present,
        scores=tuple(scores),
        preset=preset.describe(),
    )
