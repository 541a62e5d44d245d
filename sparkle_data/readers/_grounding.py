"""The grounding record rules shared by the record readers and the bulk summary (private).

Labels: ``round1_objects`` and every ``frame_objects`` entry are aligned to ``round1_labels``.
An entry whose labels equal ``round1_labels`` in order is taken as is. When the labels are
unique, an entry that lists them in another order, or lists only some of them, is realigned
by label and the labels it omits read as not localised (``bbox=None``), like ``bbox_2d: []``.
A label that is not in ``round1_labels``, a label listed twice, or a reordered/partial entry
when ``round1_labels`` itself repeats a label is an error (reason ``label_mismatch``).

:func:`converter` validates one parsed line into :data:`GroundingValues` (the box problems
are returned, not raised, so the caller counts them only for records it keeps);
:func:`summary_of` is the summary-table row of such values. Box rules: :mod:`.boxes`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Final

from sparkle_data.errors import CorruptRecordError
from sparkle_data.layout import (
    BBOX_SCALE,
    FPS,
    GROUNDING_FPS,
    MAX_FRAMES,
    EditType,
    SampleId,
)
from sparkle_data.readers._fields import (
    MISSING,
    RecordWhere,
    check_raw_edit_type,
    check_text,
    wrong_type,
)
from sparkle_data.readers.boxes import BadBoxError, BBox, box_error, check_bbox

__all__ = [
    "BOX_AREA",
    "MAX_GROUNDING_FRAMES",
    "GroundingValues",
    "Problems",
    "Slots",
    "SummaryRow",
    "check_frame_count",
    "check_header",
    "check_prompt_and_type",
    "converter",
    "label_error",
    "summary_of",
]

MAX_GROUNDING_FRAMES: Final = len(range(0, MAX_FRAMES, FPS // GROUNDING_FPS))
"""11: an 81-frame 16 fps video sampled at 2 FPS gives frames 0, 8, ..., 80."""


def label_error(field: str, value: object, rule: str, where: RecordWhere) -> CorruptRecordError:
    return where.invalid(CorruptRecordError, field, value, rule=rule, reason="label_mismatch")


def _align(
    found: list[str], labels: tuple[str, ...], field: str, where: RecordWhere
) -> list[int | None]:
    """For each label slot, the index of its object in ``found`` (``None``: not listed)."""
    if tuple(found) == labels:
        return list(range(len(labels)))
    if not found:
        return [None] * len(labels)
    if len(set(labels)) != len(labels):
        raise label_error(
            field,
            found,
            "labels differ from round1_labels, which repeats a label, so they cannot be "
            "realigned by name",
            where,
        )
    position: dict[str, int] = {}
    for j, label in enumerate(found):
        if label not in labels:
            raise label_error(f"{field}[{j}].label", label, "is not one of round1_labels", where)
        if label in position:
            raise label_error(f"{field}[{j}].label", label, "is listed twice", where)
        position[label] = j
    return [position.get(label) for label in labels]


Problems = list[CorruptRecordError]


def _objects(
    raw: object, labels: tuple[str, ...], field: str, where: RecordWhere, problems: Problems
) -> Slots:
    """Validate a list of ``{"bbox_2d", "label"}`` objects; boxes aligned to ``labels``.

    Box problems are appended to ``problems`` (with their lenient repair kept in the result);
    structural problems raise. The common case (every object well formed, labels in
    ``round1_labels`` order, every box valid) is one pass of comprehensions; anything else
    takes the object-by-object path, which applies the same checks and says what is wrong.
    """
    if type(raw) is list:
        try:
            found = tuple([item["label"] for item in raw])
            boxes = [check_bbox(item["bbox_2d"]) for item in raw]
        except (TypeError, KeyError, BadBoxError):
            pass
        else:
            if found == labels:
                return tuple(boxes)
    return _objects_one_by_one(raw, labels, field, where, problems)


def _objects_one_by_one(
    raw: object, labels: tuple[str, ...], field: str, where: RecordWhere, problems: Problems
) -> Slots:
    if type(raw) is not list:
        raise wrong_type(raw, where, field, "an array")
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
            box = check_bbox(bbox)
        except BadBoxError as bad:
            if bbox is MISSING:
                raise where.invalid(
                    CorruptRecordError,
                    f"{field}[{j}].bbox_2d",
                    bbox,
                    rule="required field is missing",
                    reason="invalid_field",
                ) from None
            problems.append(box_error(bbox, bad, f"{field}[{j}].bbox_2d", where))
            box = bad.repaired
        found.append(label)
        boxes.append(box)
    slots = _align(found, labels, field, where)
    return tuple(None if s is None else boxes[s] for s in slots)


def check_header(
    sid: SampleId, prompt: object, edit_type: object, labels: object, where: RecordWhere
) -> tuple[str, EditType, tuple[str, ...]]:
    """``prompt``, ``edit_type`` (canonical, must match the id) and ``round1_labels``."""
    prompt_text, canonical = check_prompt_and_type(sid, prompt, edit_type, where)
    if not isinstance(labels, (list, tuple)):
        raise wrong_type(labels, where, "round1_labels", "an array")
    for j, label in enumerate(labels):
        if type(label) is not str:  # the f-string below only on the slow path
            check_text(label, where, f"round1_labels[{j}]")
    return prompt_text, canonical, tuple(labels)


def check_prompt_and_type(
    sid: SampleId, prompt: object, edit_type: object, where: RecordWhere
) -> tuple[str, EditType]:
    """``prompt`` (non-empty) and ``edit_type`` (canonical, must match the id)."""
    prompt_text = check_text(prompt, where, "prompt", nonempty=True)
    return prompt_text, check_raw_edit_type(edit_type, sid, where, "edit_type")



Slots = tuple[BBox | None, ...]
"""Boxes aligned to ``round1_labels`` (``None``: not localized)."""
GroundingValues = tuple[
    str, str, EditType, tuple[str, ...], Slots, tuple[Slots, ...] | None, Problems
]
"""Validated id, prompt, edit type, labels, round-1 boxes, frame boxes (r2), box problems."""
_GroundingConvert = Callable[[dict[str, object], SampleId, RecordWhere], GroundingValues]


def check_frame_count(count: int, where: RecordWhere) -> None:
    if count > MAX_GROUNDING_FRAMES:
        raise where.invalid(
            CorruptRecordError,
            "frame_objects",
            f"<{count} frames>",
            rule=f"a video of at most {MAX_FRAMES} frames has at most "
            f"{MAX_GROUNDING_FRAMES} frames at {GROUNDING_FPS} FPS",
            reason="invalid_frames",
        )


def converter(with_frames: bool) -> _GroundingConvert:
    def convert(obj: dict[str, object], sid: SampleId, where: RecordWhere) -> GroundingValues:
        prompt, edit_type, labels = check_header(
            sid,
            obj.get("prompt", MISSING),
            obj.get("edit_type", MISSING),
            obj.get("round1_labels", MISSING),
            where,
        )
        problems: Problems = []
        round1 = _objects(
            obj.get("round1_objects", MISSING), labels, "round1_objects", where, problems
        )
        frames: tuple[Slots, ...] | None = None
        if with_frames:
            raw = obj.get("frame_objects", MISSING)
            if type(raw) is not list:
                raise wrong_type(raw, where, "frame_objects", "an array")
            check_frame_count(len(raw), where)
            frames = tuple(
                _objects(f, labels, f"frame_objects[{i}]", where, problems)
                for i, f in enumerate(raw)
            )
        return str(sid), prompt, edit_type, labels, round1, frames, problems

    return convert


SummaryRow = tuple[str, int, int, int, float, float]
"""``sample_id``, ``num_labels``, ``num_frames``, ``num_empty_boxes``, ``max_box_area``,
``mean_box_area`` of a kept record."""

BOX_AREA: Final = BBOX_SCALE * BBOX_SCALE
"""The area of the whole frame in ``[0, 1000]`` units."""


def summary_of(values: GroundingValues) -> SummaryRow:
    """The summary of a record validated by the line-by-line path."""
    sid, _, _, labels, round1, frames, _ = values
    slots = (round1,) if frames is None else frames
    areas = [(b[2] - b[0]) * (b[3] - b[1]) for f in slots for b in f if b is not None]
    max_area = max(areas) / BOX_AREA if areas else math.nan
    mean_area = sum(areas) / (len(areas) * BOX_AREA) if areas else math.nan
    return sid, len(labels), len(slots), sum(f.count(None) for f in slots), max_area, mean_area


