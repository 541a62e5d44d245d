"""One :class:`SamplePlan` per sample, applied identically to every field.

A plan is computed once from the *headers* of a sample's fields (``probe_video`` /
``probe_mask``: no frame is decoded), then each field is decoded through it:

* :func:`decode_video_field`: ``read_video(indices=plan.indices, height=, width=)`` so that
  only the planned frames are converted and swscale resizes them, then the crop (a view);
* :func:`decode_mask_field`: ``read_mask(frames=plan.indices)`` (only those frames' bytes),
  then a nearest-neighbour resize and the same crop with numpy index arrays (no PIL);
* :func:`transform_boxes`: grounding boxes scaled, shifted and clipped into the output frame.

Frame counts that disagree (source 81, edited 77, mask 81) follow ``frame_mismatch``:
``"error"`` (default) raises :class:`~sparkle_data.sampling.FieldMismatchError` naming every
count; ``"min"`` samples from the frames every field has (``0..76`` here). Frames are never
padded or repeated. Each decode also checks that the file still has the probed frame count.

Grounding frames (``foreground_grounding_r2``: video frames ``0, 8, ..., 80``) rarely all fall
on sampled frames. :func:`transform_boxes` keeps, with ``frames="exact"`` (default), only the
grounding frames that were sampled, at their position in the output clip; with
``frames="nearest"``, one row per output frame, taken from the nearest grounding frame within
``max_gap`` video frames (default: half the grounding interval, 4 at 16 fps / 2 FPS; ties go
to the earlier frame) and marked not valid beyond it. Copied boxes lag a moving object by up
to ``max_gap`` frames.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Final, Literal, Protocol, TypedDict, get_args, overload

import numpy as np
import numpy.typing as npt

from sparkle_data.io.shm import shared_empty
from sparkle_data.readers.grounding import BoxesArray
from sparkle_data.readers.image import read_png
from sparkle_data.readers.limits import DEFAULT_MAX_DECODED_BYTES
from sparkle_data.readers.mask import MaskInfo, probe_mask, read_mask
from sparkle_data.readers.video import (
    DecodeKeywords,
    Interpolation,
    Layout,
    Source,
    VideoFile,
    VideoInfo,
    open_video,
    probe_video,
)
from sparkle_data.sampling._checks import check_choice, check_int, check_optional_int
from sparkle_data.sampling._errors import FieldMismatchError
from sparkle_data.sampling._output import Output, to_output
from sparkle_data.sampling.frames import FrameSampler
from sparkle_data.sampling.geometry import Geometry, Resize, plan_geometry

if TYPE_CHECKING:
    import torch
    from typing_extensions import Unpack

__all__ = [
    "BOX_FRAME_CHOICES",
    "FRAME_MISMATCH_CHOICES",
    "BoxFrames",
    "FrameMismatch",
    "HasShape",
    "SamplePlan",
    "decode_image_field",
    "decode_mask_field",
    "decode_video_field",
    "plan_sample",
    "probe_fields",
    "transform_boxes",
]

FrameMismatch = Literal["min", "error"]
FRAME_MISMATCH_CHOICES: Final[tuple[FrameMismatch, ...]] = get_args(FrameMismatch)
BoxFrames = Literal["exact", "nearest"]
BOX_FRAME_CHOICES: Final[tuple[BoxFrames, ...]] = get_args(BoxFrames)


class HasShape(Protocol):
    """Anything with a ``(T, H, W)`` ``shape``: :class:`VideoInfo`, :class:`MaskInfo`."""

    @property
    def shape(self) -> tuple[int, int, int]: ...


FieldSpec = HasShape | tuple[int, int, int]


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class SamplePlan:
    """The frames and the geometry of every field of one sample (prints shapes, not data).

    ``indices``: sorted unique ``int64`` frame indices, the same for every field.
    ``geometry``: one :class:`Geometry` per field, all with the same output size.
    ``available``: each field's frame count, as probed (a decode checks the file still has it).
    ``reference``: the field whose size set the target and whose pixels grounding boxes use.
    """

    indices: npt.NDArray[np.int64]
    geometry: Mapping[str, Geometry]
    available: Mapping[str, int]
    reference: str
    sample_id: str | None = None

    def __post_init__(self) -> None:
        idx = np.asarray(self.indices)
        if idx.ndim != 1 or idx.dtype.kind not in "iu" or idx.size == 0:
            raise ValueError(
                f"Invalid indices {idx.dtype}{list(idx.shape)}: must be a non-empty 1-D int array."
            )
        idx = idx.astype(np.int64)
        idx.setflags(write=False)
        if set(self.geometry) != set(self.available):
            raise ValueError(
                f"Invalid SamplePlan: geometry fields {sorted(self.geometry)} differ from "
                f"available fields {sorted(self.available)}."
            )
        if self.reference not in self.geometry:
            raise ValueError(f"Invalid reference {self.reference!r}: not a field of the plan.")
        shortest = min(self.available.values())
        if np.any(np.diff(idx) <= 0) or idx[0] < 0 or idx[-1] >= shortest:
            raise ValueError(
                f"Invalid indices: must be sorted, unique and within 0..{shortest - 1}."
            )
        sizes = {g.output_size for g in self.geometry.values()}
        if len(sizes) != 1:
            raise ValueError(f"Invalid SamplePlan: fields have different output sizes {sizes}.")
        object.__setattr__(self, "indices", idx)
        object.__setattr__(self, "geometry", MappingProxyType(dict(self.geometry)))
        object.__setattr__(self, "available", MappingProxyType(dict(self.available)))

    @property
    def num_frames(self) -> int:
        """``T``, the number of frames every decoded field has."""
        return int(self.indices.size)

    @property
    def size(self) -> tuple[int, int]:
        """``(H, W)`` of every decoded field."""
        return self.geometry[self.reference].output_size

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(T, H, W)``: what bucketing by shape compares."""
        return (self.num_frames, *self.size)

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(self.geometry)

    def geometry_of(self, field: str) -> Geometry:
        try:
            return self.geometry[field]
        except KeyError:
            raise KeyError(
                f"Invalid field {field!r}: the plan covers {', '.join(self.geometry)}."
            ) from None

    def __repr__(self) -> str:
        sid = f", sample_id={self.sample_id!r}" if self.sample_id is not None else ""
        fields = ", ".join(
            f"{name}: {g.source_size[1]}x{g.source_size[0]}x{self.available[name]}"
            for name, g in self.geometry.items()
        )
        t, h, w = self.shape
        return (
            f"SamplePlan(shape=(T={t}, H={h}, W={w}), indices=int64[{t}], "
            f"fields={{{fields}}}, reference={self.reference!r}{sid})"
        )


