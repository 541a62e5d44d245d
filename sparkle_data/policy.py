"""Error policies and skip accounting shared by every reader.

Strict is the default: a bad item raises. ``on_error="skip"`` (or ``"warn"``, which also emits
a :class:`SparkleSkipWarning`) drops it, and every drop is counted by reason in a
:class:`SkipReport`, with the first few examples kept. ``max_skips`` bounds the damage: one more
skip than allowed raises the error that caused it, so silent decay becomes loud.

This module holds the error policy only, the one policy every layer shares; frame, resize and
retry policies are options of the layer that applies them (``sampling``, ``io.retry``).
:class:`SparkleSkipWarning` is defined with the other warnings in :mod:`sparkle_data.errors`.
"""

from __future__ import annotations

import warnings
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Final, Literal, get_args

from sparkle_data.errors import SparkleError, SparkleSkipWarning, format_location

__all__ = ["ON_ERROR_CHOICES", "OnError", "SkipExample", "SkipReport", "SparkleSkipWarning"]

OnError = Literal["error", "skip", "warn"]
ON_ERROR_CHOICES: Final[tuple[OnError, ...]] = get_args(OnError)


@dataclass(frozen=True, slots=True)
class SkipExample:
    reason: str
    message: str
    path: str | None = None
    member: str | None = None
    sample_id: str | None = None
    line: int | None = None

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass
class SkipReport:
    """Counts of skipped items by reason, with the first ``keep_examples`` examples.

    Call :meth:`handle` from a reader's ``except`` block: under ``"error"`` it re-raises,
    otherwise it records the skip (and raises once ``max_skips`` is exceeded).
    """

    on_error: OnError = "error"
    max_skips: int | None = None
    keep_examples: int = 10
    counts: Counter[str] = field(default_factory=Counter)
    examples: list[SkipExample] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.on_error not in ON_ERROR_CHOICES:
            raise ValueError(
                f"Invalid on_error {self.on_error!r}: must be one of {', '.join(ON_ERROR_CHOICES)}."
            )
        if self.max_skips is not None and self.max_skips < 0:
            raise ValueError(f"Invalid max_skips {self.max_skips!r}: must be >= 0 or None.")

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def handle(self, error: SparkleError, reason: str | None = None) -> None:
        """Raise ``error`` under the strict policy; otherwise count it as a skip."""
        if self.on_error == "error":
            raise error
        reason = reason or type(error).__name__
        if self.max_skips is not None and self.total + 1 > self.max_skips:
            raise type(error)(
                f"{error} (skip budget exhausted: max_skips={self.max_skips}, "
                f"already skipped {self.total}: {dict(self.counts)})",
                path=error.path,
                member=error.member,
                sample_id=error.sample_id,
                line=error.line,
            ) from error
        self.counts[reason] += 1
        if len(self.examples) < self.keep_examples:
            self.examples.append(
                SkipExample(
                    reason, str(error), error.path, error.member, error.sample_id, error.line
                )
            )
        if self.on_error == "warn":
            where = format_location(error.path, error.member, error.sample_id, error.line)
            warnings.warn(f"skipped ({reason}) {where}: {error}", SparkleSkipWarning, stacklevel=3)

    def merge(self, other: SkipReport) -> None:
        self.counts.update(other.counts)
        room = self.keep_examples - len(self.examples)
        self.examples.extend(other.examples[: max(room, 0)])

    def to_dict(self) -> dict[str, object]:
        return {
            "total": self.total,
            "counts": dict(self.counts),
            "examples": [e.to_dict() for e in self.examples],
        }

    def __str__(self) -> str:
        if not self.total:
            return "no items skipped"
        parts = ", ".join(f"{k}: {v}" for k, v in sorted(self.counts.items()))
        return f"{self.total} skipped ({parts})"
