"""One sample's grounding boxes, read line by line from the record files.

A record file can hold every id of a theme (the round-2 file of the real dataset is large):
its ids are indexed once (newlines and ids only, see :mod:`sparkle_data.readers.lineindex`)
and each sample's line is fetched with one ranged read, then parsed by the grounding reader.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, cast

from sparkle_data.io import fs as sfs
from sparkle_data.layout import parse_sample_id

if TYPE_CHECKING:
    from sparkle_data.catalog import Catalog
    from sparkle_data.layout import RecordName
    from sparkle_data.readers.grounding import GroundingR1Record, GroundingR2Record
    from sparkle_data.readers.lineindex import LineEntry

__all__ = ["GroundingLookup", "boxes_payload"]

_R = TypeVar("_R")


class GroundingLookup:
    """Per-sample access to ``foreground_grounding_r1/r2.jsonl`` of a catalog (thread-safe)."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._indexes: dict[tuple[str, str], dict[str, LineEntry]] = {}
        self._lock = threading.Lock()

    def _line(self, sample_id: str, record: str) -> bytes | None:
        from sparkle_data.readers.lineindex import build_line_index, read_line

        edit_type = parse_sample_id(sample_id).edit_type
        rel = self.catalog.inventory.records.get((edit_type, cast("RecordName", record)))
        if rel is None:
            return None
        where = sfs.join(self.catalog.base, rel)
        with self._lock:
            index = self._indexes.get((edit_type, record))
            if index is None:
                with sfs.open_binary(where, fs=self.catalog.fs) as f:
                    index = build_line_index(f, name=f"{self.catalog.root}/{rel}")
                self._indexes[(edit_type, record)] = index
        entry = index.get(sample_id)
        if entry is None:
            return None
        with sfs.open_binary(where, fs=self.catalog.fs) as f:
            return read_line(f, entry)

    def round1(self, sample_id: str) -> GroundingR1Record | None:
        from sparkle_data.readers.grounding import load_grounding_r1

        return self._record(sample_id, "foreground_grounding_r1", load_grounding_r1)

    def round2(self, sample_id: str) -> GroundingR2Record | None:
        from sparkle_data.readers.grounding import load_grounding_r2

        return self._record(sample_id, "foreground_grounding_r2", load_grounding_r2)

    def _record(
        self, sample_id: str, record: str, load: Callable[..., Sequence[_R]]
    ) -> _R | None:
        line = self._line(sample_id, record)
        if line is None:
            return None
        records = load(io.BytesIO(line), name=f"{record}.jsonl")
        return records[0] if records else None


def boxes_payload(
    r1: GroundingR1Record | None,
    r2: GroundingR2Record | None,
    width: int,
    height: int,
    *,
    num_video_frames: int | None = None,
) -> dict[str, Any]:
    """Pixel boxes for a ``width x height`` source video, as JSON-ready data.

    ``{"width", "height", "labels", "round1": {"frame": 0, "boxes": [...]}, "round2":
    [{"frame": video_frame, "boxes": [...]}, ...]}``; each box is ``{"label", "box"}`` with
    ``box`` ``[x1, y1, x2, y2]`` or ``null`` when the label was not localized.
    """
    from sparkle_data.readers.grounding import boxes_array

    out: dict[str, Any] = {"width": width, "height": height, "labels": [], "round1": None}
    out["round2"] = []
    if r1 is not None:
        arr = boxes_array(r1, width, height)
        out["labels"] = list(r1.round1_labels)
        out["round1"] = {
            "frame": 0,
            "boxes": [
                {"label": label, "box": arr.boxes[j].tolist() if arr.valid[j] else None}
                for j, label in enumerate(arr.labels)
            ],
        }
    if r2 is not None:
        arr2 = boxes_array(r2, width, height, num_video_frames=num_video_frames)
        out["labels"] = list(r2.round1_labels)
        out["round2"] = [
            {
                "frame": int(frame),
                "boxes": [
                    {"label": label, "box": arr2.boxes[f, j].tolist() if arr2.valid[f, j] else None}
                    for j, label in enumerate(arr2.labels)
                ],
            }
            for f, frame in enumerate(arr2.frame_indices)
        ]
    return out