def _shape(name: str, spec: FieldSpec) -> tuple[int, int, int]:
    shape = spec if isinstance(spec, tuple) else spec.shape
    if not isinstance(shape, tuple) or len(shape) != 3:
        raise TypeError(f"Invalid field {name!r}: {spec!r} has no (T, H, W) shape.")
    t, h, w = (check_int(f"{name} shape", v, 1) for v in shape)
    return t, h, w


def plan_sample(
    fields: Mapping[str, FieldSpec],
    frames: FrameSampler | None = None,
    resize: Resize | None = None,
    *,
    reference: str | None = None,
    frame_mismatch: FrameMismatch = "error",
    epoch: int = 0,
    sample_id: str | int | None = None,
) -> SamplePlan:
    """Plan one sample from its fields' ``(T, H, W)`` (probes or tuples), before any decode.

    ``fields`` maps names (``"source_video"``, ``"edited_video"``, ``"source_video_mask"``...)
    to a :class:`VideoInfo`, a :class:`MaskInfo` or a ``(T, H, W)`` tuple. ``frames`` defaults
    to every frame, ``resize`` to ``Resize()``. ``reference`` defaults to ``"source_video"``
    when present, else the first field. ``epoch`` and ``sample_id`` seed random windows.

    Raises :class:`~sparkle_data.sampling.FieldMismatchError` for frame counts or sizes that
    disagree under an ``"error"`` policy, :class:`~sparkle_data.sampling.ShortClipError` when
    the clip is too short for ``frames`` with ``on_short="error"``.
    """
    check_choice("frame_mismatch", frame_mismatch, FRAME_MISMATCH_CHOICES)
    if not fields:
        raise ValueError("Invalid fields {}: give at least one field.")
    shapes = {name: _shape(name, spec) for name, spec in fields.items()}
    sid = None if sample_id is None else str(sample_id)
    counts = {name: t for name, (t, _, _) in shapes.items()}
    if len(set(counts.values())) > 1 and frame_mismatch == "error":
        raise FieldMismatchError.invalid(
            "frame counts",
            counts,
            rule="the fields of one sample must have the same number of frames",
            hint="Pass frame_mismatch='min' to sample from the frames all fields have.",
            sample_id=sid,
        )
    sampler = frames or FrameSampler()
    indices = sampler.select(min(counts.values()), epoch=epoch, sample_id=sample_id)
    geometry = plan_geometry(
        {name: (h, w) for name, (_, h, w) in shapes.items()},
        resize,
        reference=reference,
        sample_id=sid,
    )
    ref = reference if reference is not None else _default_reference(shapes)
    return SamplePlan(indices, geometry, counts, ref, sid)


