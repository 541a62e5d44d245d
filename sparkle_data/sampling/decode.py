"""Decode every field of one sample through one plan: the single path from member to tensor.

:func:`decode_sample` is what ``SparkleDataset``, ``SparkleMapDataset`` and
``hf.load_dataset(decode=True)`` call for each sample. Given where the sample's files are
(:class:`SampleFiles`, which :class:`~sparkle_data.catalog.Catalog` is), it

1. opens every video field once (:func:`~sparkle_data.readers.video.open_video`: the header is
   parsed once, planned from, then decoded) and probes every mask;
2. plans the sample (:func:`~sparkle_data.sampling.plan_sample`): frames and geometry;
3. decodes videos (``uint8 (T, 3, H, W)``), masks (``bool (T, H, W)``), frame-0 images
   (``uint8 (3, H, W)``, the reference field's geometry) and grounding boxes (the sample's
   ``foreground_grounding_r2`` line, one ranged read through the catalog's line index) through
   that plan.

Arrays become tensors (or stay numpy, ``DecodeOptions.output``) here and nowhere else.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from typing import IO, Any, Final, Protocol

from sparkle_data.errors import CorruptMaskError, CorruptVideoError, MissingArtifactError
from sparkle_data.layout import ARTIFACTS
from sparkle_data.readers.consistency import (
    check_boxes,
    check_sample_shapes,
    sample_shape_problems,
)
from sparkle_data.readers.grounding import boxes_array, iter_grounding_r2
from sparkle_data.readers.limits import check_decoded_bytes
from sparkle_data.readers.mask import MaskInfo, probe_mask
from sparkle_data.readers.video import VideoFile, open_video
from sparkle_data.sampling._output import Output, to_output
from sparkle_data.sampling.geometry import Resize
from sparkle_data.sampling.options import DecodeOptions
from sparkle_data.sampling.sync import (
    BoxFrames,
    SamplePlan,
    decode_image_field,
    decode_mask_field,
    decode_video_field,
    plan_sample,
    transform_boxes,
)

__all__ = ["BOXES_RECORD", "DECODED_FIELDS", "SampleFiles", "decode_boxes", "decode_sample"]

BOXES_RECORD: Final = "foreground_grounding_r2"
"""The record file whose line gives a sample's ``boxes``."""
DECODED_FIELDS: Final = frozenset({*ARTIFACTS, "boxes"})
"""What :func:`decode_sample` decodes: every per-sample file, and ``boxes``."""

_NATIVE: Final = Resize(division=1)
"""``resize=None``: every field at the reference field's own size (no rounding, no crop)."""
_KINDS: Final = {"mp4": "video", "npz": "mask", "png": "image"}


class SampleFiles(Protocol):
    """Where a sample's files are (what :class:`~sparkle_data.catalog.Catalog` provides)."""

    def open(self, sample_id: str, artifact: str) -> IO[bytes]:
        """A seekable binary file over the artifact."""
        ...

    def name_of(self, sample_id: str, artifact: str) -> str:
        """A display name for error messages."""
        ...

    def read_record_line(self, sample_id: str, record: str) -> tuple[bytes, str]:
        """The sample's line of a record file and a display name for it."""
        ...


def _kind(field: str) -> str:
    spec = ARTIFACTS.get(field)  # type: ignore[call-overload]
    if spec is not None:
        return _KINDS[spec.extension]
    if field == "boxes":
        return "boxes"
    raise ValueError(
        f"Invalid field {field!r}: decode_sample decodes {', '.join(sorted(DECODED_FIELDS))}."
    )


