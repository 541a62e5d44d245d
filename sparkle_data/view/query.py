"""Gallery queries: URL parameters -> a validated query -> the rows of one page.

Every filter goes through :mod:`sparkle_data.filters` (the same rules as ``subset`` and
``stats``): ``theme``/``subtheme`` are exact lists, ``scene``/``keyword`` are
case-insensitive substrings, ``where`` is any filter expression. A bad value raises
:class:`ViewQueryError` (the app answers ``400``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from sparkle_data.catalog.table import SCORE_COLUMNS
from sparkle_data.errors import PageNotFoundError, ViewQueryError
from sparkle_data.layout import EDIT_TYPES

if TYPE_CHECKING:
    import pandas as pd

    from sparkle_data.filters import Filter

__all__ = [
    "MAX_PER_PAGE",
    "SORT_COLUMNS",
    "STATUSES",
    "GalleryPage",
    "GalleryQuery",
    "PageNotFoundError",
    "ViewQueryError",
    "run_query",
]

MAX_PER_PAGE: Final = 200
STATUSES: Final = ("all", "corpus", "rejected")
SORT_COLUMNS: Final[tuple[str, ...]] = (
    "sample_id",
    *SCORE_COLUMNS,
    "grounding_num_labels",
    "grounding_num_frames",
    "grounding_empty_box_share",
    "grounding_max_box_area",
    "grounding_mean_box_area",
)


@dataclass(frozen=True, slots=True)
class GalleryQuery:
    """A validated gallery request; :meth:`params` writes it back as URL parameters."""

    themes: tuple[str, ...] = ()
    subthemes: tuple[str, ...] = ()
    scene: str = ""
    keyword: str = ""
    where: str = ""
    status: str = "all"
    sort: str = "sample_id"
    descending: bool = False
    page: int = 1
    per_page: int = 24
    filter: Filter | None = field(default=None, compare=False)

    @classmethod
    def from_params(cls, params: Mapping[str, Sequence[str]], per_page: int = 24) -> GalleryQuery:
        """Parse URL parameters (each name to its list of values)."""
        from sparkle_data.filters import FilterError, parse_filter

        def one(name: str, default: str = "") -> str:
            values = [v for v in params.get(name, ()) if v != ""]
            if len(values) > 1:
                raise ViewQueryError.invalid(name, values, rule="given more than once")
            return values[0].strip() if values else default

        def many(name: str) -> tuple[str, ...]:
            out: list[str] = []
            for v in params.get(name, ()):
                out.extend(p.strip() for p in v.split(",") if p.strip())
            return tuple(dict.fromkeys(out))

        themes = many("theme")
        for t in themes:
            if t not in EDIT_TYPES:
                raise ViewQueryError.invalid(
                    "theme", t, rule=f"not an edit type (one of {', '.join(EDIT_TYPES)})"
                )
        status = one("status", "all")
        if status not in STATUSES:
            raise ViewQueryError.invalid("status", status, rule=f"not one of {STATUSES}")
        sort = one("sort", "sample_id")
        descending = sort.startswith("-")
        sort = sort.lstrip("-")
        if sort not in SORT_COLUMNS:
            raise ViewQueryError.invalid(
                "sort", sort, rule="not a sortable column", hint=f"Use one of {SORT_COLUMNS}."
            )
        order = one("order", "")
        if order not in ("", "asc", "desc"):
            raise ViewQueryError.invalid("order", order, rule="must be 'asc' or 'desc'")
        descending = descending or order == "desc"
        page = _positive_int("page", one("page", "1"), 10**9)
        size = _positive_int("per_page", one("per_page", str(per_page)), MAX_PER_PAGE)
        where = one("where")
        rules: Filter | None = None
        if where:
            try:
                rules = parse_filter(where)
            except (FilterError, ValueError) as e:
                raise ViewQueryError(str(e)) from None
        subthemes = many("subtheme")
        scene, keyword = one("scene"), one("keyword")
        return cls(
            themes=themes,
            subthemes=subthemes,
            scene=scene,
            keyword=keyword,
            where=where,
            status=status,
            sort=sort,
            descending=descending,
            page=page,
            per_page=size,
            filter=_combine(themes, subthemes, scene, keyword, rules),
        )

    def params(self, **changes: Any) -> dict[str, str]:
        """The query as URL parameters (defaults left out), with ``changes`` applied."""
        values: dict[str, Any] = {
            "theme": ",".join(self.themes),
            "subtheme": ",".join(self.subthemes),
            "scene": self.scene,
            "keyword": self.keyword,
            "where": self.where,
            "status": "" if self.status == "all" else self.status,
            "sort": "" if self.sort == "sample_id" else self.sort,
            "order": "desc" if self.descending else "",
            "page": "" if self.page == 1 else str(self.page),
        }
        values.update({k: "" if v is None else str(v) for k, v in changes.items()})
        return {k: v for k, v in values.items() if v}


def _positive_int(name: str, text: str, upper: int) -> int:
    if not (text.isascii() and text.isdigit()):
        raise ViewQueryError.invalid(name, text, rule="must be a positive integer")
    value = int(text)
    if not 1 <= value <= upper:
        raise ViewQueryError.invalid(name, value, rule=f"must be in [1, {upper}]")
    return value


def _combine(
    themes: tuple[str, ...],
    subthemes: tuple[str, ...],
    scene: str,
    keyword: str,
    rules: Filter | None,
) -> Filter | None:
    from sparkle_data.filters import field as col

    parts: list[Filter] = []
    if themes:
        parts.append(col("edit_type").isin(list(themes)))
    if subthemes:
        parts.append(col("subtheme").isin(list(subthemes)))
    if scene:
        parts.append(col("scene").matches(re.escape(scene), ignore_case=True))
    if keyword:
        parts.append(col("chosen_keyword").matches(re.escape(keyword), ignore_case=True))
    if rules is not None:
        parts.append(rules)
    if not parts:
        return None
    combined = parts[0]
    for p in parts[1:]:
        combined = combined & p
    return combined


@dataclass(frozen=True, slots=True)
class GalleryPage:
    """The rows of one page and the counts around it."""

    rows: pd.DataFrame
    total: int
    page: int
    pages: int
    warnings: tuple[str, ...] = ()


def run_query(table: pd.DataFrame, query: GalleryQuery) -> GalleryPage:
    """Filter, sort and cut ``table`` to the query's page.

    Raises :class:`PageNotFoundError` for a page past the last one, and
    :class:`ViewQueryError` when a ``where`` rule cannot run on this table.
    """
    from sparkle_data.filters import FilterError

    rows = table
    if query.status != "all":
        rows = rows[rows["status"] == query.status]
    warnings: tuple[str, ...] = ()
    if query.filter is not None:
        try:
            result = query.filter.apply(rows)
        except (FilterError, KeyError, ValueError) as e:
            raise ViewQueryError(str(e)) from None
        rows = result.table
        warnings = tuple(str(w) for w in result.warnings)
    if query.sort == "sample_id":
        rows = rows.sort_index(ascending=not query.descending)
    else:
        if query.sort not in rows.columns:
            raise ViewQueryError.invalid("sort", query.sort, rule="not a column of this catalog")
        rows = rows.sort_values(
            query.sort, ascending=not query.descending, na_position="last", kind="stable"
        )
    total = len(rows)
    pages = max(1, math.ceil(total / query.per_page))
    if query.page > pages:
        raise PageNotFoundError.invalid("page", query.page, rule=f"past the last page ({pages})")
    start = (query.page - 1) * query.per_page
    return GalleryPage(
        rows.iloc[start : start + query.per_page], total, query.page, pages, warnings
    )