def _default_reference(fields: Mapping[str, object]) -> str:
    return "source_video" if "source_video" in fields else next(iter(fields))


def probe_fields(
    videos: Mapping[str, Source] | None = None,
    masks: Mapping[str, Source] | None = None,
    *,
    sample_id: str | None = None,
) -> dict[str, VideoInfo | MaskInfo]:
    """Probe each video (``probe_video``) and mask (``probe_mask``): headers only.

    The result, in the order given (videos first), feeds :func:`plan_sample`.
    """
    out: dict[str, VideoInfo | MaskInfo] = {}
    for name, source in (videos or {}).items():
        out[name] = probe_video(source, sample_id=sample_id)
    for name, source in (masks or {}).items():
        if name in out:
            raise ValueError(f"Invalid field {name!r}: given both as a video and as a mask.")
        out[name] = probe_mask(source, sample_id=sample_id)
    return out


# --------------------------------------------------------------------------- decoding


def _crop_index(geometry: Geometry, ndim: int, rows_axis: int) -> tuple[slice, ...]:
    rows, cols = geometry.crop_slices()
    index: list[slice] = [slice(None)] * ndim
    index[rows_axis], index[rows_axis + 1] = rows, cols
    return tuple(index)


def _crop_view(
    array: npt.NDArray[np.generic], geometry: Geometry, rows_axis: int
) -> npt.NDArray[np.generic]:
    if not geometry.crops:
        return array
    return array[_crop_index(geometry, array.ndim, rows_axis)]


class _VideoFieldKeywords(TypedDict, total=False):
    """The keyword arguments of :func:`decode_video_field` besides ``output`` (overloads)."""

    layout: Layout | None
    interpolation: Interpolation
    threads: int
    contiguous: bool
    name: str | None
    shared_memory: bool


@overload
def decode_video_field(
    source: Source | VideoFile,
    plan: SamplePlan,
    field: str,
    *,
    output: Literal["torch"] = ...,
    **options: Unpack[_VideoFieldKeywords],
) -> torch.Tensor: ...
@overload
def decode_video_field(
    source: Source | VideoFile,
    plan: SamplePlan,
    field: str,
    *,
    output: Literal["numpy"],
    **options: Unpack[_VideoFieldKeywords],
) -> npt.NDArray[np.uint8]: ...
def decode_video_field(
    source: Source | VideoFile,
    plan: SamplePlan,
    field: str,
    *,
    output: Output = "torch",
    layout: Layout | None = None,
    interpolation: Interpolation = "BILINEAR",
    threads: int = 1,
    contiguous: bool = False,
    name: str | None = None,
    shared_memory: bool = False,
) -> torch.Tensor | npt.NDArray[np.uint8]:
    """Decode ``field`` through ``plan``: ``uint8`` RGB of shape ``plan.shape`` plus channels.

    ``source`` is a file (path, bytes, file object) or a clip already opened with
    :func:`~sparkle_data.readers.video.open_video` (its header, parsed once, is what the plan
    was made from: :func:`decode_sample` does this). ``layout`` defaults to ``"TCHW"`` for
    ``output="torch"`` (``(T, 3, H, W)``) and ``"THWC"`` for ``"numpy"``. Only
    ``plan.indices`` are converted, resized by swscale to the field's ``geometry.resize``; the
    crop is a view (``contiguous=True`` copies it into its own buffer, which is smaller to hand
    between processes when the crop is large). ``shared_memory=True`` (torch only) decodes
    into shared memory, so that a DataLoader worker sends the tensor without copying it
    (``SparkleDataset`` does this in workers).
    """
    check_choice("output", output, ("torch", "numpy"))
    geometry = plan.geometry_of(field)
    chosen: Layout = layout or ("TCHW" if output == "torch" else "THWC")
    height, width = geometry.resize
    rows_axis = 2 if chosen == "TCHW" else 1
    if isinstance(source, VideoFile):
        video = source
    else:
        with open_video(source, name=name, sample_id=plan.sample_id) as opened:
            return decode_video_field(
                opened,
                plan,
                field,
                output=output,
                layout=chosen,
                interpolation=interpolation,
                threads=threads,
                contiguous=contiguous,
                shared_memory=shared_memory,
            )
    decode: DecodeKeywords = {
        "indices": plan.indices,
        "height": height,
        "width": width,
        "layout": chosen,
        "interpolation": interpolation,
        "threads": threads,
        "expected_frames": plan.available[field],
        "shared_memory": shared_memory,
    }
    if shared_memory and output == "torch":
        tensor = video.read(output="torch", **decode)
        if not geometry.crops:
            return tensor
        cropped = tensor[_crop_index(geometry, tensor.ndim, rows_axis)]
        return shared_empty(tuple(cropped.shape)).copy_(cropped) if contiguous else cropped
    frames = video.read(**decode)
    view = _crop_view(frames, geometry, rows_axis)
    return to_output(view, output, contiguous=contiguous)


