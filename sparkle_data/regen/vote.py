"""BAIT vote: the pixel-wise majority over several tracking passes.

Stage 4 tracks the foreground once per anchor frame (the 2-FPS grounding frames that located
at least one label), forward and backward from it, and keeps a pixel when most passes that
cover its frame mark it. Each pass is a ``(T, H, W)`` bool mask; ``coverage`` (``(P, T)``
bool) says which frames each pass reached (a forward-only pass from frame 40 covers 40..T-1);
by default every pass covers every frame. Ties follow :class:`VoteConfig.tie`; a frame no
pass covers is background. The result is packed exactly as the card's masks
(:func:`sparkle_data.readers.mask.encode_mask_npz`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from sparkle_data.readers.mask import encode_mask_npz
from sparkle_data.regen.config import VoteConfig

__all__ = ["pass_coverage", "vote_mask_npz", "vote_masks"]


def pass_coverage(
    anchors: Sequence[int], n_frames: int, directions: Sequence[str] = ("both",)
) -> npt.NDArray[np.bool_]:
    """``(P, T)`` coverage of passes from ``anchors``: for each anchor, one pass per
    direction in ``directions`` (``"forward"``: anchor..T-1, ``"backward"``: 0..anchor,
    ``"both"``: every frame), in anchor-major order."""
    rows = []
    for a in anchors:
        if not 0 <= a < n_frames:
            raise ValueError(f"Invalid anchor {a!r}: must be in [0, {n_frames}).")
        for d in directions:
            row = np.zeros(n_frames, dtype=np.bool_)
            if d == "forward":
                row[a:] = True
            elif d == "backward":
                row[: a + 1] = True
            elif d == "both":
                row[:] = True
            else:
                raise ValueError(
                    f"Invalid direction {d!r}: must be 'forward', 'backward' or 'both'."
                )
            rows.append(row)
    return np.stack(rows) if rows else np.zeros((0, n_frames), dtype=np.bool_)


def vote_masks(
    passes: npt.NDArray[np.bool_] | Sequence[npt.NDArray[np.bool_]],
    coverage: npt.NDArray[np.bool_] | None = None,
    config: VoteConfig | None = None,
) -> npt.NDArray[np.bool_]:
    """Majority vote of ``P`` passes ``(P, T, H, W)`` into one ``(T, H, W)`` bool mask.

    A pixel is foreground when its votes ``v`` among the ``n`` passes covering its frame
    satisfy ``2 v > n``, or ``2 v == n > 0`` with ``tie="foreground"``.
    """
    cfg = config or VoteConfig()
    stack = np.asarray(passes)
    if stack.ndim != 4 or stack.dtype != np.bool_ or stack.shape[0] == 0:
        raise ValueError(
            f"Invalid passes {stack.dtype}{stack.shape}: must be bool (P, T, H, W) with P >= 1."
        )
    p, t = stack.shape[:2]
    cov = np.ones((p, t), dtype=np.bool_) if coverage is None else np.asarray(coverage)
    if cov.shape != (p, t) or cov.dtype != np.bool_:
        raise ValueError(f"Invalid coverage {cov.dtype}{cov.shape}: must be bool ({p}, {t}).")
    votes = np.zeros(stack.shape[1:], dtype=np.int32)
    for k in range(p):
        votes += stack[k] & cov[k][:, None, None]
    n = cov.sum(axis=0).astype(np.int32)[:, None, None]
    twice = 2 * votes
    out: npt.NDArray[np.bool_] = (twice > n) | ((twice == n) & (n > 0)) if cfg.tie == (
        "foreground"
    ) else twice > n
    return out


def vote_mask_npz(
    passes: npt.NDArray[np.bool_] | Sequence[npt.NDArray[np.bool_]],
    coverage: npt.NDArray[np.bool_] | None = None,
    config: VoteConfig | None = None,
) -> bytes:
    """:func:`vote_masks`, packed as the card's ``source_video_mask`` NPZ."""
    return encode_mask_npz(vote_masks(passes, coverage, config))
