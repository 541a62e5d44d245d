"""Assemble one training sample from a catalog row: pair by id, plan once, decode each field.

Pairing is by sample id through the catalog (each field is located on its own: loose file or
shard member), never by position in a shard. One :class:`~sparkle_data.sampling.SamplePlan`
per sample fixes frames and geometry for every video field, the mask, the frame-0 images and
the boxes.
"""

from __future__ import annotations

import contextlib
import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import IO, Any, Literal

import numpy as np

from sparkle_data.catalog.model import Catalog
from sparkle_data.catalog.table import METADATA_COLUMNS, SCORE_COLUMNS
from sparkle_data.dataset.fields import IMAGE_FIELDS, MASK_FIELDS, VIDEO_FIELDS, Field
from sparkle_data.errors import MissingArtifactError
from sparkle_data.io import fs as sfs
from sparkle_data.io.remote import read_range
from sparkle_data.layout import record_path
from sparkle_data.readers.grounding import boxes_array, iter_grounding_r2
from sparkle_data.readers.image import read_png
from sparkle_data.readers.lineindex import LineEntry, build_line_index
from sparkle_data.sampling import (
    BoxFrames,
    FrameMismatch,
    FrameSampler,
    Resize,
    SamplePlan,
    decode_mask_field,
    decode_video_field,
    plan_sample,
    probe_fields,
    transform_boxes,
)

__all__ = ["SampleLoader"]

Output = Literal["torch", "numpy"]

_NATIVE = Resize(division=1)
"""``resize=None``: every field at the reference field's own size (no rounding, no crop)."""
_METADATA_COLUMNS = ("prompt", *METADATA_COLUMNS)


