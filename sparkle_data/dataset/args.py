"""The keyword arguments every Sparkle dataset takes: which samples, and how to decode them.

:class:`~sparkle_data.dataset.SparkleDataset`, :class:`~sparkle_data.dataset.SparkleMapDataset`
and :class:`~sparkle_data.dataset.SparkleFullPass` select and decode samples the same way.
Their shared keywords are declared once, as :class:`SampleKeywords` (``**sample``, typed
with ``Unpack``), with their defaults and checks in :class:`SampleArgs`:

* selection: ``fields``, ``edit_types``, ``ids``, ``where`` (applied to the catalog before
  any byte is read);
* decoding: ``frames``, ``resize``, ``frame_mismatch``, ``box_frames``, ``output``,
  ``max_decoded_bytes`` (a :class:`~sparkle_data.sampling.DecodeOptions`);
* errors: ``on_error``, ``max_skips`` (a :class:`~sparkle_data.policy.SkipReport`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, TypedDict

from sparkle_data.catalog.model import Catalog
from sparkle_data.catalog.select import Predicate, select_ids, warn_if_empty
from sparkle_data.dataset.fields import DEFAULT_FIELDS, FILE_FIELDS, Field, check_fields
from sparkle_data.dataset.sample import SampleLoader
from sparkle_data.policy import OnError, SkipReport
from sparkle_data.readers.limits import DEFAULT_MAX_DECODED_BYTES
from sparkle_data.sampling import BoxFrames, DecodeOptions, FrameMismatch, FrameSampler, Resize
from sparkle_data.sampling.options import Output

__all__ = ["SampleArgs", "SampleKeywords"]


class SampleKeywords(TypedDict, total=False):
    """The keyword arguments the Sparkle datasets share (``**sample``; see :class:`SampleArgs`
    for the defaults)."""

    fields: Sequence[str]
    edit_types: Sequence[str] | None
    ids: Sequence[str] | None
    where: Predicate | None
    frames: FrameSampler | None
    resize: Resize | None
    frame_mismatch: FrameMismatch
    box_frames: BoxFrames
    output: Output
    on_error: OnError
    max_skips: int | None
    max_decoded_bytes: int | None


@dataclass(frozen=True)
class SampleArgs:
    """The shared keywords of a dataset, with their defaults, checked once."""

    fields: Sequence[str] = DEFAULT_FIELDS
    edit_types: Sequence[str] | None = None
    ids: Sequence[str] | None = None
    where: Predicate | None = None
    frames: FrameSampler | None = None
    resize: Resize | None = None
    frame_mismatch: FrameMismatch = "error"
    box_frames: BoxFrames = "exact"
    output: Output = "torch"
    on_error: OnError = "error"
    max_skips: int | None = None
    max_decoded_bytes: int | None = DEFAULT_MAX_DECODED_BYTES

    @classmethod
    def of(cls, owner: str, keywords: Mapping[str, Any]) -> SampleArgs:
        """The arguments from a dataset's ``**sample`` (unknown names raise ``TypeError``,
        as Python does for a plain signature)."""
        unknown = set(keywords).difference(f.name for f in fields(cls))
        if unknown:
            raise TypeError(f"{owner}() got an unexpected keyword argument {min(unknown)!r}")
        return cls(**keywords)

    @property
    def checked_fields(self) -> tuple[Field, ...]:
        """``fields`` validated and de-duplicated, in order."""
        return check_fields(self.fields)

    def artifacts(self) -> tuple[str, ...]:
        """The artifacts whose shards the fields read (boxes map through the source video)."""
        wanted = self.checked_fields
        arts: list[str] = [f for f in wanted if f in FILE_FIELDS]
        if "boxes" in wanted and "source_video" not in arts:
            arts.insert(0, "source_video")
        return tuple(arts)

    def decode_options(self) -> DecodeOptions:
        return DecodeOptions(
            self.frames,
            self.resize,
            self.frame_mismatch,
            self.box_frames,
            self.output,
            self.max_decoded_bytes,
        )

    def skip_report(self) -> SkipReport:
        return SkipReport(on_error=self.on_error, max_skips=self.max_skips)

    def select(self, catalog: Catalog, *, stacklevel: int = 1) -> list[str]:
        """The sample ids of ``catalog`` that pass ``edit_types`` / ``ids`` / ``where``
        (a :class:`~sparkle_data.errors.FilterWarning` at ``stacklevel`` when none does)."""
        chosen = select_ids(catalog, edit_types=self.edit_types, ids=self.ids, where=self.where)
        warn_if_empty(
            chosen,
            catalog,
            edit_types=self.edit_types,
            ids=self.ids,
            where=self.where,
            stacklevel=stacklevel + 1,
        )
        return chosen

    def loader(self, catalog: Catalog, ids: Sequence[str]) -> SampleLoader:
        """The loader of these fields and decoding options, prepared for ``ids`` (the
        per-theme work done once, before DataLoader workers start)."""
        loader = SampleLoader(catalog, self.checked_fields, self.decode_options())
        loader.prepare(ids)
        return loader
