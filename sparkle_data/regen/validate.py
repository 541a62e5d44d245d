"""Check a stage's output bytes before they count as done: it decodes, with the right shape
and frame count. A file reaches its final name only after this check (then atomically), so
a file under a final name is a finished one."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sparkle_data.errors import CorruptArtifactError
from sparkle_data.layout import artifact_spec
from sparkle_data.readers.image import read_png
from sparkle_data.readers.mask import read_mask
from sparkle_data.readers.video import read_video

__all__ = ["ExpectedShape", "validate_output"]


@dataclass(frozen=True, slots=True)
class ExpectedShape:
    """The size every per-sample output of a sample must have (the source video's)."""

    num_frames: int
    height: int
    width: int


def validate_output(
    artifact: str, data: bytes, expected: ExpectedShape, *, sample_id: str | None = None
) -> None:
    """Raise :class:`~sparkle_data.errors.CorruptArtifactError` unless ``data`` is a valid
    ``artifact`` of the expected size (videos: every frame decodes)."""
    ext = artifact_spec(artifact).extension
    name = f"<regenerated {artifact}>"
    e = expected
    if ext == "png":
        shape: tuple[int, ...] = read_png(data, name=name, sample_id=sample_id).shape
        want: tuple[int, ...] = (e.height, e.width, 3)
    elif ext == "mp4":
        shape = read_video(data, name=name, sample_id=sample_id).shape
        if artifact == "edited_background_video" and shape[0] >= e.num_frames:
            shape = (e.num_frames, *shape[1:])  # Stage 3 renders 81 frames for any source
        want = (e.num_frames, e.height, e.width, 3)
    elif ext == "npz":
        mask = read_mask(data, name=name, sample_id=sample_id)
        shape = mask.shape
        want = (e.num_frames, e.height, e.width)
        if mask.dtype != np.bool_:
            shape = ()
    else:  # pragma: no cover - the layout has no other extension
        raise ValueError(f"Invalid artifact extension {ext!r}.")
    if tuple(shape) != want:
        raise CorruptArtifactError.invalid(
            f"regenerated {artifact} shape",
            tuple(shape),
            rule=f"must be {want}",
            sample_id=sample_id,
            hint="The stage produced a malformed output; it was not written.",
        )
