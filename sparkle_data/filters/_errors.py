"""Errors of the filter layer (all are :class:`ValueError` too)::

SparkleError
└── FilterError(ValueError)          a filter that cannot be built or evaluated on a table
    ├── FilterSyntaxError            an expression outside the filter grammar
    └── SubsetMismatchError          a subset spec selects other ids than it recorded
"""

from __future__ import annotations

from sparkle_data.errors import SparkleError

__all__ = ["FilterError", "FilterSyntaxError", "SubsetMismatchError"]


class FilterError(SparkleError, ValueError):
    """A filter that cannot be built (bad field, value, dict) or evaluated on a table."""


class FilterSyntaxError(FilterError):
    """A filter expression that is not valid Python or uses syntax outside the grammar."""


class SubsetMismatchError(FilterError):
    """Rebuilding a subset spec on a catalog gives other ids than the spec recorded."""