def decode_sample(
    files: SampleFiles,
    sample_id: str,
    fields: Sequence[str],
    options: DecodeOptions | None = None,
    *,
    epoch: int = 0,
    shared_memory: bool = False,
) -> dict[str, Any]:
    """Decode ``fields`` of ``sample_id`` through one :class:`SamplePlan`.

    Returns one entry per field, plus ``frame_indices`` (``int64 (T,)``, the frames decoded)
    whenever a video, a mask or ``boxes`` is requested (boxes are planned on
    ``source_video``'s header when no video is requested). ``shared_memory=True`` (torch
    output) decodes videos and masks into recycled shared memory, for DataLoader workers.
    Shapes: ``docs/train.md``.
    """
    opts = options if options is not None else DecodeOptions()
    kinds = {f: _kind(f) for f in fields}
    videos = [f for f, k in kinds.items() if k == "video"]
    masks = [f for f, k in kinds.items() if k == "mask"]
    images = [f for f, k in kinds.items() if k == "image"]
    boxes = "boxes" in kinds
    probe_only = [] if (videos or not boxes) else ["source_video"]
    # A mask is checked against its source video's header (one header read) when the source
    # video is not decoded anyway; samples without a source video are not checked.
    optional = ["source_video"] if masks and "source_video" not in videos + probe_only else []
    shared = shared_memory and opts.output == "torch"
    out: dict[str, Any] = {}
    plan: SamplePlan | None = None
    with contextlib.ExitStack() as stack:
        opened: dict[str, VideoFile] = {}
        for f in (*videos, *probe_only, *optional):
            try:
                fh = stack.enter_context(files.open(sample_id, f))
            except MissingArtifactError:
                if f in optional:
                    continue
                raise
            name = files.name_of(sample_id, f)
            opened[f] = stack.enter_context(open_video(fh, name=name, sample_id=sample_id))
        handles = {f: stack.enter_context(files.open(sample_id, f)) for f in masks}
        if opened or handles:
            probes: dict[str, VideoFile | MaskInfo] = dict(opened)
            for f, fh in handles.items():
                probes[f] = probe_mask(fh, name=files.name_of(sample_id, f), sample_id=sample_id)
            _check_consistency(files, sample_id, probes, opts)
            plan = plan_sample(
                probes,
                opts.frames,
                opts.resize if opts.resize is not None else _NATIVE,
                frame_mismatch=opts.frame_mismatch,
                epoch=epoch,
                sample_id=sample_id,
            )
            _check_sizes(files, sample_id, plan, videos, masks, opts.max_decoded_bytes)
            out["frame_indices"] = to_output(plan.indices, opts.output, copy=True)
            for f in videos:
                out[f] = decode_video_field(
                    opened[f],
                    plan,
                    f,
                    output=opts.output,
                    layout="TCHW",
                    shared_memory=shared,
                )
            for f in masks:
                out[f] = decode_mask_field(
                    handles[f],
                    plan,
                    f,
                    output=opts.output,
                    name=files.name_of(sample_id, f),
                    shared_memory=shared,
                    max_decoded_bytes=opts.max_decoded_bytes,
                )
    for f in images:
        with files.open(sample_id, f) as fh:
            out[f] = decode_image_field(
                fh,
                plan,
                output=opts.output,
                name=files.name_of(sample_id, f),
                sample_id=sample_id,
            )
    if boxes:
        if plan is None:  # pragma: no cover - boxes are planned on source_video at least
            raise RuntimeError("boxes need a plan")
        line, name = files.read_record_line(sample_id, BOXES_RECORD)
        out["boxes"] = decode_boxes(
            line, plan, name=name, frames=opts.box_frames, output=opts.output
        )
    return out


def _check_consistency(
    files: SampleFiles,
    sample_id: str,
    probes: dict[str, VideoFile | MaskInfo],
    opts: DecodeOptions,
) -> None:
    """The cross-artifact rules (:mod:`sparkle_data.readers.consistency`) on the headers."""
    shapes = {f: p.shape for f, p in probes.items()}
    check_frames = opts.frame_mismatch == "error"
    if sample_shape_problems(shapes, check_frames=check_frames):
        names = {f: files.name_of(sample_id, f) for f in shapes}
        check_sample_shapes(shapes, sample_id=sample_id, names=names, check_frames=check_frames)


def _check_sizes(
    files: SampleFiles,
    sample_id: str,
    plan: SamplePlan,
    videos: Sequence[str],
    masks: Sequence[str],
    limit: int | None,
) -> None:
    """Refuse a field that would decode to more than ``limit`` bytes, before decoding it."""
    if limit is None:
        return
    n = len(plan.indices)
    for fields, error, channels in ((videos, CorruptVideoError, 3), (masks, CorruptMaskError, 1)):
        for f in fields:
            geometry = plan.geometry_of(f)
            # Masks are read at full size, then cropped; videos are resized while decoding.
            h, w = geometry.source_size if channels == 1 else geometry.output_size
            if n * channels * h * w <= limit:
                continue
            path, _, member = files.name_of(sample_id, f).partition("::")
            check_decoded_bytes(
                n * channels * h * w,
                limit,
                error=error,
                what=f,
                shape=(n, channels, h, w) if channels == 3 else (n, h, w),
                path=path,
                member=member or None,
                sample_id=sample_id,
            )


def decode_boxes(
    line: bytes,
    plan: SamplePlan,
    *,
    name: str | None = None,
    frames: BoxFrames = "exact",
    output: Output = "torch",
) -> dict[str, Any]:
    """One ``foreground_grounding_r2`` record line mapped into the planned clip.

    Parsed by the grounding reader (its rules), scaled from the reference field's pixels
    (:func:`~sparkle_data.sampling.transform_boxes`): ``boxes`` ``(F, L, 4)``, ``valid``
    ``(F, L)``, ``frame_positions`` ``(F,)`` (positions in the clip) and ``labels``.
    """
    (record,) = list(iter_grounding_r2(io.BytesIO(line + b"\n"), name=name or "<record line>"))
    h, w = plan.geometry_of(plan.reference).source_size
    arr = boxes_array(record, w, h, num_video_frames=plan.available[plan.reference])
    check_boxes(arr, (plan.available[plan.reference], h, w), name=name, sample_id=plan.sample_id)
    mapped = transform_boxes(arr, plan, frames=frames)
    return {
        "boxes": to_output(mapped.boxes, output, copy=True),
        "valid": to_output(mapped.valid, output, copy=True),
        "frame_positions": to_output(mapped.frame_indices, output, copy=True),
        "labels": list(mapped.labels),
    }
