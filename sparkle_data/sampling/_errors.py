"""Errors of the sampling layer (both are :class:`ValueError` too)::

SparkleError
└── SamplingError(ValueError)        a sampling request that cannot be met
    ├── ShortClipError               fewer frames than the policy requires
    └── FieldMismatchError           fields of one sample disagree in T or H x W
"""

from __future__ import annotations

from sparkle_data.errors import SparkleError

__all__ = ["FieldMismatchError", "SamplingError", "ShortClipError"]


class SamplingError(SparkleError, ValueError):
    """A frame or size request that cannot be met for a sample."""


class ShortClipError(SamplingError):
    """The clip has fewer frames than the frame policy requires (``on_short="error"``)."""


class FieldMismatchError(SamplingError):
    """The video fields and masks of one sample disagree in frame count or frame size."""