def _plain(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


@dataclass
class SampleLoader:
    """Loads samples of one catalog with fixed options (picklable into DataLoader workers)."""

    catalog: Catalog
    fields: tuple[Field, ...]
    frames: FrameSampler | None = None
    resize: Resize | None = None
    frame_mismatch: FrameMismatch = "error"
    box_frames: BoxFrames = "exact"
    output: Output = "torch"
    _lines: dict[str, dict[str, LineEntry]] = field(default_factory=dict, repr=False)

    def load(self, sample_id: str, *, epoch: int = 0) -> dict[str, Any]:
        """The sample's requested fields (see ``docs/train.md`` for shapes and dtypes)."""
        cat = self.catalog
        row = cat.table.loc[sample_id]
        out: dict[str, Any] = {"sample_id": sample_id, "edit_type": str(row["edit_type"])}
        wanted = set(self.fields)
        videos = [f for f in self.fields if f in VIDEO_FIELDS]
        masks = [f for f in self.fields if f in MASK_FIELDS]
        images = [f for f in self.fields if f in IMAGE_FIELDS]
        probe_only = [] if (videos or "boxes" not in wanted) else ["source_video"]
        with contextlib.ExitStack() as stack:
            handles: dict[str, IO[bytes]] = {
                f: stack.enter_context(cat.open(sample_id, f))
                for f in (*videos, *probe_only, *masks)
            }
            plan: SamplePlan | None = None
            if handles:
                probes = probe_fields(
                    {f: handles[f] for f in (*videos, *probe_only)},
                    {f: handles[f] for f in masks},
                    sample_id=sample_id,
                )
                plan = plan_sample(
                    probes,
                    self.frames,
                    self.resize if self.resize is not None else _NATIVE,
                    frame_mismatch=self.frame_mismatch,
                    epoch=epoch,
                    sample_id=sample_id,
                )
                out["frame_indices"] = self._tensor(plan.indices.copy())
                for f in videos:
                    out[f] = self._decode(decode_video_field, handles[f], plan, f, sample_id)
                for f in masks:
                    out[f] = self._decode(decode_mask_field, handles[f], plan, f, sample_id)
        for f in images:
            out[f] = self._image(sample_id, f, plan)
        if "boxes" in wanted:
            out["boxes"] = self._boxes(sample_id, plan)
        if "scores" in wanted:
            out["scores"] = {c: _plain(row.get(c)) for c in SCORE_COLUMNS}
        if "metadata" in wanted:
            out["metadata"] = {c: _plain(row.get(c)) for c in _METADATA_COLUMNS}
        return out

    # ------------------------------------------------------------------ helpers
    def _decode(
        self, fn: Callable[..., Any], fh: IO[bytes], plan: SamplePlan, f: str, sample_id: str
    ) -> Any:
        kwargs: dict[str, Any] = {"output": self.output}
        shared = self.output == "torch" and _in_worker()
        if fn is decode_video_field:
            kwargs["layout"] = "TCHW"
            # In a DataLoader worker, decode into shared memory: the tensor is then sent to the
            # main process as is, instead of being copied into shared memory when it is sent.
            kwargs["shared_memory"] = shared
        out = fn(fh, plan, f, name=self.catalog.name_of(sample_id, f), **kwargs)
        if shared and fn is decode_mask_field:
            # One copy into a recycled shared buffer (compact even when the mask is a crop
            # view) instead of PyTorch's fresh shared memory at send time.
            from sparkle_data.io.shm import shared_empty

            out = shared_empty(tuple(out.shape), dtype=out.dtype).copy_(out)
        return out

    def _tensor(self, array: np.ndarray[Any, Any]) -> Any:
        if self.output == "numpy":
            return array
        import torch

        return torch.from_numpy(np.ascontiguousarray(array))

    def _image(self, sample_id: str, f: str, plan: SamplePlan | None) -> Any:
        with self.catalog.open(sample_id, f) as fh:
            img = read_png(fh, name=self.catalog.name_of(sample_id, f), sample_id=sample_id)
        if plan is not None:
            g = plan.geometry_of(plan.reference)
            if g.resizes or (img.shape[0], img.shape[1]) != g.source_size:
                img = _resize_image(img, g.resize)
            rows, cols = g.crop_slices()
            img = img[rows, cols]
        chw = np.ascontiguousarray(img.transpose(2, 0, 1))
        if self.output == "numpy":
            return chw
        import torch

        return torch.from_numpy(chw)

    def prepare(self, sample_ids: Sequence[str]) -> None:
        """Do the per-theme work once, before DataLoader workers start (they inherit it):
        the line index of ``foreground_grounding_r2.jsonl`` of every theme in ``sample_ids``
        when ``boxes`` is requested. Otherwise each worker would read the whole file (a
        download per worker on a remote root) on its first sample."""
        if "boxes" in self.fields:
            for edit_type in sorted({sid.split("_")[1] for sid in sample_ids}):
                self._line_index(edit_type)

    def _line_index(self, edit_type: str) -> dict[str, LineEntry]:
        if edit_type not in self._lines:
            rel = record_path(edit_type, "foreground_grounding_r2")
            if (edit_type, "foreground_grounding_r2") not in self.catalog.inventory.records:
                self._lines[edit_type] = {}
            else:
                with sfs.open_binary(sfs.join(self.catalog.base, rel), fs=self.catalog.fs) as fh:
                    self._lines[edit_type] = build_line_index(fh, name=f"{self.catalog.root}/{rel}")
        return self._lines[edit_type]

    def _boxes(self, sample_id: str, plan: SamplePlan | None) -> dict[str, Any]:
        edit_type = sample_id.split("_")[1]
        entry = self._line_index(edit_type).get(sample_id)
        rel = record_path(edit_type, "foreground_grounding_r2")
        if entry is None or plan is None:
            raise MissingArtifactError.invalid(
                "field",
                "boxes",
                rule=f"no line for this sample in {rel}",
                path=self.catalog.root,
                sample_id=sample_id,
            )
        # one exact ranged read of the line (a buffered file would fetch a whole block)
        line = read_range(
            sfs.join(self.catalog.base, rel), entry.offset, entry.length, fs=self.catalog.fs
        )
        name = f"{self.catalog.root}/{rel} (line {entry.line})"
        (record,) = list(iter_grounding_r2(io.BytesIO(line + b"\n"), name=name))
        h, w = plan.geometry_of(plan.reference).source_size
        ref_frames = plan.available[plan.reference]
        arr = boxes_array(record, w, h, num_video_frames=ref_frames)
        mapped = transform_boxes(arr, plan, frames=self.box_frames)
        return {
            "boxes": self._tensor(mapped.boxes.copy()),
            "valid": self._tensor(mapped.valid.copy()),
            "frame_positions": self._tensor(mapped.frame_indices.copy()),
            "labels": list(mapped.labels),
        }


def _in_worker() -> bool:
    from torch.utils.data import get_worker_info

    return get_worker_info() is not None


def _resize_image(img: np.ndarray[Any, Any], size: tuple[int, int]) -> np.ndarray[Any, Any]:
    """Resize one RGB frame (a single image: PIL's area-aware bilinear is fine here)."""
    from PIL import Image

    h, w = size
    return np.asarray(Image.fromarray(img).resize((w, h), Image.Resampling.BILINEAR))
