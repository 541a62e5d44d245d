"""How to shape frames: a :class:`Resize` spec turned into one :class:`Geometry` per field.

A :class:`Geometry` is what the decoder and the box transform need, nothing more:

* ``resize``: the ``(height, width)`` to hand to :func:`~sparkle_data.readers.video.read_video`
  so that swscale resizes while it converts (never per frame in PIL afterwards);
* ``crop``: ``(top, left, height, width)`` cut from the resized frame (a slice: a view, no copy);
* the affine map of pixel coordinates, ``x' = x * resize_w / source_w - left`` (same for ``y``),
  which :meth:`Geometry.map_boxes` applies in exact integer arithmetic.

The target size follows Kiwi-Edit's ``ImageCropAndResize`` (``diffsynth/trainers/
unified_dataset.py``):

* fixed ``height`` and ``width``, or else ``max_pixels``: when ``W * H > max_pixels``, both
  sides are divided by ``sqrt(W * H / max_pixels)`` and truncated to ints; then each side is
  rounded *down* to a multiple of ``division`` (Kiwi-Edit's ``height/width_division_factor``:
  16 in its dataset class, 32 in its ``train.py``; 1280x720 gives 1280x720 with 16 and 1280x704
  with 32);
* ``crop="center"`` (Kiwi-Edit's): scale by ``max(tw / w, th / h)`` so the frame covers the
  target, resize to ``(round(h * s), round(w * s))``, then center-crop with torchvision's
  ``int(round((H - h) / 2))`` offsets. ``"top_left"`` crops from the top-left corner instead;
  ``"none"`` resizes straight to the target and changes the aspect ratio.

Only the pixels differ from Kiwi-Edit's (swscale bilinear vs PIL's antialiased bilinear), not
sizes or crop boxes.

Fields of different sizes (a 1280x720 source with a 1280x704 Kiwi-Edit output) are handled by
``size_mismatch``:

* ``"resize_to_source"`` (default): the target size is computed from the reference field
  (the source video) and every field is covered and cropped to it on its own, so all outputs
  share one size; a smaller field is scaled up a little (704 -> 720 rows is a 2.3 % zoom).
* ``"crop_to_common"``: every field is first center-cropped to the common size (the smallest
  height and width among the fields), then all get the same scale. Kiwi-Edit outputs *are*
  the 8-row center crop of their 720-row inputs, so this keeps such pairs pixel-aligned.
* ``"error"``: raise :class:`~sparkle_data.sampling.FieldMismatchError` naming every size.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal, get_args

import numpy as np
import numpy.typing as npt

from sparkle_data.sampling._checks import check_choice, check_int, check_optional_int
from sparkle_data.sampling._errors import FieldMismatchError, SamplingError

__all__ = [
    "CROP_POLICIES",
    "SIZE_MISMATCH_CHOICES",
    "CropPolicy",
    "Geometry",
    "Resize",
    "SizeMismatch",
    "kiwi_target_size",
    "plan_geometry",
]

CropPolicy = Literal["center", "top_left", "none"]
CROP_POLICIES: Final[tuple[CropPolicy, ...]] = get_args(CropPolicy)
SizeMismatch = Literal["resize_to_source", "crop_to_common", "error"]
SIZE_MISMATCH_CHOICES: Final[tuple[SizeMismatch, ...]] = get_args(SizeMismatch)

Size = tuple[int, int]
"""``(height, width)``."""


def _torchvision_offset(outer: int, inner: int) -> int:
    """torchvision ``center_crop``'s offset: ``int(round((outer - inner) / 2.0))``."""
    return round((outer - inner) / 2.0)


