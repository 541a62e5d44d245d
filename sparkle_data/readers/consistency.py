"""Cross-artifact rules of one sample: its mask and videos must describe the same clip.

Each artifact's own reader checks the artifact alone; these rules compare the headers of a
sample's artifacts (``(T, H, W)`` from :func:`~sparkle_data.readers.video.probe_video` and
:func:`~sparkle_data.readers.mask.probe_mask`) with its ``source_video``:

* ``source_video_mask`` is the source video's mask: its ``shape`` must be exactly the source
  video's ``(frames, height, width)``. A mask whose bit count is right but whose shape is not
  (``(81, 1280, 720)`` for a 1280x720 video) would otherwise decode into a mask that does not
  cover the video;
* ``edited_video``, ``edited_background_video`` and ``edited_video_canny`` have the source's
  frame count (unless the caller allows otherwise) and its size, or the documented Kiwi-Edit
  size: each side cut down to a multiple of 32 (a 1280x720 source gives 1280x704 outputs,
  ``docs/sampling.md``);
* grounding boxes (:func:`check_boxes`), once converted to the source video's pixels, lie
  inside the frame with ``x1 <= x2`` and ``y1 <= y2``, on frames the video has.

A rule broken raises the artifact's :class:`~sparkle_data.errors.CorruptArtifactError`
subclass with both shapes in the message.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

import numpy as np

from sparkle_data.errors import (
    CorruptArtifactError,
    CorruptMaskError,
    CorruptRecordError,
    CorruptVideoError,
)
from sparkle_data.readers.grounding_arrays import BoxesArray

__all__ = [
    "EDITED_VIDEOS",
    "KIWI_DIVISION",
    "ShapeProblem",
    "allowed_edited_sizes",
    "check_boxes",
    "check_sample_shapes",
    "sample_shape_problems",
]

KIWI_DIVISION: Final = 32
"""Kiwi-Edit crops its inputs to multiples of 32 (720 rows -> 704)."""
EDITED_VIDEOS: Final = ("edited_video", "edited_background_video", "edited_video_canny")
"""The videos derived from the source clip, held to its frame count and size."""
_MASK: Final = "source_video_mask"
_SOURCE: Final = "source_video"

Shape = tuple[int, int, int]


def allowed_edited_sizes(height: int, width: int) -> tuple[tuple[int, int], ...]:
    """``(height, width)`` sizes an edited video of a ``height x width`` source may have."""
    kiwi = (height - height % KIWI_DIVISION, width - width % KIWI_DIVISION)
    return ((height, width),) if kiwi == (height, width) else ((height, width), kiwi)


@dataclass(frozen=True, slots=True)
class ShapeProblem:
    """One cross-artifact rule broken by one field of a sample."""

    field: str
    error: type[CorruptArtifactError]
    what: str
    value: object
    rule: str


def sample_shape_problems(
    shapes: Mapping[str, Shape], *, check_frames: bool = True
) -> list[ShapeProblem]:
    """Every rule ``shapes`` (field -> ``(T, H, W)``) breaks; empty when consistent or when
    ``source_video`` is not among them."""
    source = shapes.get(_SOURCE)
    if source is None:
        return []
    st, sh, sw = source
    out: list[ShapeProblem] = []
    mask = shapes.get(_MASK)
    if mask is not None and tuple(mask) != (st, sh, sw):
        rule = f"must equal its source video's (frames, height, width) {(st, sh, sw)}"
        out.append(ShapeProblem(_MASK, CorruptMaskError, "mask shape", tuple(mask), rule))
    for field in EDITED_VIDEOS:
        shape = shapes.get(field)
        if shape is None:
            continue
        t, h, w = shape
        if check_frames and t != st:
            rule = f"must equal its source video's frame count {st}"
            out.append(ShapeProblem(field, CorruptVideoError, f"{field} frame count", t, rule))
        allowed = allowed_edited_sizes(sh, sw)
        if (h, w) not in allowed:
            shown = " or ".join(f"{aw}x{ah}" for ah, aw in allowed)
            rule = f"must be its source video's size or the Kiwi-Edit crop ({shown})"
            out.append(ShapeProblem(field, CorruptVideoError, f"{field} size", f"{w}x{h}", rule))
    return out


def check_sample_shapes(
    shapes: Mapping[str, Shape],
    *,
    sample_id: str | None = None,
    names: Mapping[str, str] | None = None,
    check_frames: bool = True,
) -> None:
    """Raise for the first rule ``shapes`` breaks (see the module docstring).

    ``names`` gives each field's display name (``path::member``) for the message;
    ``check_frames=False`` leaves frame counts to the caller (``frame_mismatch="min"``).
    """
    problems = sample_shape_problems(shapes, check_frames=check_frames)
    if not problems:
        return
    p = problems[0]
    path, _, member = ((names or {}).get(p.field) or "").partition("::")
    raise p.error.invalid(
        p.what,
        p.value,
        rule=p.rule,
        hint="The sample's artifacts do not describe the same clip.",
        path=path or None,
        member=member or None,
        sample_id=sample_id,
    )


def check_boxes(
    boxes: BoxesArray,
    shape: Shape,
    *,
    name: str | None = None,
    sample_id: str | None = None,
) -> None:
    """Raise :class:`CorruptRecordError` unless every localised box of ``boxes`` (pixels of a
    ``(T, H, W)`` video) is inside the frame, ordered, and on a frame the video has."""
    t, h, w = shape
    path, _, member = (name or "").partition("::")
    frames = boxes.frame_indices
    late = frames[(frames < 0) | (frames >= t)]
    if late.size:
        raise CorruptRecordError.invalid(
            "grounding frame index",
            int(late[0]),
            rule=f"the video has {t} frames",
            path=path or None,
            member=member or None,
            sample_id=sample_id,
        )
    b = boxes.boxes[boxes.valid]
    if not b.size:
        return
    x1, y1, x2, y2 = b[:, 0], b[:, 1], b[:, 2], b[:, 3]
    bad = (x1 < 0) | (y1 < 0) | (x2 > w) | (y2 > h) | (x1 > x2) | (y1 > y2)
    if bad.any():
        first = [int(v) for v in b[int(np.argmax(bad))]]
        raise CorruptRecordError.invalid(
            "grounding box",
            first,
            rule=f"must lie inside the {w}x{h} frame with x1 <= x2 and y1 <= y2 (pixels)",
            path=path or None,
            member=member or None,
            sample_id=sample_id,
        )
