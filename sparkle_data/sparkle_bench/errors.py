"""Errors of the Sparkle-Bench harness (each a :class:`~sparkle_data.errors.SparkleError`,
defined with the whole tree in :mod:`sparkle_data.errors`)."""

from __future__ import annotations

from sparkle_data.errors import IncompleteScoresError, RaterError, RubricError, ScoreFileError

__all__ = ["IncompleteScoresError", "RaterError", "RubricError", "ScoreFileError"]
