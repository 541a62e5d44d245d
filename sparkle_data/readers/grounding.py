"""Foreground grounding records: ``foreground_grounding_r1.jsonl`` and ``..._r2.jsonl``.

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

Labels: ``round1_objects`` and every ``frame_objects`` entry are aligned to ``round1_labels``.
An entry whose labels equal ``round1_labels`` in order is taken as is. When the labels are
unique, an entry that lists them in another order, or lists only some of them, is realigned
by label and the labels it omits read as not localised (``bbox=None``), like ``bbox_2d: []``.
A label that is not in ``round1_labels``, a label listed twice, or a reordered/partial entry
when ``round1_labels`` itself repeats a label is an error (reason ``label_mismatch``).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any, Final, Literal, cast

import numpy as np
import numpy.typing as npt

from sparkle_data.errors import CorruptRecordError, LayoutError, SparkleError
from sparkle_data.layout import (
    _ID_RE,
    BBOX_SCALE,
    EDIT_TYPES,
    FPS,
    GROUNDING_FPS,
    MAX_FRAMES,
    METADATA_EDIT_TYPE_ALIASES,
    EditType,
    SampleId,
    canonical_edit_type,
    parse_edit_type,
    parse_sample_id,
)
from sparkle_data.policy import OnError, SkipReport
from sparkle_data.readers import _text
from sparkle_data.readers._fields import (
    MISSING,
    NOWHERE,
    Where,
    check_sample_id,
    check_text,
    reason_of,
)
from sparkle_data.readers._text import (
    SKIPPED,
    JsonlRecords,
    Line,
    Source,
    check_unique,
    iter_jsonl_records,
    iter_line_views,
    open_source,
    resolve_report,
    source_name,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "MAX_GROUNDING_FRAMES",
    "BBox",
    "BoxesArray",
    "GroundedObject",
    "GroundingR1Record",
    "GroundingR2Record",
    "boxes_array",
    "grounding_frame_indices",
    "iter_grounding_r1",
    "iter_grounding_r2",
    "load_grounding_r1",
    "load_grounding_r2",
    "load_grounding_summary_table",
    "normalize_bbox",
]

BBox = tuple[int, int, int, int]
"""``(x1, y1, x2, y2)`` in Qwen3-VL's ``[0, 1000]`` coordinates (or pixels, once normalised)."""

