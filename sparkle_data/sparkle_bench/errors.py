"""Errors of the Sparkle-Bench harness (each a :class:`~sparkle_data.errors.SparkleError`)."""

from __future__ import annotations

from sparkle_data.errors import SparkleError

__all__ = ["IncompleteScoresError", "RaterError", "RubricError", "ScoreFileError"]


class RubricError(SparkleError, ValueError):
    """The rubric file could not be read, or has no usable ``{edit_prompt}`` slot."""


class ScoreFileError(SparkleError, ValueError):
    """A score file line is not a valid Sparkle-Bench score record."""


class IncompleteScoresError(SparkleError, LookupError):
    """A macro row was asked for while items or themes are unrated (see ``--allow-missing``)."""


class RaterError(SparkleError, RuntimeError):
    """The rater endpoint refused the run (authentication, bad request, unknown model)."""
