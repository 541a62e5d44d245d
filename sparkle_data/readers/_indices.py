"""Frame-index arguments of the frame readers (package-private): one check for videos and masks."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

__all__ = ["frame_indices"]


def frame_indices(
    frames: Sequence[int] | npt.NDArray[np.integer],
    num_frames: int,
    *,
    kind: str,
    label: str,
    accepted: str = "a 1-D sequence of ints",
) -> npt.NDArray[np.intp]:
    """``frames`` as non-negative indices into a ``kind`` of ``num_frames`` frames.

    Negative indices count from the end; order and repeats are kept. Raises ``TypeError``
    (``Invalid {label}: must be {accepted} ...``) for anything but a 1-D integer sequence and
    ``IndexError`` for an index outside ``-num_frames..num_frames - 1``.
    """
    arr = np.asarray(frames)
    if arr.size == 0:
        return np.zeros(0, dtype=np.intp)
    if arr.ndim != 1 or arr.dtype.kind not in "iu":
        raise TypeError(
            f"Invalid {label}: must be {accepted} (got dtype {arr.dtype}, shape {arr.shape})."
        )
    n = num_frames
    bad = arr[(arr < -n) | (arr >= n)]
    if bad.size:
        raise IndexError(
            f"Invalid frame index {int(bad[0])}: out of range for a {kind} of {n} frames "
            f"(valid: 0..{n - 1}, or -{n}..-1 from the end)."
        )
    return np.where(arr < 0, arr + n, arr).astype(np.intp)
