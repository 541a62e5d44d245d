"""EditScore-shaped scores that pass or fail the card's thresholds on purpose.

Sub-scores are 0-10 with one decimal, as EditScore prints them. The overall score follows the
VIEScore rule EditScore builds on: ``sqrt(min(SC sub-scores) * PQ)``. For the image records the
SC sub-scores are ``prompt_following`` and ``consistency``; for the video records
``SC_score = min(SC score array)`` and ``PQ_score = min(PQ score array)`` of the raw outputs,
and ``O_score = sqrt(SC_score * PQ_score)``.
"""

from __future__ import annotations

import json
import math
from typing import Any, Final

import numpy as np

from sparkle_data.testing.synth.text import make_pq_reasoning, make_sc_reasoning

__all__ = [
    "VIDEO_SCORE_FRAMES",
    "make_image_editscore",
    "make_video_editscore",
    "video_score_frames",
]

VIDEO_SCORE_FRAMES: Final = 4
_MAX_TRIES: Final = 10_000


def _sub(rng: np.random.Generator, good: bool) -> float:
    """A sub-score: 7.8-10 for good edits, 5.5-9 for bad ones."""
    lo, hi = (78, 100) if good else (55, 90)
    return int(rng.integers(lo, hi + 1)) / 10


def make_image_editscore(
    rng: np.random.Generator, scene: str, *, threshold: float, passed: bool
) -> dict[str, Any]:
    """An ``editscore`` object whose ``overall`` is ``>= threshold`` iff ``passed``."""
    for _ in range(_MAX_TRIES):
        pf, cons, pq = _sub(rng, passed), _sub(rng, passed), _sub(rng, passed)
        overall = math.sqrt(min(pf, cons) * pq)
        if (overall >= threshold) == passed:
            break
    else:  # pragma: no cover - the ranges above make this unreachable
        raise RuntimeError("could not draw a score on the requested side of the threshold")
    return {
        "prompt_following": pf,
        "consistency": cons,
        "perceptual_quality": pq,
        "overall": overall,
        "SC_reasoning": make_sc_reasoning(rng, scene, good=min(pf, cons) >= threshold),
        "PQ_reasoning": make_pq_reasoning(rng, good=pq >= threshold),
    }


def video_score_frames(n_frames: int) -> list[int]:
    """Four uniformly spaced non-first frames: ``[1, 26, 51, 76]`` for 81 frames."""
    step = (n_frames - 1) * 5 // 16
    return [1 + k * step for k in range(VIDEO_SCORE_FRAMES)]


def _frame_score(rng: np.random.Generator, scene: str, good: bool) -> dict[str, Any]:
    sc = [_sub(rng, good), _sub(rng, good)]
    pq = [_sub(rng, good), _sub(rng, good)]
    sc_score, pq_score = min(sc), min(pq)
    sc_reason = make_sc_reasoning(rng, scene, good=sc_score >= 8)
    pq_reason = make_pq_reasoning(rng, good=pq_score >= 8)
    return {
        "SC_score": sc_score,
        "PQ_score": pq_score,
        "O_score": math.sqrt(sc_score * pq_score),
        "SC_score_reasoning": sc_reason,
        "PQ_score_reasoning": pq_reason,
        "SC_raw_output": json.dumps({"reasoning": sc_reason, "score": sc}),
        "PQ_raw_output": json.dumps({"reasoning": pq_reason, "score": pq}),
    }


def make_video_editscore(
    rng: np.random.Generator, scene: str, *, threshold: float, passed: bool
) -> list[dict[str, Any]]:
    """Four per-frame scores whose mean ``O_score`` is ``>= threshold`` iff ``passed``."""
    for _ in range(_MAX_TRIES):
        frames = [_frame_score(rng, scene, passed) for _ in range(VIDEO_SCORE_FRAMES)]
        mean = sum(f["O_score"] for f in frames) / VIDEO_SCORE_FRAMES
        if (mean >= threshold) == passed:
            return frames
    raise RuntimeError(  # pragma: no cover - the ranges above make this unreachable
        "could not draw a score on the requested side of the threshold"
    )
