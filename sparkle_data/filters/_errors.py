"""Errors of the filter layer: :class:`~sparkle_data.errors.FilterError` and its subclasses
``FilterSyntaxError`` and ``SubsetMismatchError`` (defined with the whole tree in
:mod:`sparkle_data.errors`).
"""

from __future__ import annotations

from sparkle_data.errors import FilterError, FilterSyntaxError, SubsetMismatchError

__all__ = ["FilterError", "FilterSyntaxError", "SubsetMismatchError"]
