"""A catalog table's cells as plain Python values.

One rule for every front end that hands table values to users or writes them as JSON
(:class:`~sparkle_data.dataset.SparkleDataset` samples, 🤗 rows, WebDataset metadata, the
funnel's JSON): a missing cell (``None``, NaN, ``pd.NA``, ``NaT``) is ``None``; a numpy
scalar is the Python scalar; anything else is returned unchanged.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["cell_text", "cell_value"]


def cell_value(value: Any) -> Any:
    """``value`` as a plain Python value, ``None`` when the cell is missing (see the module)."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) else value
    return None if _is_missing(value) else value


def cell_text(value: Any) -> str | None:
    """``value`` as text, ``None`` when the cell is missing."""
    plain = cell_value(value)
    return None if plain is None else str(plain)


def _is_missing(value: Any) -> bool:
    import pandas as pd

    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # an array or a list in a cell: not a missing value
        return False
