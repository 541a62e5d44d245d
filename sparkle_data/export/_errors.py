"""Errors of the export layer: :class:`~sparkle_data.errors.ExportError`, an export that
cannot be planned, resumed or pushed (defined with the whole tree in :mod:`sparkle_data.errors`).
"""

from __future__ import annotations

from sparkle_data.errors import ExportError

__all__ = ["ExportError"]
