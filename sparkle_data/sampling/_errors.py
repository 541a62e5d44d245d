"""Errors of the sampling layer: :class:`~sparkle_data.errors.SamplingError` and its
subclasses ``ShortClipError`` and ``FieldMismatchError`` (defined with the whole tree in
:mod:`sparkle_data.errors`).
"""

from __future__ import annotations

from sparkle_data.errors import FieldMismatchError, SamplingError, ShortClipError

__all__ = ["FieldMismatchError", "SamplingError", "ShortClipError"]
