"""Assemble one training sample from a catalog row: pair by id, then let sampling decode it.

Pairing is by sample id through the catalog (each field is located on its own: loose file or
shard member), never by position in a shard. Every file field and the boxes are decoded by
:func:`sparkle_data.sampling.decode_sample` through one plan per sample (the same frames and
geometry for every video field, the mask, the frame-0 images and the boxes); this module adds
the catalog's scalar columns (``scores``, ``metadata``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sparkle_data.catalog.cells import cell_value
from sparkle_data.catalog.model import Catalog
from sparkle_data.catalog.table import METADATA_COLUMNS, SCORE_COLUMNS
from sparkle_data.dataset.fields import Field
from sparkle_data.layout import parse_sample_id
from sparkle_data.sampling.decode import BOXES_RECORD, DECODED_FIELDS, SampleFiles, decode_sample
from sparkle_data.sampling.options import DecodeOptions, Output

__all__ = ["Output", "SampleLoader"]

_METADATA_COLUMNS = ("prompt", *METADATA_COLUMNS)


@dataclass
class SampleLoader:
    """Loads samples of one catalog with fixed options (picklable into DataLoader workers)."""

    catalog: Catalog
    fields: tuple[Field, ...]
    options: DecodeOptions = field(default_factory=DecodeOptions)

    def load(
        self, sample_id: str, *, epoch: int = 0, files: SampleFiles | None = None
    ) -> dict[str, Any]:
        """The sample's requested fields (see ``docs/train.md`` for shapes and dtypes).

        ``files`` serves the members instead of the catalog (read-ahead, a full pass's
        in-memory members); the catalog still gives the table columns."""
        row = self.catalog.table.loc[sample_id]
        out: dict[str, Any] = {"sample_id": sample_id, "edit_type": str(row["edit_type"])}
        decoded = [f for f in self.fields if f in DECODED_FIELDS]
        if decoded:
            out.update(
                decode_sample(
                    self.catalog if files is None else files,
                    sample_id,
                    decoded,
                    self.options,
                    epoch=epoch,
                    # In a DataLoader worker, decode into shared memory: the tensor is then
                    # sent to the main process as is, instead of being copied when it is sent.
                    shared_memory=self.options.output == "torch" and _in_worker(),
                )
            )
        if "scores" in self.fields:
            out["scores"] = {c: cell_value(row.get(c)) for c in SCORE_COLUMNS}
        if "metadata" in self.fields:
            out["metadata"] = {c: cell_value(row.get(c)) for c in _METADATA_COLUMNS}
        return out

    def prepare(self, sample_ids: Sequence[str]) -> None:
        """Do the per-theme work once, before DataLoader workers start (they inherit it):
        the line index of ``foreground_grounding_r2.jsonl`` of every theme in ``sample_ids``
        when ``boxes`` is requested. Otherwise each worker would read the whole file (a
        download per worker on a remote root) on its first sample."""
        if "boxes" in self.fields:
            themes = sorted({parse_sample_id(sid).edit_type for sid in sample_ids})
            self.catalog.index_record_lines(BOXES_RECORD, themes)


def _in_worker() -> bool:
    from torch.utils.data import get_worker_info

    return get_worker_info() is not None
