"""Rows of the 🤗 ``datasets`` front end, built from a catalog; no ``datasets``, no ``torch``.

This module is shared by :func:`sparkle_data.hf.load_dataset` and by the legacy loading
script (``loading_script/Sparkle.py``, run under ``datasets < 4`` without ``torch``), so it
imports neither. A row is one corpus sample:

* ``sample_id``, ``edit_type``, ``prompt`` (always);
* with ``"metadata"``: ``chosen_keyword``, ``subtheme``, ``scene``, ``original_scene``
  (``None`` when absent, e.g. ``openve3m`` has no keyword);
* with ``"scores"``: the twelve score columns of the catalog (:data:`SCORE_COLUMNS`), float,
  ``NaN`` when missing;
* one column per requested artifact: the file's bytes, ``{"bytes": ..., "path": name}`` for
  videos and frame-0 images (the storage of ``datasets.Video(decode=False)`` /
  ``datasets.Image(decode=False)``; ``name`` is the member's file name, e.g.
  ``Sparkle_location_000000.mp4``), plain bytes for the NPZ mask and with
  ``media="binary"``; or, with ``decode=True``, the arrays of
  :func:`~sparkle_data.sampling.decode_sample` (``uint8 (T, 3, H, W)`` videos, ``bool (T, H, W)``
  mask, ``uint8 (3, H, W)`` images, ``frame_indices``, ``boxes``).

:class:`RowGenerator` yields them group by group (one group per shard of the first requested
file, or fixed chunks: :func:`~sparkle_data.catalog.groups.group_ids`, which ``SparkleDataset``
uses too): the ``gen_kwargs`` shards of ``IterableDataset.from_generator``. With
``lazy=True`` it yields :class:`LazyRow` mappings whose file columns are read on first access,
so rows that ``datasets`` skips (resuming from a ``state_dict``, ``skip``, node splitting by
examples) cost no byte of I/O.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from sparkle_data.catalog.cells import cell_text
from sparkle_data.catalog.groups import group_ids
from sparkle_data.catalog.select import select_ids
from sparkle_data.catalog.table import METADATA_COLUMNS, SCORE_COLUMNS
from sparkle_data.dataset.fields import (  # torch-free: sparkle_data.dataset imports lazily
    DEFAULT_FIELDS,
    FIELDS,
    FILE_FIELDS,
    IMAGE_FIELDS,
    MASK_FIELDS,
    VIDEO_FIELDS,
)
from sparkle_data.layout import ARTIFACTS, EDIT_TYPES, parse_edit_type

if TYPE_CHECKING:
    from sparkle_data.catalog.model import Catalog
    from sparkle_data.dataset.sample import SampleLoader
    from sparkle_data.sampling import DecodeOptions, SampleFiles

__all__ = [
    "DEFAULT_FIELDS",
    "FIELDS",
    "FILE_FIELDS",
    "IMAGE_FIELDS",
    "MASK_FIELDS",
    "METADATA_COLUMNS",
    "SCORE_COLUMNS",
    "VIDEO_FIELDS",
    "LazyRow",
    "Media",
    "RowGenerator",
    "RowSpec",
    "check_row_fields",
    "group_ids",
    "parse_name",
    "select_ids",
]

Media = Literal["video", "binary"]


def check_row_fields(fields: Sequence[str] | str, *, decode: bool) -> tuple[str, ...]:
    """Validate and de-duplicate requested fields, keeping their order."""
    if isinstance(fields, str):
        fields = [fields]
    out: list[str] = []
    for f in fields:
        if f not in FIELDS:
            raise ValueError(f"Invalid field {f!r}: must be one of {', '.join(FIELDS)}.")
        if f not in out:
            out.append(f)
    if "boxes" in out and not decode:
        raise ValueError(
            "Invalid field 'boxes' with decode=False: boxes are mapped onto the decoded frames. "
            "Pass decode=True, or read the raw records through the card's "
            "'{edit_type}_foreground_grounding_r2' config."
        )
    return tuple(out)


def parse_name(name: str | Sequence[str] | None) -> tuple[str, ...]:
    """Edit types of a config name: ``"all"``/``None`` (five), one edit type, a comma-separated
    list (``"location,time"``) or a sequence of edit types."""
    if name is None or name == "all":
        return tuple(EDIT_TYPES)
    parts = name.split(",") if isinstance(name, str) else list(name)
    out: list[str] = []
    for part in parts:
        et = parse_edit_type(part.strip())
        if et not in out:
            out.append(et)
    if not out:
        raise ValueError("Invalid name: give 'all', an edit type or a list of edit types.")
    return tuple(out)


# --------------------------------------------------------------------------- rows


@dataclass(frozen=True)
class RowSpec:
    """What a row holds (see the module docstring)."""

    fields: tuple[str, ...]
    media: Media = "video"
    decode: bool = False
    options: DecodeOptions | None = None
    """With ``decode=True``: how to decode (``frames``, ``resize``, ...); ``None``: defaults.
    Rows always hold numpy arrays (``output`` is ignored)."""

    @property
    def file_fields(self) -> tuple[str, ...]:
        return tuple(f for f in self.fields if f in FILE_FIELDS)

    @property
    def loaded_columns(self) -> tuple[str, ...]:
        """Columns whose values need I/O."""
        cols = [*self.file_fields]
        planned = any(f in VIDEO_FIELDS or f in MASK_FIELDS or f == "boxes" for f in self.fields)
        if self.decode and planned:
            cols.insert(0, "frame_indices")
        if "boxes" in self.fields:
            cols.append("boxes")
        return tuple(cols)

    @property
    def columns(self) -> tuple[str, ...]:
        cols = ["sample_id", "edit_type", "prompt"]
        if "metadata" in self.fields:
            cols += METADATA_COLUMNS
        if "scores" in self.fields:
            cols += SCORE_COLUMNS
        return (*cols, *self.loaded_columns)


def _score(value: Any) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return math.nan
    return out


class LazyRow(Mapping[str, Any]):
    """A row whose cheap columns are known and whose file columns are loaded (all at once, on
    the first access to any of them). ``dict(row)`` materialises it."""

    __slots__ = ("_cheap", "_keys", "_load", "_loaded")

    def __init__(
        self, cheap: dict[str, Any], keys: tuple[str, ...], load: Callable[[], dict[str, Any]]
    ) -> None:
        self._cheap = cheap
        self._keys = keys
        self._load: Callable[[], dict[str, Any]] | None = load
        self._loaded: dict[str, Any] | None = None

    @property
    def loaded(self) -> bool:
        """Whether the file columns have been read."""
        return self._loaded is not None

    def __getitem__(self, key: str) -> Any:
        if key in self._cheap:
            return self._cheap[key]
        if key not in self._keys:
            raise KeyError(key)
        loaded = self._loaded
        if loaded is None:
            load, self._load = self._load, None
            if load is None:  # pragma: no cover - a failed load is not retried
                raise KeyError(key)
            loaded = self._loaded = load()
        return loaded[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def __repr__(self) -> str:
        state = "loaded" if self.loaded else "not loaded"
        return f"LazyRow({self._cheap.get('sample_id')!r}, {state})"


@dataclass
class RowGenerator:
    """The ``generator`` of ``from_generator``: ``gen(shard_ids=[group names])`` yields the
    rows of those groups, in order. Picklable into DataLoader workers (it holds the catalog)."""

    catalog: Catalog
    groups: Mapping[str, Sequence[str]]
    spec: RowSpec
    lazy: bool = False
    loads: int = 0
    """Rows whose file columns this instance has read (per process)."""
    _loader: SampleLoader | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.spec.decode and "boxes" in self.spec.fields:
            # per-theme work (the grounding line index) done once here, not in every worker
            self._sample_loader().prepare([sid for ids in self.groups.values() for sid in ids])

    def __call__(self, shard_ids: Sequence[str]) -> Iterator[Mapping[str, Any]]:
        ids = [sid for key in shard_ids for sid in self.groups[key]]
        files = None
        if self.spec.loaded_columns:
            # remote roots: fetch the next rows' members while this one is decoded
            from sparkle_data.dataset.readahead import open_read_ahead

            files = open_read_ahead(self.catalog, self.spec.file_fields, ids, None)
        try:
            for i, sid in enumerate(ids):
                if files is not None:
                    files.advance(i)
                yield self.row(sid, files)
        finally:
            if files is not None:
                files.close()

    def row(self, sample_id: str, files: SampleFiles | None = None) -> Mapping[str, Any]:
        cheap = self._cheap(sample_id)
        if not self.spec.loaded_columns:
            return cheap
        if self.lazy:
            # loaded when a column is read: from the read-ahead while the row is current,
            # else read then (files.open falls back to the catalog)
            return LazyRow(cheap, self.spec.columns, lambda: self._files(sample_id, files))
        return {**cheap, **self._files(sample_id, files)}

    def _cheap(self, sample_id: str) -> dict[str, Any]:
        row = self.catalog.table.loc[sample_id]
        out: dict[str, Any] = {
            "sample_id": sample_id,
            "edit_type": str(row["edit_type"]),
            "prompt": cell_text(row.get("prompt")),
        }
        if "metadata" in self.spec.fields:
            for c in METADATA_COLUMNS:
                out[c] = cell_text(row.get(c))
        if "scores" in self.spec.fields:
            for c in SCORE_COLUMNS:
                out[c] = _score(row.get(c))
        return out

    def _files(self, sample_id: str, files: SampleFiles | None = None) -> dict[str, Any]:
        self.loads += 1
        if self.spec.decode:
            return self.decoded(sample_id, files)
        out: dict[str, Any] = {}
        for f in self.spec.file_fields:
            if files is None:
                data = self.catalog.read_bytes(sample_id, f)
            else:
                with files.open(sample_id, f) as fh:
                    data = fh.read()
            if f in MASK_FIELDS or self.spec.media == "binary":
                out[f] = data
            else:
                out[f] = {"bytes": data, "path": f"{sample_id}.{ARTIFACTS[f].extension}"}  # type: ignore[index]
        return out

    def _sample_loader(self) -> SampleLoader:
        if self._loader is None:
            from sparkle_data.dataset.sample import SampleLoader
            from sparkle_data.sampling import DecodeOptions

            wanted = [f for f in self.spec.fields if f in FILE_FIELDS or f == "boxes"]
            options = self.spec.options or DecodeOptions()
            self._loader = SampleLoader(
                self.catalog,
                tuple(wanted),  # type: ignore[arg-type]
                options.with_output("numpy"),
            )
        return self._loader

    def decoded(self, sample_id: str, files: SampleFiles | None = None) -> dict[str, Any]:
        """The decoded columns of one sample (``decode=True``): numpy arrays, decoded by
        :func:`~sparkle_data.sampling.decode_sample` (through the dataset's loader);
        ``files`` serves the members (read-ahead) instead of the catalog."""
        sample = self._sample_loader().load(sample_id, files=files)
        return {c: sample[c] for c in self.spec.loaded_columns}
