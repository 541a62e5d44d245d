"""The grounding records: :class:`GroundedObject`, :class:`GroundingR1Record`,
:class:`GroundingR2Record` (read them with :mod:`sparkle_data.readers.grounding`, which also
re-exports them)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sparkle_data.errors import CorruptRecordError
from sparkle_data.layout import EditType
from sparkle_data.readers._fields import NOWHERE, RecordWhere, check_sample_id, check_text
from sparkle_data.readers._grounding import check_frame_count, check_header, label_error
from sparkle_data.readers.boxes import BadBoxError, BBox, box_error, check_bbox

__all__ = ["GroundedObject", "GroundingR1Record", "GroundingR2Record"]


@dataclass(frozen=True, slots=True)
class GroundedObject:
    """One grounded label; ``bbox`` is ``None`` when the VLM did not localise it."""

    label: str
    bbox: BBox | None

    def __post_init__(self) -> None:
        check_text(self.label, NOWHERE, "label")
        try:
            box = check_bbox(() if self.bbox is None else self.bbox)
        except BadBoxError as bad:
            raise box_error(self.bbox, bad, "bbox", NOWHERE) from None
        object.__setattr__(self, "bbox", box)

    @property
    def localized(self) -> bool:
        return self.bbox is not None



def _check_aligned(
    objects: Sequence[GroundedObject], labels: tuple[str, ...], field: str, where: RecordWhere
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
        raise label_error(
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
        _, edit_type, labels = check_header(
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
        check_frame_count(len(frames), where)
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


