"""Qwen3-VL boxes: the ``bbox_2d`` rules and :func:`normalize_bbox` (the card's pixel mapping).

Boxes are Qwen3-VL ``bbox_2d = [x1, y1, x2, y2]`` normalised to ``[0, 1000]``. Rules:

* ``bbox_2d: []`` is valid: the VLM did not localise that label on that frame. The object
  keeps its label (and its slot, so labels stay aligned) with ``bbox=None``.
* Otherwise a box is exactly four integers (integral floats such as ``447.0`` are accepted
  as ints) with ``0 <= x1 <= x2 <= 1000`` and ``0 <= y1 <= y2 <= 1000``.
* A box outside ``[0, 1000]``, with ``x1 > x2`` / ``y1 > y2`` or fractional values is an error
  (strict), or, under ``on_error="skip"``/``"warn"``, repaired exactly as the card's
  ``normalize_bbox`` repairs it (truncate to int, clamp, order by min/max, which collapses a
  swapped pair onto its smaller value) and counted (reason ``bbox_clamped``). For integer
  input, converting the repaired box with :func:`normalize_bbox` gives the same pixels as the
  card's function applied to the original box.
* A box that cannot be repaired (wrong length, NaN/infinity, not numbers) is an error
  (strict), or becomes "not localised" (``bbox=None``), counted (reason ``bbox_unusable``).

:func:`check_bbox` applies the rules to one raw value (the grounding readers and
:class:`~sparkle_data.readers.grounding.GroundedObject` use it); :func:`box_error` turns its
:class:`BadBoxError` into the reader error. Also importable from
:mod:`sparkle_data.readers.grounding`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final

from sparkle_data.errors import CorruptRecordError
from sparkle_data.layout import BBOX_SCALE
from sparkle_data.readers._fields import RecordWhere

__all__ = ["BBox", "normalize_bbox"]

BBox = tuple[int, int, int, int]
"""``(x1, y1, x2, y2)`` in Qwen3-VL's ``[0, 1000]`` coordinates (or pixels, once normalised)."""


_SCALE: Final = float(BBOX_SCALE)


class BadBoxError(Exception):
    """A ``bbox_2d`` that breaks the rules (raised by :func:`check_bbox`); ``repaired`` is what
    lenient readers keep, ``reason`` is ``"clamped"`` or ``"unusable"``.

    Not a :class:`~sparkle_data.errors.SparkleError`: it never leaves the readers, which turn
    it into one with :func:`box_error`."""

    def __init__(self, rule: str, repaired: BBox | None, reason: str) -> None:
        super().__init__(rule)
        self.rule = rule
        self.repaired = repaired
        self.reason = reason


def card_clamp(values: Sequence[float], upper: int) -> BBox:
    """The card's ``normalize_bbox`` clamping applied to already-scaled values.

    Truncate to int, clamp to ``[0, upper]`` and order by min/max, line for line as the card
    does (so ``x2`` is computed from the *updated* ``x1``: a swapped pair collapses).
    """
    x1, y1, x2, y2 = (int(v) for v in values)
    x1 = max(0, min(min(x1, x2), upper))
    y1 = max(0, min(min(y1, y2), upper))
    x2 = max(0, min(max(x1, x2), upper))
    y2 = max(0, min(max(y1, y2), upper))
    return x1, y1, x2, y2


def check_bbox(raw: object) -> BBox | None:
    """Validate one ``bbox_2d``: ``None`` for ``[]``, else an ordered in-range int box.

    Raises :class:`BadBoxError` (with the lenient repair) for anything else.
    """
    if (type(raw) is list or type(raw) is tuple) and len(raw) == 4:
        x1, y1, x2, y2 = raw
        if (
            type(x1) is int
            and type(y1) is int
            and type(x2) is int
            and type(y2) is int
            and 0 <= x1 <= x2 <= BBOX_SCALE
            and 0 <= y1 <= y2 <= BBOX_SCALE
        ):
            return x1, y1, x2, y2
    if not isinstance(raw, (list, tuple)):
        raise BadBoxError(
            "must be an array of 4 numbers, or [] when not localized", None, "unusable"
        )
    if len(raw) == 0:
        return None
    if len(raw) != 4:
        raise BadBoxError(f"must have 4 coordinates, not {len(raw)}", None, "unusable")
    values: list[float] = []
    for v in raw:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise BadBoxError("coordinates must be numbers", None, "unusable")
        if not math.isfinite(v):
            raise BadBoxError("coordinates must be finite (no NaN or infinity)", None, "unusable")
        values.append(v)
    repaired = card_clamp(values, BBOX_SCALE)
    if any(v != int(v) for v in values):
        raise BadBoxError("coordinates must be integers", repaired, "clamped")
    box = (int(values[0]), int(values[1]), int(values[2]), int(values[3]))
    if not all(0 <= v <= BBOX_SCALE for v in box):
        raise BadBoxError(f"coordinates must be in [0, {BBOX_SCALE}]", repaired, "clamped")
    if box[0] > box[2] or box[1] > box[3]:
        raise BadBoxError("corners are swapped: need x1 <= x2 and y1 <= y2", repaired, "clamped")
    return box


def box_error(raw: object, bad: BadBoxError, field: str, where: RecordWhere) -> CorruptRecordError:
    """The reader error for ``raw`` (a ``bbox_2d`` at ``field``), tagged ``bbox_{reason}``."""
    hint = {
        "clamped": "Lenient readers clamp it as the card's normalize_bbox does.",
        "unusable": "Lenient readers treat it as not localized (bbox None).",
    }[bad.reason]
    return where.invalid(
        CorruptRecordError, field, raw, rule=bad.rule, hint=hint, reason="bbox_" + bad.reason
    )


def normalize_bbox(bbox: Sequence[float], video_width: int, video_height: int) -> BBox:
    """Convert a Qwen3-VL ``[0, 1000]`` box to absolute pixels, exactly as the card does.

    Same arithmetic as the card's ``normalize_bbox``: ``int(v / 1000.0 * size)`` (truncation
    toward zero), then clamp to ``[0, size - 1]`` and order by min/max, where ``x2`` is taken
    from the already-updated ``x1``. Mind the card's quirk this keeps: a swapped pair
    (``x1 > x2``) collapses onto the smaller coordinate instead of being swapped.

    Unlike the card, non-finite coordinates, a length other than 4 and non-positive frame
    sizes raise :class:`ValueError` (:class:`CorruptRecordError` for the box) instead of
    failing inside ``int()``.
    """
    for what, size in (("video_width", video_width), ("video_height", video_height)):
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"Invalid {what} {size!r}: must be a positive int.")
    if len(bbox) != 4:
        raise CorruptRecordError.invalid("bbox", bbox, rule="must have 4 coordinates")
    for v in bbox:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise CorruptRecordError.invalid(
                "bbox", bbox, rule="coordinates must be finite numbers"
            )
    x1 = int(bbox[0] / _SCALE * video_width)
    y1 = int(bbox[1] / _SCALE * video_height)
    x2 = int(bbox[2] / _SCALE * video_width)
    y2 = int(bbox[3] / _SCALE * video_height)

    x1 = max(0, min(min(x1, x2), video_width - 1))
    y1 = max(0, min(min(y1, y2), video_height - 1))
    x2 = max(0, min(max(x1, x2), video_width - 1))
    y2 = max(0, min(max(y1, y2), video_height - 1))
    return x1, y1, x2, y2

