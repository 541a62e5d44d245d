"""Kiwi-Edit's training rows, straight from Sparkle shards (no export, no extraction).

Kiwi-Edit trains with DiffSynth-Studio's ``UnifiedDataset`` over a ``metadata.csv`` of
``prompt,src_video,tgt_video[,ref_image]`` paths. :class:`KiwiEditDataset` is a map-style
``torch.utils.data.Dataset`` whose item ``i`` is the dict that ``UnifiedDataset`` returns for
the same pair:

* ``"prompt"``: the instruction (``str``);
* ``"src_video"``, ``"tgt_video"``: lists of ``PIL.Image.Image`` (RGB), the first ``N`` frames
  with Kiwi-Edit's rule: ``N = num_frames`` when the clip has at least that many frames, else
  the clip's frame count lowered to the nearest ``4k + 1`` (:func:`kiwi_frame_count`);
* each frame resized and center-cropped as Kiwi-Edit's ``ImageCropAndResize`` does: a fixed
  ``height x width``, or (both ``None``) the frame scaled down to at most ``max_pixels`` and
  floored to multiples of the division factors (32 in Kiwi-Edit's ``train.py``); the resize is
  PIL bilinear to ``round(h * s) x round(w * s)`` with ``s = max(W/w, H/h)``, then a center
  crop (:func:`kiwi_geometry`);
* ``"ref_image"`` (``ref_image=True``): ``[PIL image]``, the Stage 3 clean background
  (``edited_frame0_foreground_removed``) through the same resize/crop, as Kiwi-Edit's
  reference stage reads ``ref_image`` (a list of one image).

Videos are decoded by :func:`sparkle_data.readers.video.read_video` (PyAV, only the frames
kept), not by imageio: pixel values can differ from imageio-ffmpeg's by the YUV->RGB
conversion's rounding (see ``docs/kiwi-edit.md`` for the measured tolerance).

Checked against linyq17/Kiwi-Edit ``diffsynth/trainers/unified_dataset.py`` and ``train.py``
at commit dca52e653453be5e5749c7137d01f81d89f35297, and modelscope/DiffSynth-Studio
``diffsynth/trainers/unified_dataset.py`` at commit 1b98b3bd6f5f404e6ac4f4019dd1b5e47e3d6747.
"""

from __future__ import annotations

import os
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal

from torch.utils.data import Dataset

from sparkle_data.catalog import Catalog, build_catalog, select_ids
from sparkle_data.readers.video import probe_video, read_video

if TYPE_CHECKING:
    from PIL import Image

    from sparkle_data.catalog.select import Predicate

__all__ = [
    "KIWI_DIVISION_FACTOR",
    "KIWI_MAX_PIXELS",
    "KIWI_NUM_FRAMES",
    "REF_ARTIFACT",
    "KiwiEditDataset",
    "KiwiGeometry",
    "kiwi_frame_count",
    "kiwi_geometry",
    "kiwi_transform",
]

KIWI_NUM_FRAMES: Final = 81
"""``--num_frames`` of Kiwi-Edit's video stages."""
KIWI_MAX_PIXELS: Final = 1920 * 1080
"""``UnifiedDataset.default_video_operator``'s default ``max_pixels`` (Kiwi-Edit's scripts pass
``--max_pixels 921600``, i.e. 1280x720)."""
KIWI_DIVISION_FACTOR: Final = 32
"""Height/width division factor Kiwi-Edit's ``train.py`` passes (DiffSynth's default is 16)."""
REF_ARTIFACT: Final = "edited_frame0_foreground_removed"
"""The Sparkle artifact used as Kiwi-Edit's ``ref_image`` (the Stage 3 clean background)."""

OnMismatch = Literal["error", "resample"]


def kiwi_frame_count(
    available: int, num_frames: int = KIWI_NUM_FRAMES, division: tuple[int, int] = (4, 1)
) -> int:
    """Frames Kiwi-Edit's ``LoadVideo`` keeps from a clip of ``available`` frames.

    ``num_frames`` itself when the clip is long enough (even if it is not ``4k + 1``), else
    ``available`` lowered until ``n % d == r`` (never below 1).

    >>> [kiwi_frame_count(t) for t in (81, 100, 80, 77, 69)]
    [81, 81, 77, 77, 69]
    >>> kiwi_frame_count(69, 33)
    33
    """
    if available < 1 or num_frames < 1:
        raise ValueError(
            f"Invalid frame counts (available={available}, num_frames={num_frames}): need >= 1."
        )
    d, r = division
    n = num_frames
    if available < n:
        n = available
        while n > 1 and n % d != r:
            n -= 1
    return n