def kiwi_target_size(
    height: int, width: int, *, max_pixels: int | None = None, division: int = 16
) -> Size:
    """Kiwi-Edit's output ``(height, width)`` for a ``height x width`` frame.

    >>> kiwi_target_size(720, 1280, max_pixels=720 * 1280)
    (720, 1280)
    >>> kiwi_target_size(720, 1280, division=32)
    (704, 1280)
    >>> kiwi_target_size(720, 1280, max_pixels=480 * 832)
    (464, 832)
    """
    h = check_int("height", height, 1)
    w = check_int("width", width, 1)
    div = check_int("division", division, 1)
    limit = check_optional_int("max_pixels", max_pixels, 1)
    if limit is not None and w * h > limit:
        scale = (w * h / limit) ** 0.5
        h, w = int(h / scale), int(w / scale)
    th, tw = h // div * div, w // div * div
    if th < 1 or tw < 1:
        raise SamplingError.invalid(
            "frame size",
            f"{width}x{height}",
            rule=f"gives an empty target ({tw}x{th}) for max_pixels={max_pixels}, "
            f"division={division}",
        )
    return th, tw


@dataclass(frozen=True, slots=True)
class Resize:
    """Target size and crop policy for every field of a sample.

    Give ``height`` and ``width`` for a fixed size; one of them for a size that keeps the
    reference's aspect (the other side rounded down to ``division``); neither for Kiwi-Edit's
    rule (``max_pixels``, then ``division``). ``Resize()`` keeps the size, only rounding it
    down to multiples of 16 (1280x720 stays as is).
    """

    height: int | None = None
    width: int | None = None
    max_pixels: int | None = None
    division: int = 16
    crop: CropPolicy = "center"
    size_mismatch: SizeMismatch = "resize_to_source"

    def __post_init__(self) -> None:
        object.__setattr__(self, "height", check_optional_int("height", self.height, 1))
        object.__setattr__(self, "width", check_optional_int("width", self.width, 1))
        object.__setattr__(self, "max_pixels", check_optional_int("max_pixels", self.max_pixels, 1))
        object.__setattr__(self, "division", check_int("division", self.division, 1))
        check_choice("crop", self.crop, CROP_POLICIES)
        check_choice("size_mismatch", self.size_mismatch, SIZE_MISMATCH_CHOICES)
        if self.max_pixels is not None and (self.height is not None or self.width is not None):
            raise ValueError(
                f"Invalid max_pixels {self.max_pixels!r}: give either max_pixels or a fixed "
                "height/width, not both."
            )

    def target_size(self, height: int, width: int) -> Size:
        """The output ``(height, width)`` for a reference region of ``height x width``."""
        h = check_int("height", height, 1)
        w = check_int("width", width, 1)
        div = self.division
        if self.height is not None and self.width is not None:
            return self.height, self.width
        if self.height is not None:
            tw = round(w * self.height / h) // div * div
            return self.height, _nonempty(tw, "width", w, h, self)
        if self.width is not None:
            th = round(h * self.width / w) // div * div
            return _nonempty(th, "height", w, h, self), self.width
        return kiwi_target_size(h, w, max_pixels=self.max_pixels, division=div)


def _nonempty(side: int, what: str, w: int, h: int, spec: Resize) -> int:
    if side < 1:
        raise SamplingError.invalid(
            "frame size",
            f"{w}x{h}",
            rule=f"gives an empty target {what} for {spec!r}",
        )
    return side


