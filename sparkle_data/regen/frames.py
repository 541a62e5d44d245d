"""Which frames a stage looks at, and boxes between ``[0, 1000]`` and pixels.

* :func:`video_score_frames`: the 4 non-first frames Stage 5's EditScore rates
  (``[1, 26, 51, 76]`` for 81 frames, as the records hold). For shorter clips the released
  spacing (25 frames per 80) is scaled: ``step = (T - 1) * 5 // 16``, frames
  ``1 + k * step`` (69 -> ``[1, 22, 43, 64]``, 73 -> ``[1, 23, 45, 67]``).
* :func:`anchor_frames`: the 2-FPS frames of grounding round 2 (``0, 8, ..., 80`` for 81
  frames at 16 fps), through :func:`~sparkle_data.readers.grounding.grounding_frame_indices`.
* :func:`box_to_pixels` is the card's ``normalize_bbox``; :func:`box_to_1000` its inverse to
  within the card's truncation (``box_to_pixels(box_to_1000(b)) == b`` when the side is at most
  1000 px, within one pixel above).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction
from typing import Final

from sparkle_data.layout import BBOX_SCALE, FPS, GROUNDING_FPS, MAX_FRAMES
from sparkle_data.readers.grounding import grounding_frame_indices, normalize_bbox

__all__ = [
    "VIDEO_SCORE_FRAMES",
    "anchor_frames",
    "box_to_1000",
    "box_to_pixels",
    "video_score_frames",
]

VIDEO_SCORE_FRAMES: Final = 4


def video_score_frames(n_frames: int) -> list[int]:
    """The 4 frames Stage 5 scores in a ``n_frames`` clip (see the module docstring)."""
    if isinstance(n_frames, bool) or not isinstance(n_frames, int):
        raise ValueError(f"Invalid n_frames {n_frames!r}: must be an int.")
    if not 17 <= n_frames <= MAX_FRAMES:
        raise ValueError(f"Invalid n_frames {n_frames}: must be in [17, {MAX_FRAMES}].")
    step = (n_frames - 1) * 5 // 16
    return [1 + k * step for k in range(VIDEO_SCORE_FRAMES)]


def anchor_frames(
    n_frames: int, *, fps: int = FPS, grounding_fps: int = GROUNDING_FPS
) -> list[int]:
    """Video frames sampled at ``grounding_fps`` (the anchors of the BAIT passes)."""
    if isinstance(n_frames, bool) or not isinstance(n_frames, int) or n_frames < 1:
        raise ValueError(f"Invalid n_frames {n_frames!r}: must be an int >= 1.")
    count = math.ceil(Fraction(n_frames) / (Fraction(fps) / Fraction(grounding_fps)))
    return grounding_frame_indices(
        count, video_fps=fps, grounding_fps=grounding_fps, num_video_frames=n_frames
    )


def box_to_pixels(box: Sequence[float], width: int, height: int) -> tuple[int, int, int, int]:
    """``[0, 1000]`` box to pixel ``(x1, y1, x2, y2)`` (the card's ``normalize_bbox``)."""
    return normalize_bbox(box, width, height)


def box_to_1000(box: Sequence[int], width: int, height: int) -> list[int]:
    """Pixel box to ``[0, 1000]`` integers that :func:`box_to_pixels` maps back to it."""
    if len(box) != 4:
        raise ValueError(f"Invalid box {list(box)!r}: must have 4 coordinates.")
    sizes = (width, height, width, height)
    out = []
    for v, size in zip(box, sizes, strict=True):
        if not 0 <= v < size:
            raise ValueError(f"Invalid box {list(box)!r}: coordinates must be in [0, size).")
        # The smallest integer u with int(u / 1000 * size) >= v; one more step if the
        # truncation undershoots (sides above 1000 px skip some pixels).
        u = math.ceil(Fraction(v * BBOX_SCALE, size))
        while u < BBOX_SCALE and int(u / float(BBOX_SCALE) * size) < v:
            u += 1  # float rounding in the card's formula
        out.append(min(BBOX_SCALE, u))
    return out
