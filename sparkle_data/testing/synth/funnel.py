"""The pipeline funnel: which candidate ids reach which stage, and which survive.

Candidate ids of an edit type are consecutive indices ``0, 1, 2, ...``. Each one either

* is a *gap*: dropped before any score was recorded, so it appears in no file;
* fails one of the three score thresholds (the card's, in pipeline order)::

      edited_frame0_score                     overall < 8     (Stage 2)
      edited_frame0_foreground_removed_score  overall < 8.5   (Stage 3)
      edited_video_score                      mean O_score < 8 (Stage 5)

  and stops there: it has lines in the record files of the stages it reached and nowhere else;
* or survives every stage and is a *corpus* sample (CSV, metadata, shards, intermediates).

The numbers of rejections are fixed from the fail rates below (at least one per stage), then
shuffled; candidate 0 is always a corpus sample (the card's ``Sparkle_{t}_000000``). Corpus ids
are therefore non-contiguous and the record files hold ids absent from the corpus.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal, get_args

import numpy as np

from sparkle_data.layout import RECORD_FILES, RecordName, format_sample_id, parse_edit_type

__all__ = [
    "FAIL_RATES",
    "GAP_RATE",
    "RECORD_STAGE",
    "STAGES",
    "THRESHOLDS",
    "Candidate",
    "Stage",
    "plan_funnel",
]

Stage = Literal[
    "edited_frame0_score",
    "edited_frame0_foreground_removed_score",
    "edited_video_score",
]
STAGES: Final[tuple[Stage, ...]] = get_args(Stage)
"""The three filtering stages, in pipeline order."""

THRESHOLDS: Final[dict[Stage, float]] = {
    "edited_frame0_score": 8.0,
    "edited_frame0_foreground_removed_score": 8.5,
    "edited_video_score": 8.0,
}
"""A sample passes a stage when its (mean) overall score is ``>=`` the threshold."""

FAIL_RATES: Final[dict[Stage, float]] = {
    "edited_frame0_score": 0.15,
    "edited_frame0_foreground_removed_score": 0.12,
    "edited_video_score": 0.20,
}
"""Share of the samples *reaching* a stage that fail it."""

GAP_RATE: Final = 0.06
"""Share of candidate ids that appear in no file at all."""

RECORD_STAGE: Final[dict[RecordName, Stage]] = {
    "edited_frame0_score": "edited_frame0_score",
    "foreground_grounding_r1": "edited_frame0_foreground_removed_score",
    "edited_frame0_foreground_removed_score": "edited_frame0_foreground_removed_score",
    "foreground_grounding_r2": "edited_video_score",
    "edited_video_score": "edited_video_score",
}
"""Each record file holds a line for every id that reached this stage (grounding round 1
feeds foreground removal, round 2 feeds the video stage)."""


@dataclass(frozen=True, slots=True)
class Candidate:
    """One candidate id and how far it got."""

    sample_id: str
    index: int
    rejected_at: Stage | None
    """The stage whose threshold it failed; ``None`` for corpus samples and gaps."""
    gap: bool = False

    @property
    def in_corpus(self) -> bool:
        return not self.gap and self.rejected_at is None

    @property
    def stages_reached(self) -> tuple[Stage, ...]:
        if self.gap:
            return ()
        if self.rejected_at is None:
            return STAGES
        return STAGES[: STAGES.index(self.rejected_at) + 1]

    @property
    def records(self) -> tuple[RecordName, ...]:
        """The record files that hold a line for this id."""
        return tuple(r for r in RECORD_FILES if RECORD_STAGE[r] in self.stages_reached)

    def passes(self, stage: Stage) -> bool:
        """Whether its score at ``stage`` must pass (it reached the stage and went on)."""
        return stage in self.stages_reached and stage != self.rejected_at


def _round_half_up(x: float) -> int:
    return int(x + 0.5)


def plan_funnel(edit_type: str, samples: int, rng: np.random.Generator) -> tuple[Candidate, ...]:
    """Plan the candidates of one edit type so that exactly ``samples`` survive."""
    et = parse_edit_type(edit_type)
    if samples < 1:
        raise ValueError(f"Invalid samples {samples!r}: must be >= 1.")
    outcomes: list[Stage | None] = []
    reaching = samples
    for stage in reversed(STAGES):
        rate = FAIL_RATES[stage]
        failed = max(1, _round_half_up(reaching * rate / (1 - rate)))
        outcomes += [stage] * failed
        reaching += failed
    gaps = _round_half_up(reaching * GAP_RATE / (1 - GAP_RATE))
    fates: list[tuple[Stage | None, bool]] = [(None, False)] * (samples - 1)
    fates += [(o, False) for o in outcomes] + [(None, True)] * gaps
    order = rng.permutation(len(fates))
    shuffled = [(None, False)] + [fates[int(i)] for i in order]
    return tuple(
        Candidate(format_sample_id(et, i), i, rejected_at, gap)
        for i, (rejected_at, gap) in enumerate(shuffled)
    )
