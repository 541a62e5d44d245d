"""Select corpus samples of a catalog (shared by the torch datasets and the 🤗 front end)."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from sparkle_data.catalog.model import Catalog
from sparkle_data.errors import FilterWarning
from sparkle_data.layout import parse_sample_id

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Predicate", "select_ids", "warn_if_empty"]

Predicate = Callable[["pd.DataFrame"], Any]
"""A filter over the catalog table returning a boolean mask (or an object with ``mask``)."""


def select_ids(
    catalog: Catalog,
    *,
    edit_types: Sequence[str] | None = None,
    ids: Sequence[str] | None = None,
    where: Predicate | None = None,
) -> list[str]:
    """Corpus sample ids (sorted) that pass every given constraint, before any byte is read.

    ``where`` is evaluated on the catalog table (a pandas DataFrame, one row per sample) and
    must return a boolean mask: a callable, or an object with ``mask(table)``. Unknown or
    excluded ``ids`` raise ``ValueError``. Samples a lenient catalog marked unusable (a
    ``skip_reason``: one of their lines or rows was skipped) are left out.
    """
    t = catalog.table
    if not len(t):
        if ids:
            raise ValueError(f"Invalid ids {list(ids)[:5]}: {catalog.root} has no corpus samples.")
        return []
    keep = t["in_corpus"].to_numpy(copy=True).astype(bool)
    if edit_types is not None:
        keep &= t["edit_type"].isin(list(edit_types)).to_numpy()
    if ids is not None:
        wanted = [str(parse_sample_id(i)) for i in ids]
        unknown = sorted(set(wanted) - set(t.index[keep]))
        if unknown:
            raise ValueError(
                f"Invalid ids {unknown[:5]}{'...' if len(unknown) > 5 else ''}: not corpus "
                f"samples of {catalog.root} (under the other constraints)."
            )
        keep &= t.index.isin(wanted)
    if where is not None:
        mask_fn = getattr(where, "mask", None)
        if not callable(mask_fn) and not callable(where):
            raise TypeError(
                f"Invalid where {where!r}: must be a filter (an object with mask(table), e.g. "
                "sparkle_data.filters.PAPER) or a callable on the catalog table. "
                + (
                    f"Parse an expression first: where=parse_filter({where!r}) "
                    "(from sparkle_data.filters)."
                    if isinstance(where, str)
                    else ""
                )
            )
        mask = mask_fn(t) if callable(mask_fn) else where(t)
        keep &= np.asarray(mask, dtype=bool)
    if "skip_reason" in t.columns:
        keep &= t["skip_reason"].isna().to_numpy()
    return sorted(str(i) for i in t.index[keep])


def warn_if_empty(
    selected: Sequence[str],
    catalog: Catalog,
    *,
    edit_types: Sequence[str] | None = None,
    ids: Sequence[str] | None = None,
    where: Predicate | None = None,
    stacklevel: int = 1,
) -> None:
    """Warn (:class:`~sparkle_data.errors.FilterWarning`) when ``selected`` is empty: a
    dataset over it would yield nothing, and a training loop would run no step.
    ``stacklevel`` as in :func:`warnings.warn`, counted from the caller."""
    if selected:
        return
    asked = [f"edit_types={list(edit_types)}"] if edit_types is not None else []
    if ids is not None:
        asked.append(f"{len(ids)} ids")
    if where is not None:
        asked.append(f"where={where!r}")
    constraints = ", ".join(asked) or "no constraint"
    corpus = int(catalog.table["in_corpus"].sum()) if len(catalog.table) else 0
    why = (
        f"The root holds {corpus} corpus samples; check the filter's thresholds and field names."
        if corpus
        else "The root holds no corpus sample: its prompts CSVs list no pair."
    )
    warnings.warn(
        f"No corpus sample of {catalog.root} passes the selection ({constraints}): the "
        f"dataset is empty. {why}",
        FilterWarning,
        stacklevel=stacklevel + 1,
    )