@overload
def decode_mask_field(
    source: Source,
    plan: SamplePlan,
    field: str = ...,
    *,
    output: Literal["torch"] = ...,
    contiguous: bool = ...,
    name: str | None = ...,
    shared_memory: bool = ...,
    max_decoded_bytes: int | None = ...,
) -> torch.Tensor: ...
@overload
def decode_mask_field(
    source: Source,
    plan: SamplePlan,
    field: str = ...,
    *,
    output: Literal["numpy"],
    contiguous: bool = ...,
    name: str | None = ...,
    shared_memory: bool = ...,
    max_decoded_bytes: int | None = ...,
) -> npt.NDArray[np.bool_]: ...
def decode_mask_field(
    source: Source,
    plan: SamplePlan,
    field: str = "source_video_mask",
    *,
    output: Output = "torch",
    contiguous: bool = False,
    name: str | None = None,
    shared_memory: bool = False,
    max_decoded_bytes: int | None = DEFAULT_MAX_DECODED_BYTES,
) -> torch.Tensor | npt.NDArray[np.bool_]:
    """Read ``field``'s mask through ``plan``: ``bool`` of shape ``plan.shape`` = ``(T, H, W)``.

    Only the planned frames' bytes are read; the resize is nearest-neighbour (a mask has one
    bit per pixel: no interpolation invents values), done with index arrays for the cropped
    window only. Without a resize the crop is a view. ``shared_memory=True`` (torch only)
    copies the result once into (recycled) shared memory, compact even when it is a crop view,
    instead of PyTorch's fresh shared memory when a DataLoader worker sends it.
    ``max_decoded_bytes`` bounds the frames read (see :mod:`sparkle_data.readers.limits`).
    """
    check_choice("output", output, ("torch", "numpy"))
    geometry = plan.geometry_of(field)
    mask = read_mask(
        source,
        frames=plan.indices,
        name=name,
        sample_id=plan.sample_id,
        max_decoded_bytes=max_decoded_bytes,
    )
    _, h, w = mask.shape
    if (h, w) != geometry.source_size:
        sh, sw = geometry.source_size
        raise FieldMismatchError.invalid(
            "mask size",
            f"{w}x{h}",
            rule=f"the plan expects {sw}x{sh} for field {field!r}",
            hint="Plan the sample from this file's probe_mask.",
            sample_id=plan.sample_id,
        )
    out: npt.NDArray[np.bool_]
    if geometry.resizes:
        rows, cols = geometry.source_rows(), geometry.source_cols()
        out = mask[:, rows[:, None], cols[None, :]]
    else:
        rows_slice, cols_slice = geometry.crop_slices()
        out = mask[:, rows_slice, cols_slice]
    return to_output(
        out, output, contiguous=contiguous, shared_memory=shared_memory
    )