@dataclass(frozen=True, slots=True)
class KiwiGeometry:
    """How one frame is resized then cropped: ``resize`` is ``(h, w)``, ``crop`` is
    ``(top, left, h, w)`` in the resized frame."""

    resize: tuple[int, int]
    crop: tuple[int, int, int, int]

    @property
    def size(self) -> tuple[int, int]:
        """Output ``(height, width)``."""
        return self.crop[2], self.crop[3]


def kiwi_geometry(
    width: int,
    height: int,
    *,
    target_height: int | None = None,
    target_width: int | None = None,
    max_pixels: int = KIWI_MAX_PIXELS,
    height_division_factor: int = KIWI_DIVISION_FACTOR,
    width_division_factor: int = KIWI_DIVISION_FACTOR,
) -> KiwiGeometry:
    """Kiwi-Edit's ``ImageCropAndResize`` for a ``width x height`` frame.

    >>> kiwi_geometry(1280, 720, max_pixels=921600)
    KiwiGeometry(resize=(720, 1280), crop=(8, 0, 704, 1280))
    """
    if target_height is None or target_width is None:
        h, w = height, width
        if w * h > max_pixels:
            scale = (w * h / max_pixels) ** 0.5
            h, w = int(h / scale), int(w / scale)
        h = h // height_division_factor * height_division_factor
        w = w // width_division_factor * width_division_factor
    else:
        h, w = target_height, target_width
    if h < 1 or w < 1:
        raise ValueError(
            f"Invalid target size {h}x{w} for a {width}x{height} frame: the division factors "
            f"({height_division_factor}, {width_division_factor}) or max_pixels={max_pixels} "
            "leave nothing."
        )
    scale = max(w / width, h / height)
    rh, rw = round(height * scale), round(width * scale)
    top, left = round((rh - h) / 2.0), round((rw - w) / 2.0)  # torchvision center_crop
    return KiwiGeometry((rh, rw), (top, left, h, w))


def kiwi_transform(image: Image.Image, geometry: KiwiGeometry) -> Image.Image:
    """Apply a :class:`KiwiGeometry` to a PIL image (bilinear resize, then crop)."""
    from PIL import Image as PILImage

    rh, rw = geometry.resize
    if image.size != (rw, rh):
        image = image.resize((rw, rh), PILImage.Resampling.BILINEAR)
    top, left, h, w = geometry.crop
    if (top, left, h, w) != (0, 0, rh, rw):
        image = image.crop((left, top, left + w, top + h))
    return image


