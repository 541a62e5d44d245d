"""The fields a Sparkle sample can carry, and what each is made from."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, Literal, get_args

__all__ = [
    "DEFAULT_FIELDS",
    "FIELDS",
    "FILE_FIELDS",
    "IMAGE_FIELDS",
    "MASK_FIELDS",
    "VIDEO_FIELDS",
    "Field",
    "check_fields",
]

Field = Literal[
    "source_video",
    "edited_video",
    "source_video_mask",
    "edited_background_video",
    "edited_video_canny",
    "source_frame0",
    "edited_frame0",
    "edited_frame0_foreground_removed",
    "boxes",
    "scores",
    "metadata",
]
FIELDS: Final[tuple[Field, ...]] = get_args(Field)
VIDEO_FIELDS: Final = frozenset(
    {"source_video", "edited_video", "edited_background_video", "edited_video_canny"}
)
MASK_FIELDS: Final = frozenset({"source_video_mask"})
IMAGE_FIELDS: Final = frozenset(
    {"source_frame0", "edited_frame0", "edited_frame0_foreground_removed"}
)
FILE_FIELDS: Final = VIDEO_FIELDS | MASK_FIELDS | IMAGE_FIELDS
"""The fields read from one file each (the others come from the records and the catalog)."""
DEFAULT_FIELDS: Final[tuple[Field, ...]] = ("source_video", "edited_video", "metadata")


def check_fields(fields: Sequence[str]) -> tuple[Field, ...]:
    """Validate and de-duplicate requested fields, keeping their order."""
    if isinstance(fields, str):
        fields = [fields]
    out: list[Field] = []
    for f in fields:
        if f not in FIELDS:
            raise ValueError(
                f"Invalid field {f!r}: must be one of {', '.join(FIELDS)}. "
                "Video fields decode to uint8 (T, C, H, W); source_video_mask to bool (T, H, W)."
            )
        if f not in out:
            out.append(f)
    if not out:
        raise ValueError("Invalid fields []: request at least one field.")
    return tuple(out)
