"""``datasets.Features`` of Sparkle rows (see :mod:`sparkle_data.hf.rows` for the values).

With ``decode=False`` (the default) file columns hold the files' bytes:

* videos: ``datasets.Video(decode=False)``: a struct ``{"bytes": binary, "path": string}``,
  the storage datasets' own ``Video`` feature uses. ``ds.cast_column("source_video", Video())``
  turns it into datasets' torchcodec-based decoding (needs ``torchcodec``; frames are then
  chosen by you, one video at a time); our readers (``decode=True``) instead plan frames and
  geometry once per sample for every field. ``media="binary"`` gives plain ``Value("binary")``;
* frame-0 images: ``datasets.Image(decode=False)`` (``cast_column(..., Image())`` gives PIL
  images), or ``Value("binary")`` with ``media="binary"``;
* the foreground mask: ``Value("binary")``, the card's NPZ (``mask`` bits + ``shape``), read it
  with :func:`sparkle_data.readers.mask.read_mask`.

With ``decode=True`` they hold numpy arrays decoded by sparkle-data's readers: videos
``Array4D((None, 3, None, None), "uint8")`` (T, C, H, W), the mask
``Array3D((None, None, None), "bool")``, images ``Array3D((3, None, None), "uint8")``,
``frame_indices`` and ``boxes``. Keep the default (python) format to get them as ``uint8``:
datasets' ``"numpy"``/``"torch"`` formatters turn every integer array into ``int64``.
"""

from __future__ import annotations

from typing import Any

from sparkle_data.hf.rows import (
    IMAGE_FIELDS,
    MASK_FIELDS,
    METADATA_COLUMNS,
    SCORE_COLUMNS,
    VIDEO_FIELDS,
    Media,
    RowSpec,
)

__all__ = ["MIN_DATASETS", "check_datasets_version", "sparkle_features"]

MIN_DATASETS = (4, 0)
"""``datasets`` versions before 4 lack ``List`` and the torchcodec ``Video`` feature; they run
``loading_script/Sparkle.py`` instead."""


def check_datasets_version() -> None:
    """Raise ``ImportError`` unless ``datasets`` >= 4 is installed (with what to do instead)."""
    try:
        import datasets
    except ImportError as e:  # pragma: no cover - datasets is a dependency
        raise ImportError("sparkle_data.hf needs `datasets`: pip install 'datasets>=4'") from e
    version = str(datasets.__version__)
    parts = tuple(int(p) if p.isdigit() else 0 for p in version.split(".")[:2])
    if parts < MIN_DATASETS:
        raise ImportError(
            f"sparkle_data.hf needs datasets >= 4.0, found {version}. Upgrade "
            "(pip install -U 'datasets>=4'), or with datasets < 4 load the legacy script "
            "loading_script/Sparkle.py (see docs/hf.md)."
        )


def sparkle_features(spec: RowSpec) -> Any:
    """The ``datasets.Features`` of rows made by ``spec`` (columns in :attr:`RowSpec.columns`
    order)."""
    check_datasets_version()
    from datasets import Array2D, Array3D, Array4D, Features, Image, List, Value, Video

    cols: dict[str, Any] = {
        "sample_id": Value("string"),
        "edit_type": Value("string"),
        "prompt": Value("string"),
    }
    if "metadata" in spec.fields:
        cols.update({c: Value("string") for c in METADATA_COLUMNS})
    if "scores" in spec.fields:
        cols.update({c: Value("float32") for c in SCORE_COLUMNS})
    media: Media = spec.media
    for c in spec.loaded_columns:
        if spec.decode:
            if c == "frame_indices":
                cols[c] = List(Value("int64"))
            elif c in VIDEO_FIELDS:
                cols[c] = Array4D(shape=(None, 3, None, None), dtype="uint8")
            elif c in MASK_FIELDS:
                cols[c] = Array3D(shape=(None, None, None), dtype="bool")
            elif c in IMAGE_FIELDS:
                cols[c] = Array3D(shape=(3, None, None), dtype="uint8")
            elif c == "boxes":
                cols[c] = {
                    "boxes": Array3D(shape=(None, None, 4), dtype="int32"),
                    "valid": Array2D(shape=(None, None), dtype="bool"),
                    "frame_positions": List(Value("int64")),
                    "labels": List(Value("string")),
                }
        elif c in MASK_FIELDS or media == "binary":
            cols[c] = Value("binary")
        elif c in VIDEO_FIELDS:
            cols[c] = Video(decode=False)
        elif c in IMAGE_FIELDS:
            cols[c] = Image(decode=False)
    return Features(cols)