class KiwiEditDataset(Dataset[dict[str, Any]]):
    """Map-style dataset of Kiwi-Edit training rows over a Sparkle root or catalog.

    ``source`` is a dataset root (local, ``hf://``, ``https://``) or a built
    :class:`~sparkle_data.catalog.Catalog`; ``ids``, ``edit_types`` and ``where`` (a filter,
    e.g. ``sparkle_data.filters.PAPER``) select corpus samples. The other arguments are
    Kiwi-Edit's ``train.py`` options of the same name; ``repeat`` is ``--dataset_repeat``.

    ``on_mismatch``: Kiwi-Edit's ``UnifiedDataset`` refuses a pair whose clips differ in frame
    size or kept frame count and silently loads a random other row instead (up to 30 times).
    ``"error"`` (default) raises ``ValueError`` naming the sample, so that such pairs can be
    filtered out (``sparkle-data subset --format kiwi`` drops them); ``"resample"`` does what
    Kiwi-Edit does, with a generator seeded by ``seed`` and the index.
    """

    def __init__(
        self,
        source: str | os.PathLike[str] | Catalog,
        *,
        ids: Sequence[str] | None = None,
        edit_types: Sequence[str] | None = None,
        where: Predicate | None = None,
        num_frames: int = KIWI_NUM_FRAMES,
        max_pixels: int = KIWI_MAX_PIXELS,
        height: int | None = None,
        width: int | None = None,
        height_division_factor: int = KIWI_DIVISION_FACTOR,
        width_division_factor: int = KIWI_DIVISION_FACTOR,
        time_division_factor: int = 4,
        time_division_remainder: int = 1,
        ref_image: bool = False,
        repeat: int = 1,
        on_mismatch: OnMismatch = "error",
        seed: int = 0,
        index_file: str | None = None,
    ) -> None:
        for name, value in (
            ("num_frames", num_frames),
            ("max_pixels", max_pixels),
            ("height_division_factor", height_division_factor),
            ("width_division_factor", width_division_factor),
            ("time_division_factor", time_division_factor),
            ("repeat", repeat),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"Invalid {name} {value!r}: must be an integer >= 1.")
        if (height is None) != (width is None):
            raise ValueError(
                f"Invalid height/width {height!r}/{width!r}: give both (a fixed size) or "
                "neither (Kiwi-Edit's max_pixels rule)."
            )
        if not 0 <= time_division_remainder < time_division_factor:
            raise ValueError(
                f"Invalid time_division_remainder {time_division_remainder!r}: need "
                f"0 <= r < {time_division_factor}."
            )
        if on_mismatch not in ("error", "resample"):
            raise ValueError(f"Invalid on_mismatch {on_mismatch!r}: 'error' or 'resample'.")
        self.catalog = (
            source
            if isinstance(source, Catalog)
            else build_catalog(source, edit_types=edit_types, index_file=index_file)
        )
        self.ids = select_ids(self.catalog, edit_types=edit_types, ids=ids, where=where)
        self.num_frames = num_frames
        self.division = (time_division_factor, time_division_remainder)
        self.geometry_options: dict[str, Any] = {
            "target_height": height,
            "target_width": width,
            "max_pixels": max_pixels,
            "height_division_factor": height_division_factor,
            "width_division_factor": width_division_factor,
        }
        self.ref_image = ref_image
        self.repeat = repeat
        self.on_mismatch: OnMismatch = on_mismatch
        self.seed = seed
        self._prompts = {sid: str(self.catalog.table.at[sid, "prompt"]) for sid in self.ids}

    def __len__(self) -> int:
        return len(self.ids) * self.repeat

    def __repr__(self) -> str:
        return (
            f"KiwiEditDataset({self.catalog.root!r}, {len(self.ids)} pairs x {self.repeat}, "
            f"num_frames={self.num_frames}, ref_image={self.ref_image})"
        )

    # ------------------------------------------------------------------ loading
    def _clip(self, sample_id: str, artifact: str) -> list[Image.Image]:
        from PIL import Image as PILImage

        with self.catalog.open(sample_id, artifact) as f:
            info = probe_video(f, name=artifact, sample_id=sample_id)
            n = kiwi_frame_count(info.num_frames, self.num_frames, self.division)
            f.seek(0)
            frames = read_video(f, indices=range(n), name=artifact, sample_id=sample_id)
        geometry = kiwi_geometry(info.width, info.height, **self.geometry_options)
        return [kiwi_transform(PILImage.fromarray(frame), geometry) for frame in frames]

    def _image(self, sample_id: str, artifact: str) -> Image.Image:
        from PIL import Image as PILImage

        with self.catalog.open(sample_id, artifact) as f, PILImage.open(f) as opened:
            image = opened.convert("RGB")
        geometry = kiwi_geometry(image.width, image.height, **self.geometry_options)
        return kiwi_transform(image, geometry)

    def load(self, sample_id: str) -> dict[str, Any]:
        """The row of one sample id (no mismatch handling)."""
        row: dict[str, Any] = {
            "prompt": self._prompts.get(sample_id)
            or str(self.catalog.table.at[sample_id, "prompt"]),
            "src_video": self._clip(sample_id, "source_video"),
            "tgt_video": self._clip(sample_id, "edited_video"),
        }
        if self.ref_image:
            row["ref_image"] = [self._image(sample_id, REF_ARTIFACT)]
        return row

    @staticmethod
    def mismatch(row: dict[str, Any]) -> str:
        """Why Kiwi-Edit would refuse a row (``""`` when it would not)."""
        src, tgt = row["src_video"], row["tgt_video"]
        why = []
        if src[0].size != tgt[0].size:
            why.append(f"frame size {src[0].size} vs {tgt[0].size}")
        if len(src) != len(tgt):
            why.append(f"frame count {len(src)} vs {len(tgt)}")
        return ", ".join(why)

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not isinstance(index, int) or isinstance(index, bool):
            raise TypeError(f"Invalid index {index!r}: must be an int.")
        if not -len(self) <= index < len(self):
            raise IndexError(f"Invalid index {index}: the dataset has {len(self)} rows.")
        sid = self.ids[index % len(self.ids)]
        rng = random.Random(f"{self.seed}:{index}")  # noqa: S311 - sampling, not secrets
        for _ in range(30):
            row = self.load(sid)
            why = self.mismatch(row)
            if not why:
                return row
            if self.on_mismatch == "error":
                raise ValueError(
                    f"Invalid pair {sid}: {why} (Kiwi-Edit refuses it; drop such pairs with "
                    "`sparkle-data subset --format kiwi`, or pass on_mismatch='resample')."
                )
            sid = self.ids[rng.randrange(len(self.ids))]
        raise ValueError(f"Invalid pairs: 30 rows in a row were refused (last {sid}: {why}).")
