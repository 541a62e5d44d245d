"""Independent, reproducible random streams: one per (seed, edit type, sample, purpose).

Every random choice about a sample comes from its own stream, so a sample's prompt, pixels and
scores never depend on how many other samples are built, on the shard size or on previews.
"""

from __future__ import annotations

from typing import Final, Literal

import numpy as np

from sparkle_data.layout import EDIT_TYPES, parse_edit_type

__all__ = ["Purpose", "make_rng"]

Purpose = Literal["funnel", "text", "scene", "scores", "grounding"]
_PURPOSE_CODE: Final[dict[Purpose, int]] = {
    "funnel": 0,
    "text": 1,
    "scene": 2,
    "scores": 3,
    "grounding": 4,
}


def make_rng(seed: int, edit_type: str, index: int, purpose: Purpose) -> np.random.Generator:
    """The random stream for one purpose of one sample (``index=-1``: the edit type itself)."""
    et = EDIT_TYPES.index(parse_edit_type(edit_type))
    return np.random.default_rng([seed, et, index + 1, _PURPOSE_CODE[purpose]])
