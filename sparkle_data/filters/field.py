"""Field names of filters: catalog columns, their aliases, and how values are read.

A *field* is a column of the catalog table (``docs/catalog.md``), named exactly as the column
(``frame0_overall``, ``video_mean_o_score``, ``grounding_empty_box_share``, ``subtheme``, ...).
``sample_id`` is the table's index. A few aliases are accepted on input and stored under
their column name, so ``to_dict()`` is stable:

* the card's record notation ``edited_frame0_score.overall`` -> ``frame0_overall``,
  ``edited_frame0_foreground_removed_score.overall`` -> ``fg_removed_overall`` (and the other
  sub-scores), ``edited_video_score.mean_O_score`` -> ``video_mean_o_score``;
* short names: ``theme`` -> ``edit_type``, ``keyword`` -> ``chosen_keyword``, ``id`` ->
  ``sample_id``, ``frames`` -> ``num_frames``, ``video_mean_o`` / ``video_min_o``,
  ``num_labels`` / ``empty_box_share`` / ``max_box_area`` / ``mean_box_area`` (grounding).

Columns that a catalog only has when built with an option (:data:`PENDING_COLUMNS`:
``num_frames`` needs ``probe_videos=True``) raise a :class:`~sparkle_data.filters.FilterError`
that says what is needed when a filter uses them on a table without them.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from sparkle_data.filters._errors import FilterError

if TYPE_CHECKING:
    import pandas as pd
    from numpy.typing import NDArray

__all__ = [
    "ALIASES",
    "PENDING_COLUMNS",
    "SAMPLE_ID",
    "column_values",
    "numeric_values",
    "resolve_field",
    "table_of",
]

SAMPLE_ID: Final = "sample_id"
"""The field naming the table's index."""

_SUBSCORES: Final = ("prompt_following", "consistency", "perceptual_quality", "overall")

ALIASES: Final[dict[str, str]] = {
    "theme": "edit_type",
    "keyword": "chosen_keyword",
    "id": SAMPLE_ID,
    "frames": "num_frames",
    "video_mean_o": "video_mean_o_score",
    "video_min_o": "video_min_o_score",
    "video_mean_sc": "video_mean_sc_score",
    "video_mean_pq": "video_mean_pq_score",
    "num_labels": "grounding_num_labels",
    "empty_box_share": "grounding_empty_box_share",
    "max_box_area": "grounding_max_box_area",
    "mean_box_area": "grounding_mean_box_area",
    "edited_video_score.mean_O_score": "video_mean_o_score",
    "edited_video_score.min_O_score": "video_min_o_score",
    **{f"edited_frame0_score.{s}": f"frame0_{s}" for s in _SUBSCORES},
    **{f"edited_frame0_foreground_removed_score.{s}": f"fg_removed_{s}" for s in _SUBSCORES},
}
"""Accepted spellings and the column each one means."""

PENDING_COLUMNS: Final[dict[str, str]] = {
    "num_frames": (
        "num_frames (decoded frames of the source video) is read from the video headers: "
        "build the catalog with build_catalog(..., probe_videos=True), or get a probed copy "
        "with catalog = sparkle_data.catalog.probe.probe_catalog_videos(catalog). Without "
        "probing, "
        "grounding_num_frames (the 2-FPS frames of the second grounding round) approximates "
        "num_frames / 8 at 16 fps."
    ),
}
"""Columns some filters use that a catalog may lack, and how to get them."""

_NAME_RE: Final = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


def resolve_field(name: str) -> str:
    """The column a field name means (aliases resolved); raises on names that cannot be one."""
    if not isinstance(name, str):
        raise FilterError.invalid("filter field", name, rule="must be a string")
    name = ALIASES.get(name, name)
    if not _NAME_RE.fullmatch(name):
        raise FilterError.invalid(
            "filter field",
            name,
            rule="must be a column name (letters, digits and _, starting with a letter)",
            hint="Use the catalog's column names, e.g. frame0_overall or edit_type.",
        )
    return name


def table_of(source: Any) -> pd.DataFrame:
    """The table of a :class:`~sparkle_data.catalog.Catalog`, or ``source`` if a DataFrame."""
    import pandas as pd

    if isinstance(source, pd.DataFrame):
        return source
    table = getattr(source, "table", None)
    if isinstance(table, pd.DataFrame):
        return table
    raise TypeError(
        f"Invalid source of type {type(source).__name__}: expected a Catalog or a pandas "
        "DataFrame (one row per sample id)."
    )


def column_values(table: pd.DataFrame, field: str) -> pd.Series[Any]:
    """The values of ``field`` for every row (the index for ``sample_id``)."""
    import pandas as pd

    if field in table.columns:
        col: Any = table[field]
        if isinstance(col, pd.DataFrame):
            raise FilterError.invalid(
                "filter field", field, rule="the table has several columns with this name"
            )
        out: pd.Series[Any] = col
        return out
    if field == SAMPLE_ID or (field == table.index.name and field is not None):
        ids: pd.Series[Any] = pd.Series(table.index, index=table.index, name=field)
        return ids
    if field in PENDING_COLUMNS:
        raise FilterError.invalid(
            "filter field", field, rule="the table has no such column", hint=PENDING_COLUMNS[field]
        )
    raise FilterError.invalid(
        "filter field",
        field,
        rule="the table has no such column",
        hint="See docs/catalog.md for the catalog's columns.",
    )


def _is_real(v: Any) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(
        v, (bool, np.bool_)
    )


def numeric_values(table: pd.DataFrame, field: str) -> NDArray[np.float64]:
    """``field`` as float64; missing values (None, NA) become NaN. Raises if not numeric."""
    from pandas.api.types import is_bool_dtype, is_numeric_dtype, is_object_dtype

    col = column_values(table, field)
    if is_numeric_dtype(col.dtype) and not is_bool_dtype(col.dtype):
        out: NDArray[np.float64] = col.to_numpy(dtype=np.float64, na_value=np.nan)
        return out
    if is_object_dtype(col.dtype):
        present = col[col.notna()]
        if all(_is_real(v) for v in present):
            return col.to_numpy(dtype=np.float64, na_value=np.nan)
    raise FilterError.invalid(
        "filter field",
        field,
        rule=f"a threshold needs a numeric column, this one holds {col.dtype}",
        hint="Compare text or categories with `in [...]` or matches(field, 'regex').",
    )