# --------------------------------------------------------------------------- images


def decode_image_field(
    source: Source,
    plan: SamplePlan | None,
    *,
    output: Output = "torch",
    name: str | None = None,
    sample_id: str | None = None,
) -> torch.Tensor | npt.NDArray[np.uint8]:
    """Decode a frame-0 PNG through ``plan``: ``uint8`` ``(3, H, W)`` at ``plan.size``.

    The image gets the geometry of the plan's reference field (the frame it is a still of):
    resized (bilinear) to its ``resize`` when its size differs, then the same crop. Without a
    plan (no video, mask or boxes requested) it is returned at its own size.
    """
    check_choice("output", output, ("torch", "numpy"))
    if plan is None:
        img = read_png(source, name=name, sample_id=sample_id)
    else:
        g = plan.geometry_of(plan.reference)
        img = read_png(source, size=g.resize, name=name, sample_id=plan.sample_id)
        rows, cols = g.crop_slices()
        img = img[rows, cols]
    return to_output(img.transpose(2, 0, 1), output, copy=True)


# --------------------------------------------------------------------------- boxes


def _grounding_gap(frames: npt.NDArray[np.int64]) -> int:
    if frames.size < 2:
        return 0
    return int(np.median(np.diff(frames))) // 2


def transform_boxes(
    boxes: BoxesArray,
    plan: SamplePlan,
    *,
    field: str | None = None,
    frames: BoxFrames = "exact",
    max_gap: int | None = None,
) -> BoxesArray:
    """Grounding boxes (pixels of ``field``, default the plan's reference) in the output clip.

    Returns a :class:`BoxesArray` with a frame axis always (``boxes (F, L, 4)``, ``valid
    (F, L)``; a round-1 record counts as one grounding frame at video frame 0) whose
    ``frame_indices`` are *positions in the decoded clip* (``0..T-1``), not video frames.
    ``frames="exact"`` keeps the sampled grounding frames only; ``"nearest"`` gives one row per
    output frame from the nearest grounding frame within ``max_gap`` video frames (see the
    module docstring). Boxes are mapped with :meth:`Geometry.map_boxes`; a box the crop
    removes entirely becomes not valid.
    """
    check_choice("frames", frames, BOX_FRAME_CHOICES)
    gap = check_optional_int("max_gap", max_gap, 0)
    geometry = plan.geometry_of(field or plan.reference)
    b, v = boxes.boxes, boxes.valid
    if b.ndim == 2:
        b, v = b[None], v[None]
    gframes = np.asarray(boxes.frame_indices, dtype=np.int64)
    if gframes.shape != (b.shape[0],):
        raise ValueError(
            f"Invalid BoxesArray: {b.shape[0]} box rows for frame_indices {list(gframes.shape)}."
        )
    idx = plan.indices
    if frames == "exact":
        pos = np.searchsorted(idx, gframes)
        hit = (pos < idx.size) & (idx[np.minimum(pos, idx.size - 1)] == gframes)
        rows, positions = np.nonzero(hit)[0], pos[hit]
        row_ok = np.ones(rows.size, dtype=np.bool_)
    else:
        limit = _grounding_gap(gframes) if gap is None else gap
        if gframes.size == 0:
            rows = np.zeros(idx.size, dtype=np.int64)
            row_ok = np.zeros(idx.size, dtype=np.bool_)
        else:
            dist = np.abs(idx[:, None] - gframes[None, :])
            rows = np.argmin(dist, axis=1)  # first minimum: ties go to the earlier frame
            row_ok = dist[np.arange(idx.size), rows] <= limit
        positions = np.arange(idx.size, dtype=np.int64)
    labels = len(boxes.labels)
    if gframes.size == 0:
        sel_boxes = np.zeros((positions.size, labels, 4), dtype=np.int64)
        sel_valid = np.zeros((positions.size, labels), dtype=np.bool_)
    else:
        sel_boxes = b[rows].astype(np.int64)
        sel_valid = v[rows] & row_ok[:, None]
    mapped, inside = geometry.map_boxes(sel_boxes)
    valid = sel_valid & inside
    mapped[~valid] = 0
    return BoxesArray(mapped, valid, boxes.labels, positions.astype(np.int64))
