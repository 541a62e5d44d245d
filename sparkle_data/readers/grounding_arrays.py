"""Grounding boxes as training arrays: :func:`boxes_array` (pixels, ``(F, L, 4)``) and the
video frame of each grounding frame (:func:`grounding_frame_indices`). Also importable from
:mod:`sparkle_data.readers.grounding`."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import numpy.typing as npt

from sparkle_data.errors import CorruptRecordError
from sparkle_data.layout import FPS, GROUNDING_FPS
from sparkle_data.readers.boxes import normalize_bbox
from sparkle_data.readers.grounding_records import (
    GroundedObject,
    GroundingR1Record,
    GroundingR2Record,
)

__all__ = ["BoxesArray", "boxes_array", "grounding_frame_indices"]


def grounding_frame_indices(
    num_grounding_frames: int,
    *,
    video_fps: float = FPS,
    grounding_fps: float = GROUNDING_FPS,
    num_video_frames: int | None = None,
) -> list[int]:
    """Video frame index of each grounding frame: ``floor(i * video_fps / grounding_fps)``.

    At the card's 16 fps and 2 FPS that is ``i * 8``: an 81-frame video has 11 grounding
    frames, ``0, 8, ..., 80``. Computed with exact fractions (no float drift at any fps).
    With ``num_video_frames``, a grounding frame past the end of the video raises
    :class:`CorruptRecordError`.
    """
    if isinstance(num_grounding_frames, bool) or not isinstance(num_grounding_frames, int):
        raise ValueError(f"Invalid num_grounding_frames {num_grounding_frames!r}: must be an int.")
    if num_grounding_frames < 0:
        raise ValueError(f"Invalid num_grounding_frames {num_grounding_frames!r}: must be >= 0.")
    for what, fps in (("video_fps", video_fps), ("grounding_fps", grounding_fps)):
        if (
            isinstance(fps, bool)
            or not isinstance(fps, (int, float, Fraction))
            or not math.isfinite(fps)
            or fps <= 0
        ):
            raise ValueError(f"Invalid {what} {fps!r}: must be a positive finite number.")
    step = Fraction(video_fps) / Fraction(grounding_fps)
    indices = [math.floor(i * step) for i in range(num_grounding_frames)]
    if num_video_frames is not None:
        if isinstance(num_video_frames, bool) or not isinstance(num_video_frames, int):
            raise ValueError(f"Invalid num_video_frames {num_video_frames!r}: must be an int.")
        if indices and indices[-1] >= num_video_frames:
            fits = math.ceil(Fraction(num_video_frames) / step)
            raise CorruptRecordError.invalid(
                "grounding frame count",
                num_grounding_frames,
                rule=f"grounding frame {num_grounding_frames - 1} maps to video frame "
                f"{indices[-1]}, past the end of a {num_video_frames}-frame video",
                hint=f"A {num_video_frames}-frame video has {fits} grounding frames at "
                f"{grounding_fps} FPS.",
            )
    return indices


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class BoxesArray:
    """All boxes of one grounding record in pixels, as arrays.

    For a round-2 record: ``boxes`` ``int32 (F, L, 4)`` (``x1, y1, x2, y2``, zeros where not
    localised), ``valid`` ``bool (F, L)``, ``frame_indices`` ``int64 (F,)`` (the video frame of
    each grounding frame). For a round-1 record the frame axis is absent: ``boxes (L, 4)``,
    ``valid (L,)`` and ``frame_indices == [0]`` (the source first frame). ``labels`` has
    length ``L``. Prints shapes, never data.
    """

    boxes: npt.NDArray[np.int32]
    valid: npt.NDArray[np.bool_]
    labels: tuple[str, ...]
    frame_indices: npt.NDArray[np.int64]

    def __post_init__(self) -> None:
        if self.boxes.shape[-1:] != (4,) or self.boxes.shape[:-1] != self.valid.shape:
            raise ValueError(
                f"Invalid BoxesArray shapes: boxes {self.boxes.shape}, valid {self.valid.shape}."
            )
        if self.valid.shape[-1:] != (len(self.labels),):
            raise ValueError(
                f"Invalid BoxesArray: valid {self.valid.shape} vs {len(self.labels)} labels."
            )

    def __repr__(self) -> str:
        return (
            f"BoxesArray(boxes={self.boxes.dtype}{list(self.boxes.shape)}, "
            f"valid={self.valid.dtype}{list(self.valid.shape)}, labels={len(self.labels)}, "
            f"frame_indices={self.frame_indices.dtype}{list(self.frame_indices.shape)})"
        )


def boxes_array(
    record: GroundingR1Record,
    width: int,
    height: int,
    *,
    video_fps: float = FPS,
    grounding_fps: float = GROUNDING_FPS,
    num_video_frames: int | None = None,
) -> BoxesArray:
    """Pixel boxes of a whole record in one call (via :func:`normalize_bbox`).

    A :class:`GroundingR2Record` gives ``(F, L, 4)`` for its ``frame_objects``; a plain
    :class:`GroundingR1Record` gives ``(L, 4)`` for its ``round1_objects``.
    """
    rows: Sequence[Sequence[GroundedObject]]
    if isinstance(record, GroundingR2Record):
        rows = record.frame_objects
        indices = grounding_frame_indices(
            len(rows),
            video_fps=video_fps,
            grounding_fps=grounding_fps,
            num_video_frames=num_video_frames,
        )
    else:
        rows = (record.round1_objects,)
        indices = [0]
    num_labels = len(record.round1_labels)
    boxes = np.zeros((len(rows), num_labels, 4), dtype=np.int32)
    valid = np.zeros((len(rows), num_labels), dtype=np.bool_)
    for f, objects in enumerate(rows):
        for j, obj in enumerate(objects):
            if obj.bbox is not None:
                boxes[f, j] = normalize_bbox(obj.bbox, width, height)
                valid[f, j] = True
    if not isinstance(record, GroundingR2Record):
        boxes, valid = boxes[0], valid[0]
    return BoxesArray(boxes, valid, record.round1_labels, np.asarray(indices, dtype=np.int64))