@dataclass(frozen=True, slots=True)
class Geometry:
    """Resize in the decoder, then crop: how one field's frames become the output frames.

    ``source_size``, ``resize`` and the last two entries of ``crop`` are ``(height, width)``;
    ``crop`` is ``(top, left, height, width)`` inside the resized frame.
    """

    source_size: Size
    resize: Size
    crop: tuple[int, int, int, int]

    def __post_init__(self) -> None:
        sh, sw = (check_int("source_size", v, 1) for v in self.source_size)
        rh, rw = (check_int("resize", v, 1) for v in self.resize)
        top, left = (check_int("crop offset", v, 0) for v in self.crop[:2])
        ch, cw = (check_int("crop size", v, 1) for v in self.crop[2:])
        if top + ch > rh or left + cw > rw:
            raise ValueError(
                f"Invalid crop {self.crop!r}: must lie inside the resized {rw}x{rh} frame."
            )
        object.__setattr__(self, "source_size", (sh, sw))
        object.__setattr__(self, "resize", (rh, rw))
        object.__setattr__(self, "crop", (top, left, ch, cw))

    @property
    def output_size(self) -> Size:
        """``(height, width)`` of the frames after the crop."""
        return self.crop[2], self.crop[3]

    @property
    def scale(self) -> tuple[float, float]:
        """``(sy, sx)``: resized size over source size."""
        return self.resize[0] / self.source_size[0], self.resize[1] / self.source_size[1]

    @property
    def resizes(self) -> bool:
        """Whether the decoder has to resize at all."""
        return self.resize != self.source_size

    @property
    def crops(self) -> bool:
        """Whether the crop removes anything."""
        return self.output_size != self.resize

    @property
    def is_identity(self) -> bool:
        return not self.resizes and not self.crops

    def crop_slices(self) -> tuple[slice, slice]:
        """``(rows, cols)`` slices that cut the crop out of a resized frame."""
        top, left, h, w = self.crop
        return slice(top, top + h), slice(left, left + w)

    def source_rows(self) -> npt.NDArray[np.int64]:
        """For each output row, the nearest source row (pixel centres, exact integers)."""
        return _nearest(self.crop[0], self.crop[2], self.source_size[0], self.resize[0])

    def source_cols(self) -> npt.NDArray[np.int64]:
        """For each output column, the nearest source column."""
        return _nearest(self.crop[1], self.crop[3], self.source_size[1], self.resize[1])

    def map_boxes(
        self, boxes: npt.NDArray[np.integer]
    ) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.bool_]]:
        """Map inclusive pixel boxes ``(..., 4)`` (``x1, y1, x2, y2``) into the output frame.

        A box covers pixels ``x1..x2``; its image covers every output pixel that any of those
        pixels lands on (``floor(x1 * s)`` to ``ceil((x2 + 1) * s) - 1``, exact integer
        arithmetic), shifted by the crop and clipped to the output. Returns the boxes
        (``int32``, zeros where outside) and whether each box overlaps the output at all.
        """
        b = np.asarray(boxes)
        if b.shape[-1:] != (4,) or b.dtype.kind not in "iu":
            raise ValueError(
                f"Invalid boxes {b.dtype}{list(b.shape)}: must be integer pixels (..., 4)."
            )
        b = b.astype(np.int64)
        (sh, sw), (rh, rw) = self.source_size, self.resize
        top, left, oh, ow = self.crop
        x1 = b[..., 0] * rw // sw - left
        y1 = b[..., 1] * rh // sh - top
        x2 = -((-(b[..., 2] + 1) * rw) // sw) - 1 - left
        y2 = -((-(b[..., 3] + 1) * rh) // sh) - 1 - top
        x2, y2 = np.maximum(x2, x1), np.maximum(y2, y1)
        inside = (x2 >= 0) & (x1 <= ow - 1) & (y2 >= 0) & (y1 <= oh - 1)
        out = np.stack(
            [
                np.clip(x1, 0, ow - 1),
                np.clip(y1, 0, oh - 1),
                np.clip(x2, 0, ow - 1),
                np.clip(y2, 0, oh - 1),
            ],
            axis=-1,
        )
        out[~inside] = 0
        return out.astype(np.int32), inside


def _nearest(start: int, count: int, source: int, resized: int) -> npt.NDArray[np.int64]:
    """``floor((i + 1/2) * source / resized)`` for resized pixels ``start..start+count-1``."""
    i = np.arange(start, start + count, dtype=np.int64)
    return np.minimum(((2 * i + 1) * source) // (2 * resized), source - 1)


def _field_geometry(
    frame: Size, region: tuple[int, int, int, int], target: Size, crop: CropPolicy
) -> Geometry:
    """Geometry taking ``region`` (top, left, h, w) of a ``frame``-sized field to ``target``."""
    fh, fw = frame
    oy, ox, rh, rw = region
    th, tw = target
    if crop == "none":
        sy, sx = th / rh, tw / rw
        inner_y = inner_x = 0
        region_h, region_w = th, tw
    else:
        sy = sx = max(tw / rw, th / rh)
        region_h, region_w = max(th, round(rh * sy)), max(tw, round(rw * sx))
        if crop == "center":
            inner_y, inner_x = _torchvision_offset(region_h, th), _torchvision_offset(region_w, tw)
        else:
            inner_y = inner_x = 0
    if region == (0, 0, fh, fw):
        dh, dw = region_h, region_w
    else:
        dh, dw = max(th, round(fh * sy)), max(tw, round(fw * sx))
    top = min(max(round(oy * sy) + inner_y, 0), dh - th)
    left = min(max(round(ox * sx) + inner_x, 0), dw - tw)
    return Geometry((fh, fw), (dh, dw), (top, left, th, tw))


def _show_sizes(sizes: Mapping[str, Size]) -> dict[str, str]:
    return {name: f"{w}x{h}" for name, (h, w) in sizes.items()}


def plan_geometry(
    sizes: Mapping[str, Size],
    resize: Resize | None = None,
    *,
    reference: str | None = None,
    sample_id: str | None = None,
) -> dict[str, Geometry]:
    """One :class:`Geometry` per field, all with the same output size.

    ``sizes`` maps each field (``"source_video"``, ``"edited_video"``, a mask...) to its
    ``(height, width)``. The target size is computed from ``reference`` (default:
    ``"source_video"`` if present, else the first field). Fields of different sizes follow
    ``resize.size_mismatch`` (see the module docstring).

    >>> g = plan_geometry({"source_video": (720, 1280), "edited_video": (704, 1280)},
    ...                   Resize(size_mismatch="crop_to_common"))
    >>> g["source_video"].crop, g["edited_video"].crop
    ((8, 0, 704, 1280), (0, 0, 704, 1280))
    """
    spec = resize or Resize()
    if not sizes:
        raise ValueError("Invalid sizes {}: give at least one field.")
    frames: dict[str, Size] = {}
    for name, size in sizes.items():
        if not isinstance(size, tuple) or len(size) != 2:
            raise TypeError(f"Invalid size {size!r} of field {name!r}: must be (height, width).")
        frames[name] = (check_int("height", size[0], 1), check_int("width", size[1], 1))
    ref = _reference(frames, reference)
    distinct = set(frames.values())
    regions: dict[str, tuple[int, int, int, int]] = {
        name: (0, 0, h, w) for name, (h, w) in frames.items()
    }
    if len(distinct) > 1:
        if spec.size_mismatch == "error":
            raise FieldMismatchError.invalid(
                "frame sizes",
                _show_sizes(frames),
                rule="the fields of one sample must have the same size",
                hint="Pass size_mismatch='resize_to_source' or 'crop_to_common' to reconcile "
                "them (e.g. a 1280x704 Kiwi-Edit output with its 1280x720 source).",
                sample_id=sample_id,
            )
        if spec.size_mismatch == "crop_to_common":
            ch = min(h for h, _ in distinct)
            cw = min(w for _, w in distinct)
            regions = {
                name: (_torchvision_offset(h, ch), _torchvision_offset(w, cw), ch, cw)
                for name, (h, w) in frames.items()
            }
    _, _, rh, rw = regions[ref]
    target = spec.target_size(rh, rw)
    return {
        name: _field_geometry(frames[name], regions[name], target, spec.crop) for name in frames
    }


def _reference(frames: Mapping[str, object], reference: str | None) -> str:
    if reference is None:
        return "source_video" if "source_video" in frames else next(iter(frames))
    if reference not in frames:
        raise ValueError(
            f"Invalid reference {reference!r}: not one of the fields {', '.join(frames)}."
        )
    return reference
