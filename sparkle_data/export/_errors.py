"""Errors of the export layer::

SparkleError
└── ExportError(ValueError)      an export that cannot be planned, resumed or pushed
"""

from __future__ import annotations

from sparkle_data.errors import SparkleError

__all__ = ["ExportError"]


class ExportError(SparkleError, ValueError):
    """An export that cannot be planned (bad ids or options), resumed (the output folder
    holds another export) or pushed (the folder is not a complete export)."""