MAX_GROUNDING_FRAMES: Final = len(range(0, MAX_FRAMES, FPS // GROUNDING_FPS))
"""11: an 81-frame 16 fps video sampled at 2 FPS gives frames 0, 8, ..., 80."""

_SCALE: Final = float(BBOX_SCALE)


# --------------------------------------------------------------------------- boxes


class _BadBoxError(Exception):
    """A ``bbox_2d`` that breaks the rules; ``repaired`` is what lenient readers keep."""

    def __init__(self, rule: str, repaired: BBox | None, reason: str) -> None:
        super().__init__(rule)
        self.rule = rule
        self.repaired = repaired
        self.reason = reason


def _card_clamp(values: Sequence[float], upper: int) -> BBox:
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


def _parse_bbox(raw: object) -> BBox | None:
    """Validate one ``bbox_2d``: ``None`` for ``[]``, else an ordered in-range int box.

    Raises :class:`_BadBoxError` (with the lenient repair) for anything else.
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
        raise _BadBoxError(
            "must be an array of 4 numbers, or [] when not localized", None, "unusable"
        )
    if len(raw) == 0:
        return None
    if len(raw) != 4:
        raise _BadBoxError(f"must have 4 coordinates, not {len(raw)}", None, "unusable")
    values: list[float] = []
    for v in raw:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise _BadBoxError("coordinates must be numbers", None, "unusable")
        if not math.isfinite(v):
            raise _BadBoxError("coordinates must be finite (no NaN or infinity)", None, "unusable")
        values.append(v)
    repaired = _card_clamp(values, BBOX_SCALE)
    if any(v != int(v) for v in values):
        raise _BadBoxError("coordinates must be integers", repaired, "clamped")
    box = (int(values[0]), int(values[1]), int(values[2]), int(values[3]))
    if not all(0 <= v <= BBOX_SCALE for v in box):
        raise _BadBoxError(f"coordinates must be in [0, {BBOX_SCALE}]", repaired, "clamped")
    if box[0] > box[2] or box[1] > box[3]:
        raise _BadBoxError("corners are swapped: need x1 <= x2 and y1 <= y2", repaired, "clamped")
    return box


def _box_error(raw: object, bad: _BadBoxError, field: str, where: Where) -> CorruptRecordError:
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


@dataclass(frozen=True, slots=True)
class GroundedObject:
    """One grounded label; ``bbox`` is ``None`` when the VLM did not localise it."""

    label: str
    bbox: BBox | None

    def __post_init__(self) -> None:
        check_text(self.label, NOWHERE, "label")
        try:
            box = _parse_bbox(() if self.bbox is None else self.bbox)
        except _BadBoxError as bad:
            raise _box_error(self.bbox, bad, "bbox", NOWHERE) from None
        object.__setattr__(self, "bbox", box)

    @property
    def localized(self) -> bool:
        return self.bbox is not None


# --------------------------------------------------------------------------- records


def _label_error(field: str, value: object, rule: str, where: Where) -> CorruptRecordError:
    return where.invalid(CorruptRecordError, field, value, rule=rule, reason="label_mismatch")


def _align(found: list[str], labels: tuple[str, ...], field: str, where: Where) -> list[int | None]:
    """For each label slot, the index of its object in ``found`` (``None``: not listed)."""
    if tuple(found) == labels:
        return list(range(len(labels)))
    if not found:
        return [None] * len(labels)
    if len(set(labels)) != len(labels):
        raise _label_error(
            field,
            found,
            "labels differ from round1_labels, which repeats a label, so they cannot be "
            "realigned by name",
            where,
        )
    position: dict[str, int] = {}
    for j, label in enumerate(found):
        if label not in labels:
            raise _label_error(f"{field}[{j}].label", label, "is not one of round1_labels", where)
        if label in position:
            raise _label_error(f"{field}[{j}].label", label, "is listed twice", where)
        position[label] = j
    return [position.get(label) for label in labels]


_Problems = list[CorruptRecordError]


def _objects(
    raw: object, labels: tuple[str, ...], field: str, where: Where, problems: _Problems
) -> _Slots:
    """Validate a list of ``{"bbox_2d", "label"}`` objects; boxes aligned to ``labels``.

    Box problems are appended to ``problems`` (with their lenient repair kept in the result);
    structural problems raise. The common case (every object well formed, labels in
    ``round1_labels`` order, every box valid) is one pass of comprehensions; anything else
    takes the object-by-object path, which applies the same checks and says what is wrong.
    """
    if type(raw) is list:
        try:
            found = tuple([item["label"] for item in raw])
            boxes = [_parse_bbox(item["bbox_2d"]) for item in raw]
        except (TypeError, KeyError, _BadBoxError):
            pass
        else:
            if found == labels:
                return tuple(boxes)
    return _objects_one_by_one(raw, labels, field, where, problems)


def _objects_one_by_one(
    raw: object, labels: tuple[str, ...], field: str, where: Where, problems: _Problems
) -> _Slots:
    if type(raw) is not list:
        raise where.invalid(
            CorruptRecordError,
            field,
            raw,
            rule="required field is missing" if raw is MISSING else "must be an array",
            reason="invalid_field",
        )
    found: list[str] = []
    boxes: list[BBox | None] = []
    for j, item in enumerate(raw):
        if type(item) is not dict:
            raise where.invalid(
                CorruptRecordError,
                f"{field}[{j}]",
                item,
                rule="must be an object with bbox_2d and label",
                reason="invalid_field",
            )
        label = item.get("label", MISSING)
        if type(label) is not str:  # the f-string below only on the slow path
            label = check_text(label, where, f"{field}[{j}].label")
        bbox = item.get("bbox_2d", MISSING)
        try:
            box = _parse_bbox(bbox)
        except _BadBoxError as bad:
            if bbox is MISSING:
                raise where.invalid(
                    CorruptRecordError,
                    f"{field}[{j}].bbox_2d",
                    bbox,
                    rule="required field is missing",
                    reason="invalid_field",
                ) from None
            problems.append(_box_error(bbox, bad, f"{field}[{j}].bbox_2d", where))
            box = bad.repaired
        found.append(label)
        boxes.append(box)
    slots = _align(found, labels, field, where)
    return tuple(None if s is None else boxes[s] for s in slots)


def _check_header(
    sid: SampleId, prompt: object, edit_type: object, labels: object, where: Where
) -> tuple[str, EditType, tuple[str, ...]]:
    """``prompt``, ``edit_type`` (canonical, must match the id) and ``round1_labels``."""
    prompt_text, canonical = _check_prompt_and_type(sid, prompt, edit_type, where)
    if not isinstance(labels, (list, tuple)):
        raise where.invalid(
            CorruptRecordError,
            "round1_labels",
            labels,
            rule="required field is missing" if labels is MISSING else "must be an array",
            reason="invalid_field",
        )
    for j, label in enumerate(labels):
        if type(label) is not str:  # the f-string below only on the slow path
            check_text(label, where, f"round1_labels[{j}]")
    return prompt_text, canonical, tuple(labels)


def _check_prompt_and_type(
    sid: SampleId, prompt: object, edit_type: object, where: Where
) -> tuple[str, EditType]:
    """``prompt`` (non-empty) and ``edit_type`` (canonical, must match the id)."""
    prompt_text = check_text(prompt, where, "prompt", nonempty=True)
    raw_type = check_text(edit_type, where, "edit_type")
    try:
        canonical = canonical_edit_type(raw_type)
    except LayoutError:
        raise where.invalid(
            LayoutError,
            "edit_type",
            raw_type,
            rule="not a Sparkle edit type",
            reason="invalid_field",
        ) from None
    if canonical != sid.edit_type:
        raise where.invalid(
            LayoutError,
            "edit_type",
            raw_type,
            rule=f"disagrees with the id's edit type {sid.edit_type!r}",
            reason="edit_type_mismatch",
        )
    return prompt_text, canonical


def _check_aligned(
    objects: Sequence[GroundedObject], labels: tuple[str, ...], field: str, where: Where
) -> tuple[GroundedObject, ...]:
    objects = tuple(objects)
    for obj in objects:
        if not isinstance(obj, GroundedObject):
            raise where.invalid(
                CorruptRecordError,
                field,
                obj,
                rule="must hold GroundedObject items",
                reason="invalid_field",
            )
    if tuple(o.label for o in objects) != labels:
        raise _label_error(
            field,
            [o.label for o in objects],
            "labels must equal round1_labels, in order (use bbox=None for a label that is "
            "not localized)",
            where,
        )
    return objects


@dataclass(frozen=True, slots=True)
class GroundingR1Record:
    """One line of ``foreground_grounding_r1.jsonl``: first-round labels and boxes, detected
    on the source first frame. ``round1_objects[j].label == round1_labels[j]`` always."""

    sample_id: str
    prompt: str
    edit_type: EditType
    round1_labels: tuple[str, ...]
    round1_objects: tuple[GroundedObject, ...]

    def __post_init__(self) -> None:
        where = NOWHERE.at_sample(self.sample_id)
        sid = check_sample_id(self.sample_id, NOWHERE, field="sample_id")
        _, edit_type, labels = _check_header(
            sid, self.prompt, self.edit_type, self.round1_labels, where
        )
        object.__setattr__(self, "edit_type", edit_type)  # canonical (alias accepted)
        object.__setattr__(self, "round1_labels", labels)
        object.__setattr__(
            self,
            "round1_objects",
            _check_aligned(self.round1_objects, labels, "round1_objects", where),
        )

    @property
    def labels(self) -> tuple[str, ...]:
        return self.round1_labels


@dataclass(frozen=True, slots=True)
class GroundingR2Record(GroundingR1Record):
    """One line of ``foreground_grounding_r2.jsonl``: round 1 plus ``frame_objects``, one
    entry per frame sampled at 2 FPS from the source video (see
    :func:`grounding_frame_indices`), each aligned to ``round1_labels``."""

    frame_objects: tuple[tuple[GroundedObject, ...], ...]

    def __post_init__(self) -> None:
        GroundingR1Record.__post_init__(self)
        where = NOWHERE.at_sample(self.sample_id)
        frames = tuple(self.frame_objects)
        _check_frame_count(len(frames), where)
        object.__setattr__(
            self,
            "frame_objects",
            tuple(
                _check_aligned(f, self.round1_labels, f"frame_objects[{i}]", where)
                for i, f in enumerate(frames)
            ),
        )

    @property
    def num_frames(self) -> int:
        return len(self.frame_objects)


_Slots = tuple[BBox | None, ...]
"""Boxes aligned to ``round1_labels`` (``None``: not localized)."""
_GroundingValues = tuple[
    str, str, EditType, tuple[str, ...], _Slots, tuple[_Slots, ...] | None, _Problems
]
"""Validated id, prompt, edit type, labels, round-1 boxes, frame boxes (r2), box problems."""
_GroundingConvert = Callable[[dict[str, object], SampleId, Where], _GroundingValues]


def _check_frame_count(count: int, where: Where) -> None:
    if count > MAX_GROUNDING_FRAMES:
        raise where.invalid(
            CorruptRecordError,
            "frame_objects",
            f"<{count} frames>",
            rule=f"a video of at most {MAX_FRAMES} frames has at most "
            f"{MAX_GROUNDING_FRAMES} frames at {GROUNDING_FPS} FPS",
            reason="invalid_frames",
        )


def _converter(with_frames: bool) -> _GroundingConvert:
    def convert(obj: dict[str, object], sid: SampleId, where: Where) -> _GroundingValues:
        prompt, edit_type, labels = _check_header(
            sid,
            obj.get("prompt", MISSING),
            obj.get("edit_type", MISSING),
            obj.get("round1_labels", MISSING),
            where,
        )
        problems: _Problems = []
        round1 = _objects(
            obj.get("round1_objects", MISSING), labels, "round1_objects", where, problems
        )
        frames: tuple[_Slots, ...] | None = None
        if with_frames:
            raw = obj.get("frame_objects", MISSING)
            if type(raw) is not list:
                raise where.invalid(
                    CorruptRecordError,
                    "frame_objects",
                    raw,
                    rule="required field is missing" if raw is MISSING else "must be an array",
                    reason="invalid_field",
                )
            _check_frame_count(len(raw), where)
            frames = tuple(
                _objects(f, labels, f"frame_objects[{i}]", where, problems)
                for i, f in enumerate(raw)
            )
        return str(sid), prompt, edit_type, labels, round1, frames, problems

    return convert


def _iter_values(
    source: Source,
    *,
    with_frames: bool,
    edit_type: str | None,
    name: str | None,
    on_error: OnError,
    report: SkipReport | None,
) -> Iterator[_GroundingValues]:
    """Validated values per record; box problems are handled (raised or counted) here, after
    the record passed every structural check, so counts cover only records that are kept."""
    report = resolve_report(on_error, report)
    for values in iter_jsonl_records(
        source,
        name=source_name(source, name),
        report=report,
        edit_type=edit_type,
        convert=_converter(with_frames),
    ):
        for problem in values[-1]:
            report.handle(problem, reason_of(problem))
        yield values


def _build_objects(labels: tuple[str, ...], boxes: _Slots) -> tuple[GroundedObject, ...]:
    return tuple(GroundedObject(label, box) for label, box in zip(labels, boxes, strict=True))


def iter_grounding_r1(
    source: Source,
    *,
    edit_type: str | None = None,
    name: str | None = None,
    on_error: OnError = "error",
    report: SkipReport | None = None,
) -> Iterator[GroundingR1Record]:
    """Lazily read ``foreground_grounding_r1.jsonl``."""
    for sid, prompt, et, labels, round1, _, _ in _iter_values(
        source, with_frames=False, edit_type=edit_type, name=name, on_error=on_error, report=report
    ):
        yield GroundingR1Record(sid, prompt, et, labels, _build_objects(labels, round1))


def iter_grounding_r2(
    source: Source,
    *,
    edit_type: str | None = None,
    name: str | None = None,
    on_error: OnError = "error",
    report: SkipReport | None = None,
) -> Iterator[GroundingR2Record]:
    """Lazily read ``foreground_grounding_r2.jsonl``."""
    for sid, prompt, et, labels, round1, frames, _ in _iter_values(
        source, with_frames=True, edit_type=edit_type, name=name, on_error=on_error, report=report
    ):
        yield GroundingR2Record(
            sid,
            prompt,
            et,
            labels,
            _build_objects(labels, round1),
            tuple(_build_objects(labels, f) for f in frames or ()),
        )


def load_grounding_r1(
    source: Source,
    *,
    edit_type: str | None = None,
    name: str | None = None,
    on_error: OnError = "error",
    report: SkipReport | None = None,
) -> list[GroundingR1Record]:
    """Eagerly read ``foreground_grounding_r1.jsonl``; see :func:`iter_grounding_r1`."""
    return list(
        iter_grounding_r1(source, edit_type=edit_type, name=name, on_error=on_error, report=report)
    )


def load_grounding_r2(
    source: Source,
    *,
    edit_type: str | None = None,
    name: str | None = None,
    on_error: OnError = "error",
    report: SkipReport | None = None,
) -> list[GroundingR2Record]:
    """Eagerly read ``foreground_grounding_r2.jsonl``; see :func:`iter_grounding_r2`."""
    return list(
        iter_grounding_r2(source, edit_type=edit_type, name=name, on_error=on_error, report=report)
    )


def load_grounding_summary_table(
    source: Source,
    *,
    record: Literal[
        "foreground_grounding_r1", "foreground_grounding_r2"
    ] = "foreground_grounding_r2",
    edit_type: str | None = None,
    name: str | None = None,
    on_error: OnError = "error",
    report: SkipReport | None = None,
) -> pd.DataFrame:
    """Per-sample grounding counts as a DataFrame, fast (no record objects are built).

    Columns: ``sample_id``, ``num_labels`` (``len(round1_labels)``), ``num_frames`` (frames in
    ``frame_objects`` for r2; 1 for r1, whose boxes are on the source first frame),
    ``num_empty_boxes`` (label slots with no box: ``bbox_2d: []``, a label a frame omits, or a
    box made unusable under a lenient policy) and ``empty_box_share`` = ``num_empty_boxes /
    (num_frames * num_labels)``, or 1.0 when there is no slot at all (nothing localised, so a
    ``share <= t`` filter drops it). ``max_box_area`` and ``mean_box_area``: the largest and
    the mean area of the localised boxes of those same slots, as a share of the frame,
    ``(x2 - x1) * (y2 - y1) / 1e6`` in ``[0, 1]`` (boxes as kept: repaired under a lenient
    policy); NaN when no slot has a box. Validation is exactly that of the ``iter_*`` readers.
    """
    if record not in ("foreground_grounding_r1", "foreground_grounding_r2"):
        raise ValueError(f"Invalid record {record!r}: must be a foreground_grounding_r* file.")
    report = resolve_report(on_error, report)
    if edit_type is not None:
        parse_edit_type(edit_type)
    path = source_name(source, name)
    with_frames = record == "foreground_grounding_r2"
    prepared = prepare_summary(source, with_frames=with_frames, name=path, edit_type=edit_type)
    return summary_table(prepared, name=path, edit_type=edit_type, report=report)


# --------------------------------------------------------------------------- summary tables

_SummaryRow = tuple[str, int, int, int, float, float]
"""``sample_id``, ``num_labels``, ``num_frames``, ``num_empty_boxes``, ``max_box_area``,
``mean_box_area`` of a kept record."""

_BOX_AREA: Final = BBOX_SCALE * BBOX_SCALE
"""The area of the whole frame in ``[0, 1000]`` units."""

_Entry = tuple[int, "bytes | None", bool, "_SummaryRow | None"]
"""A non-blank line: ``(number, line, terminated, row)``; see :class:`PreparedSummary`."""


@dataclass(frozen=True, slots=True)
class PreparedSummary:
    """A grounding file read and, where possible, validated in bulk (:func:`prepare_summary`).

    ``entries`` has one ``(number, line, terminated, row)`` per non-blank line, in file order.
    ``row`` is the line's summary when the bulk check vouched for the line (``line`` is then
    ``None``), else ``None`` with the line's bytes, for the line-by-line path. ``stop`` is
    what reading raised after the last entry (a line too long, a text-mode file, an I/O
    error), to be raised at that point. Preparing has no side effect: nothing is reported,
    nothing raised; :func:`summary_table` does both, in file order.
    """

    with_frames: bool
    entries: list[_Entry]
    stop: Exception | None


def _summary_of(values: _GroundingValues) -> _SummaryRow:
    """The summary of a record validated by the line-by-line path."""
    sid, _, _, labels, round1, frames, _ = values
    slots = (round1,) if frames is None else frames
    areas = [(b[2] - b[0]) * (b[3] - b[1]) for f in slots for b in f if b is not None]
    max_area = max(areas) / _BOX_AREA if areas else math.nan
    mean_area = sum(areas) / (len(areas) * _BOX_AREA) if areas else math.nan
    return sid, len(labels), len(slots), sum(f.count(None) for f in slots), max_area, mean_area


def summary_table(
    prepared: PreparedSummary, *, name: str, edit_type: str | None, report: SkipReport
) -> pd.DataFrame:
    """The table of :func:`load_grounding_summary_table` from a prepared file.

    Lines are taken in file order: a vouched line gives its summary after the duplicate-id
    check, any other line goes through the line-by-line path (:meth:`JsonlRecords.exact`
    with the full converter, its box problems handed to ``report``), so the table, the
    errors and the skip counts are exactly those of the ``iter_*`` readers.
    """
    import pandas as pd

    records = JsonlRecords(name, report, edit_type, _converter(prepared.with_frames))
    ids: list[str] = []
    counts: list[tuple[int, int, int]] = []
    areas: list[tuple[float, float]] = []
    for number, line, terminated, row in prepared.entries:
        if row is None:
            values = records.exact(number, cast(bytes, line), terminated)
            if values is SKIPPED:
                continue
            values = cast(_GroundingValues, values)
            for problem in values[-1]:
                report.handle(problem, reason_of(problem))
            row = _summary_of(values)
        elif not records.first_sighting(row[0], number):
            check_unique(records.seen, row[0], Where(name, number, row[0]))  # raises
        ids.append(row[0])
        counts.append(row[1:4])
        areas.append(row[4:])
    if prepared.stop is not None:
        raise prepared.stop
    table = np.array(counts, dtype=np.int64).reshape(len(counts), 3)
    total = table[:, 0] * table[:, 1]
    share = np.ones(len(counts), dtype=np.float64)
    np.divide(table[:, 2], total, out=share, where=total > 0)
    box_areas = np.array(areas, dtype=np.float64).reshape(len(areas), 2)
    frame: pd.DataFrame = pd.DataFrame(
        {
            "sample_id": pd.array(ids, dtype="str"),
            "num_labels": table[:, 0],
            "num_frames": table[:, 1],
            "num_empty_boxes": table[:, 2],
            "empty_box_share": share,
            "max_box_area": box_areas[:, 0],
            "mean_box_area": box_areas[:, 1],
        }
    )
    return frame


_BULK_BYTES: Final = 64 << 20
"""Lines checked in one pyarrow call when the whole file cannot be."""
_BULK_RETRY_LINES: Final = (2048, 64)
"""A group pyarrow refuses (one bad line fails the parse) is retried in parts this long."""
_WHITESPACE: Final = frozenset(b" \t\n\r\x0b\x0c")  # bytes.isspace
_PARSE_BLOCK: Final = 4 << 20
"""pyarrow's parse block (a longer line fails the parse, and goes to the line-by-line path)."""


def prepare_summary(
    source: Source,
    *,
    with_frames: bool,
    name: str,
    edit_type: str | None,
    use_threads: bool = True,
) -> PreparedSummary:
    """Read a grounding file and vouch for the lines that pass every check, in bulk.

    Side-effect free (see :class:`PreparedSummary`). :func:`parse_ahead` then
    :func:`prepare_parsed`; the first half may run on another thread.
    """
    parsed = parse_ahead(source, with_frames=with_frames, use_threads=use_threads, one_read=False)
    return prepare_parsed(parsed, name=name, edit_type=edit_type, use_threads=use_threads)


@dataclass(frozen=True, slots=True)
class ParsedAhead:
    """A grounding file read whole and, when it is in the form that allows it, its lines
    ``2 .. n`` parsed by pyarrow in one call (:func:`parse_ahead`): what
    :func:`prepare_parsed` checks. ``table`` is ``None`` when the file is not in that form.

    ``data`` is the file; ``sizes`` the lengths of the chunks the reads returned (``None``: a
    regular file read in one go, whose chunks of :data:`_text.CHUNK_SIZE` are implied);
    ``raw`` the chunks themselves when some were not ``bytes``; ``failure`` what opening or
    reading raised. The line reader is replayed on exactly those reads when needed.
    """

    with_frames: bool
    data: bytes
    sizes: list[int] | None
    raw: list[Any] | None
    failure: Exception | None
    segments: list[_Segment] | None


def parse_ahead(
    source: Source, *, with_frames: bool, use_threads: bool = False, one_read: bool = True
) -> ParsedAhead:
    """Read ``source`` and parse it with pyarrow in one call, when it is in the form that
    allows it: bytes, at least two lines, no line longer than :data:`_text.MAX_LINE_BYTES`,
    no blank line (``{"r":}`` fails the parse), so that every line is one row.

    Side-effect free, and a few calls that hold the GIL briefly (the parse releases it): the
    part of :func:`prepare_summary` that pays on another thread. Nothing is checked here
    beyond what the parse refuses. ``one_read`` reads a regular file in one ``read()``: the
    bytes :func:`iter_line_views` would read in chunks (a failing read then raises here, for
    the caller to read the file the usual way).
    """
    chunks, failure = _read_chunks(source, one_read)
    if one_read and failure is not None:
        raise failure  # the chunked reads of the line reader may have got further
    if failure is not None or any(type(c) is not bytes for c in chunks):
        return ParsedAhead(with_frames, b"", None, chunks, failure, None)
    data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    sizes = None if one_read else [len(c) for c in chunks]
    del chunks
    segments = _parse_whole(data, with_frames, use_threads)
    return ParsedAhead(with_frames, data, sizes, None, None, segments)


def prepare_parsed(
    parsed: ParsedAhead, *, name: str, edit_type: str | None, use_threads: bool = True
) -> PreparedSummary:
    """The checks of :func:`prepare_summary` on a file read (and maybe parsed) ahead."""
    with_frames = parsed.with_frames
    whole = prepare_whole(parsed, edit_type=edit_type)
    if whole is not None:
        return whole
    entries: list[_Entry] = []
    block: list[tuple[int, Line, bool]] = []
    size = 0
    stop: Exception | None = None
    try:
        for item in iter_line_views(_Replay(parsed), name=name):
            line = item[1]
            if not line or (line[0] in _WHITESPACE and bytes(line).isspace()):
                continue  # blank: the line-by-line path skips it, with no effect
            block.append(item)
            size += len(line)
            if size >= _BULK_BYTES:
                _vouch(block, with_frames, edit_type, use_threads, entries)
                block, size = [], 0
    except Exception as e:  # raised by reading: re-raised after the lines before it
        stop = e
    if block:
        _vouch(block, with_frames, edit_type, use_threads, entries)
    return PreparedSummary(with_frames, entries, stop)


def prepare_whole(parsed: ParsedAhead, *, edit_type: str | None) -> PreparedSummary | None:
    """:func:`prepare_parsed` when the file was in the form :func:`parse_ahead` parses whole
    (then a few calls per segment, most of them releasing the GIL), else ``None``."""
    if parsed.segments is None:
        return None
    with_frames = parsed.with_frames
    rows: list[_SummaryRow | None] = []
    for segment in parsed.segments:
        got = None
        if segment.fields is not None:
            got = _check_rows(segment.fields, with_frames, edit_type)
        if got is None:  # pyarrow refused it, or a null somewhere: retried in smaller groups
            lines = [parsed.data[a:b] for a, b in segment.bounds()]
            got = _vouch_rows(lines, with_frames, edit_type, False, _BULK_RETRY_LINES)
        rows += got
    return PreparedSummary(with_frames, _whole_entries(parsed.data, rows), None)


def _read_chunks(source: Source, one_read: bool) -> tuple[list[bytes], Exception | None]:
    """What :func:`iter_line_views` reads from ``source``, chunk by chunk, and what opening or
    reading raised (then the chunks before it); replayed by :class:`_Replay`."""
    chunks: list[bytes] = []
    try:
        with open_source(source) as f:
            while True:
                chunk = f.read() if one_read else f.read(_text.CHUNK_SIZE)
                if not chunk:
                    break
                chunks.append(chunk)
    except Exception as e:
        return chunks, e
    return chunks, None


class _Replay:
    """A binary file object making the reads of :class:`ParsedAhead` again (same chunks),
    then raising what reading raised."""

    def __init__(self, parsed: ParsedAhead) -> None:
        self._parsed = parsed
        self._raw = list(parsed.raw or ())[::-1]
        self._sizes = list(parsed.sizes or ())[::-1]
        self._pos = 0

    def read(self, size: int = -1, /) -> Any:
        parsed = self._parsed
        if parsed.raw is not None:
            if self._raw:
                return self._raw.pop()
        elif self._pos < len(parsed.data):
            step = self._sizes.pop() if parsed.sizes is not None else size
            chunk = parsed.data[self._pos : self._pos + step]
            self._pos += step
            return chunk
        if parsed.failure is not None:
            raise parsed.failure
        return b""


@dataclass(frozen=True, slots=True)
class _Segment:
    """Lines parsed together by :func:`_parse_whole`: ``count`` lines whose ``\\n`` are at
    ``ends``, the first starting at ``start``; ``fields`` as :func:`_parse_lines` gives them."""

    start: int
    ends: npt.NDArray[np.int64]
    fields: list[Any] | None

    def bounds(self) -> Iterator[tuple[int, int]]:
        """``(start, stop)`` of each line, its newline left out."""
        start = self.start
        for end in self.ends.tolist():
            yield start, end
            start = end + 1


_SEGMENT_BYTES: Final = 32 << 20
"""Lines parsed in one pyarrow call by :func:`_parse_whole` (a bad line fails its segment)."""


def _parse_whole(data: bytes, with_frames: bool, use_threads: bool) -> list[_Segment] | None:
    """Lines ``2 .. n`` of ``data`` (``n - 1`` if the last line has no newline) parsed by
    pyarrow in segments, or ``None`` (see :func:`parse_ahead`). Line 1 (which may hold a BOM)
    and an unterminated last line are left to the line-by-line path.

    The lines are parsed as they are, with no copy, when each starts with ``{`` and ends
    with ``}`` (before an optional ``\\r``): no JSON value can then span a newline (inside a
    value, ``}`` is never followed by ``{``), so a line holds whole values, and with as many
    rows as lines, exactly one.
    """
    nl = _newlines(data)
    if len(nl) < 2:
        return None
    limit = _text.MAX_LINE_BYTES
    if int(nl[0]) >= limit or len(data) - int(nl[-1]) > limit or int(np.diff(nl).max()) > limit:
        return None  # the line reader may refuse a line this long: its call
    codes = np.frombuffer(data, dtype=np.uint8)
    ends = nl[1:] - 1  # the last byte of lines 2 .. len(nl)
    ends -= codes[ends] == 13  # before a "\\r" (an empty line then fails the test below)
    if not ((codes[nl[:-1] + 1] == 0x7B).all() and (codes[ends] == 0x7D).all()):
        return None
    segments = []
    first = 0  # the newline before the segment's first line
    while first < len(nl) - 1:
        last = int(np.searchsorted(nl, nl[first] + _SEGMENT_BYTES, side="right")) - 1
        last = min(max(last, first + 1), len(nl) - 1)
        start, stop = int(nl[first]) + 1, int(nl[last]) + 1
        lines = memoryview(data)[start:stop]
        fields = _parse_lines(lines, last - first, with_frames, use_threads, wrapped=False)
        segments.append(_Segment(start, nl[first + 1 : last + 1], fields))
        first = last
    return segments


def _newlines(data: bytes, step: int = 16 << 20) -> npt.NDArray[np.int64]:
    """Where the ``\\n`` of ``data`` are (in windows, to keep the temporaries small)."""
    codes = np.frombuffer(data, dtype=np.uint8)
    found = [np.flatnonzero(codes[i : i + step] == 10) + i for i in range(0, len(codes), step)]
    return np.concatenate(found) if found else np.zeros(0, dtype=np.int64)


def _whole_entries(data: bytes, rows: list[_SummaryRow | None]) -> list[_Entry]:
    """The entries of a file whose lines ``2 .. len(rows) + 1`` are ``rows``; the others
    (line 1, an unterminated last line, lines not vouched for) as the line reader gives them."""
    if all(row is not None for row in rows):  # only the first and last lines are needed
        bounds = [-1, data.index(b"\n")]
        tail = data.rindex(b"\n")
    else:
        found = _newlines(data).tolist()
        bounds, tail = [-1, *found], found[-1]

    def exact(number: int, terminated: bool) -> _Entry:
        start = bounds[number - 1] + 1 if terminated else tail + 1
        line = data[start : bounds[number]] if terminated else data[start:]
        if number == 1 and line.startswith(_text.BOM):
            line = line[3:]
        if line.endswith(b"\r"):
            line = line[:-1]
        return (number, line, terminated, None)

    entries = [exact(1, True)]
    entries += [
        (number, None, True, row) if row is not None else exact(number, True)
        for number, row in enumerate(rows, start=2)
    ]
    if tail < len(data) - 1:  # an unterminated last line
        entries.append(exact(len(rows) + 2, False))
    return entries


def _vouch(
    block: list[tuple[int, Line, bool]],
    with_frames: bool,
    edit_type: str | None,
    use_threads: bool,
    entries: list[_Entry],
) -> None:
    """Append the entries of ``block`` (its lines checked by :func:`_vouch_rows`)."""
    lines = [line for _, line, _ in block]
    rows = _vouch_rows(lines, with_frames, edit_type, use_threads, _BULK_RETRY_LINES)
    for (number, line, terminated), row in zip(block, rows, strict=True):
        entries.append((number, None if row is not None else bytes(line), terminated, row))


def _vouch_rows(
    lines: Sequence[Line],
    with_frames: bool,
    edit_type: str | None,
    use_threads: bool,
    retry: tuple[int, ...],
) -> list[_SummaryRow | None]:
    """:func:`_bulk_rows` of ``lines``; a group pyarrow refuses is retried in parts."""
    wrapped = b'{"r":' + b'}\n{"r":'.join(lines) + b"}\n"
    rows = _bulk_rows(wrapped, len(lines), with_frames, edit_type, use_threads)
    if rows is not None:
        return rows
    parts = [p for p in retry if p < len(lines)]
    if not parts:
        return [None] * len(lines)
    out: list[_SummaryRow | None] = []
    for start in range(0, len(lines), parts[0]):
        part = lines[start : start + parts[0]]
        out += _vouch_rows(part, with_frames, edit_type, use_threads, tuple(parts[1:]))
    return out


@functools.lru_cache(maxsize=4)
def _bulk_schema(with_frames: bool, wrapped: bool) -> Any:
    """The record's keys and types, as the value of ``r`` when the lines are ``wrapped``."""
    import pyarrow as pa

    obj = pa.struct([("bbox_2d", pa.list_(pa.int64())), ("label", pa.string())])
    fields = [
        ("id", pa.string()),
        ("prompt", pa.string()),
        ("edit_type", pa.string()),
        ("round1_labels", pa.list_(pa.string())),
        ("round1_objects", pa.list_(obj)),
    ]
    if with_frames:
        fields.append(("frame_objects", pa.list_(pa.list_(obj))))
    return pa.schema([("r", pa.struct(fields))]) if wrapped else pa.schema(fields)


@functools.lru_cache(maxsize=8)
def _raw_edit_types(edit_type: str) -> tuple[str, ...]:
    """The ``edit_type`` values :func:`canonical_edit_type` maps to ``edit_type``."""
    names = (*METADATA_EDIT_TYPE_ALIASES, *EDIT_TYPES)
    return tuple(n for n in names if canonical_edit_type(n) == edit_type)


def _bulk_rows(
    wrapped: bytes, count: int, with_frames: bool, edit_type: str | None, use_threads: bool
) -> list[_SummaryRow | None] | None:
    """The summary of each line the bulk check vouches for (``None`` for the others), or
    ``None`` when pyarrow refuses the lines as a whole.

    ``wrapped`` holds ``count`` lines, each as ``{"r": <line>}``; pyarrow parses them against
    a schema of exactly the record's keys (an unexpected key anywhere is an error), one row
    per line: so a row is a line that is one JSON object holding only those keys, each at
    most once, with the schema's types (``int64`` boxes: a float, a bool, NaN or an integer
    past 64 bits is refused). With every string valid UTF-8 (``validate(full=True)``) and no
    ``null`` (a missing key reads as ``null``), such a line is one orjson parses to the same
    values. The rest is checked here as the line-by-line path checks it: the id
    (:data:`~sparkle_data.layout._ID_RE`, the file's edit type), the header (as
    :func:`_check_prompt_and_type`), at most 11 frames, every object list listing exactly
    ``round1_labels`` in order, every box ``[]`` or four ints with ``0 <= x1 <= x2 <= 1000``
    and ``0 <= y1 <= y2 <= 1000``: the records where :func:`_objects` keeps every box as it
    is and reports nothing. Any other line is left to that path.
    """
    fields = _parse_lines(wrapped, count, with_frames, use_threads, wrapped=True)
    return None if fields is None else _check_rows(fields, with_frames, edit_type)


def _parse_lines(
    lines: bytes | memoryview, count: int, with_frames: bool, use_threads: bool, *, wrapped: bool
) -> Any:
    """pyarrow's parse of ``count`` lines (see :func:`_bulk_rows`, :func:`_parse_whole`), or
    ``None``: the record's fields, one array per key."""
    import pyarrow as pa
    import pyarrow.json as pj

    try:
        table = pj.read_json(
            pa.BufferReader(pa.py_buffer(lines)),
            read_options=pj.ReadOptions(use_threads=use_threads, block_size=_PARSE_BLOCK),
            parse_options=pj.ParseOptions(
                explicit_schema=_bulk_schema(with_frames, wrapped),
                unexpected_field_behavior="error",
            ),
        )
        table.validate(full=True)  # UTF-8, which the JSON reader does not check
    except pa.ArrowException:
        return None
    if table.num_rows != count:
        return None
    if not wrapped:
        return [column.combine_chunks() for column in table.columns]
    rec = table.column(0).combine_chunks()
    return None if rec.null_count else rec.flatten()  # a line that is null


def _check_rows(
    fields: list[Any], with_frames: bool, edit_type: str | None
) -> list[_SummaryRow | None] | None:
    """The checks of :func:`_bulk_rows` on parsed lines (one array per key): a summary or
    ``None`` per line; ``None`` if some value is ``null`` (which line is then not known)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    ids, prompts, types, labels, round1 = fields[:5]
    label_values = labels.flatten()
    n = len(ids)
    # (object lists, the row of each list): round1_objects, then each frame of frame_objects
    groups: list[tuple[Any, npt.NDArray[np.int64]]] = [(round1, np.arange(n))]
    n_frames = np.ones(n, dtype=np.int64)
    if with_frames:
        n_frames, _ = _list_bounds(fields[5])
        groups.append((fields[5].flatten(), np.repeat(np.arange(n), n_frames)))
    arrays = [*fields, label_values]
    flat = []
    for object_lists, owner in groups:
        objects = object_lists.flatten()
        boxes, object_labels = objects.flatten()
        flat.append((object_lists, owner, objects, boxes, object_labels))
        arrays += [object_lists, objects, boxes, object_labels, boxes.flatten()]
    if any(a.null_count for a in arrays):
        return None  # a missing key or a null somewhere: rare, left to smaller groups
    n_labels, label_start = _list_bounds(labels)
    ok = n_frames <= MAX_GROUNDING_FRAMES
    empty = np.zeros(n, dtype=np.int64)
    box_row = box_area = np.zeros(0, dtype=np.int64)  # the row and area of each box counted
    for object_lists, owner, objects, boxes, object_labels in flat:
        length, start = _list_bounds(object_lists)
        of_list = np.repeat(np.arange(len(length)), length)  # the list of each object
        row = owner[of_list]
        position = np.arange(len(objects)) - start[of_list]
        bad = position >= n_labels[row]  # more objects than labels
        if len(label_values):
            index = np.minimum(label_start[row] + position, len(label_values) - 1)
            same = pc.equal(object_labels, label_values.take(pa.array(index)))
            bad |= ~same.to_numpy(zero_copy_only=False)
        box_len, box_start = _list_bounds(boxes)
        bad |= (box_len != 0) & (box_len != 4)
        boxed = box_len == 4
        four = box_start[boxed]
        area = np.zeros(0, dtype=np.int64)
        if len(four):
            v = boxes.flatten().to_numpy()
            x1, y1, x2, y2 = v[four], v[four + 1], v[four + 2], v[four + 3]
            bad[boxed] |= (
                (x1 < 0) | (y1 < 0) | (x2 > BBOX_SCALE) | (y2 > BBOX_SCALE) | (x1 > x2) | (y1 > y2)
            )
            area = (x2 - x1) * (y2 - y1)  # in [0, 1000**2] on the rows kept
        bad_list = (length != n_labels[owner]) | (
            np.bincount(of_list, weights=bad, minlength=len(length)) > 0
        )
        ok &= np.bincount(owner, weights=bad_list, minlength=n) == 0
        # the slots counted: those of the frames for r2, of round 1 for r1 (the last group)
        empty = np.bincount(row, weights=box_len == 0, minlength=n).astype(np.int64)
        box_row, box_area = row[boxed], area
    max_area, mean_area = _box_areas(box_row, box_area, n)
    # the header, as _check_prompt_and_type and the id checks would find it
    ok &= pc.match_substring_regex(ids, f"^(?:{_ID_RE.pattern})$").to_numpy(zero_copy_only=False)
    if edit_type is not None:
        ok &= pc.starts_with(ids, f"Sparkle_{edit_type}_").to_numpy(zero_copy_only=False)
        raw_ok = pc.is_in(types, value_set=pa.array(_raw_edit_types(edit_type), pa.string()))
        ok &= raw_ok.to_numpy(zero_copy_only=False)
    id_list = ids.to_pylist()
    # a prompt starting with a printable ASCII character is not blank; the others, and the
    # raw edit types when the file's edit type is not given, are checked one by one
    plain = pc.match_substring_regex(prompts, "^[!-~]").to_numpy(zero_copy_only=False)
    for i in np.flatnonzero(ok & ~plain if edit_type is not None else ok).tolist():
        try:
            _check_prompt_and_type(
                parse_sample_id(id_list[i]), prompts[i].as_py(), types[i].as_py(), NOWHERE
            )
        except SparkleError:
            ok[i] = False
    counts = zip(
        id_list,
        n_labels.tolist(),
        n_frames.tolist(),
        empty.tolist(),
        max_area.tolist(),
        mean_area.tolist(),
        strict=True,
    )
    return [row if good else None for row, good in zip(counts, ok.tolist(), strict=True)]


def _box_areas(
    row: npt.NDArray[np.int64], area: npt.NDArray[np.int64], n: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Per row of ``n``: the largest and the mean of the box ``area`` (``[0, 1000]`` units,
    the row of each box in ``row``) as a share of the frame, NaN for a row with no box.

    Exactly the floats of :func:`_summary_of`: ``max / 1e6`` and ``sum / (count * 1e6)``,
    each one correctly rounded division of integers that float64 holds exactly.
    """
    count = np.bincount(row, minlength=n)
    total = np.bincount(row, weights=area, minlength=n)  # exact: integers below 2**53
    largest = np.zeros(n, dtype=np.int64)
    if len(row) and bool((row[1:] >= row[:-1]).all()):  # grouped by row, as built
        starts = np.flatnonzero(np.r_[True, row[1:] != row[:-1]])
        largest[row[starts]] = np.maximum.reduceat(area, starts)
    elif len(row):
        np.maximum.at(largest, row, area)
    has = count > 0
    max_area = np.full(n, np.nan)
    mean_area = np.full(n, np.nan)
    np.divide(largest, float(_BOX_AREA), out=max_area, where=has)
    np.divide(total, count * float(_BOX_AREA), out=mean_area, where=has)
    return max_area, mean_area


def _list_bounds(lists: Any) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Lengths of the lists of a pyarrow list array, and where each starts in ``flatten()``."""
    offsets = lists.offsets.to_numpy().astype(np.int64)
    return np.diff(offsets), offsets[:-1] - offsets[0]


# --------------------------------------------------------------------------- frames, arrays


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
