"""Field validators shared by the text-artifact readers (private).

Each rule about a field lives here once and is used three ways: by a record's
``__post_init__`` (no file location known), by the lazy ``iter_*`` readers and by the fast
``load_*_table`` loaders (both with the file name and line number). A rule failure raises the
library's own error built with :meth:`SparkleError.invalid`; :meth:`RecordWhere.invalid` also tags
the error with a short *skip reason* (``invalid_score``, ``bbox_clamped``...) that lenient
readers count in their :class:`~sparkle_data.policy.SkipReport`.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Final, NamedTuple, TypeVar

from sparkle_data.errors import CorruptRecordError, LayoutError, SparkleError
from sparkle_data.layout import EditType, SampleId, canonical_edit_type, parse_sample_id

__all__ = [
    "MISSING",
    "NOWHERE",
    "SCORE_MAX",
    "SCORE_MIN",
    "RecordWhere",
    "check_edit_type",
    "check_raw_edit_type",
    "check_sample_id",
    "check_score",
    "check_text",
    "checked_record",
    "reason_of",
    "wrong_type",
]

_E = TypeVar("_E", bound=SparkleError)
_D = TypeVar("_D")

SCORE_MIN: Final = 0.0
SCORE_MAX: Final = 10.0
"""EditScore scores (sub-scores and the aggregated ``overall`` / ``O_score``) lie in [0, 10]."""

_REASON_ATTR: Final = "_sparkle_skip_reason"


class _Missing:
    """Marks a JSON key that is absent (distinct from an explicit ``null``)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<missing>"


MISSING: Final = _Missing()


def reason_of(error: SparkleError) -> str:
    """The skip reason an error was tagged with, else its class name."""
    reason = getattr(error, _REASON_ATTR, None)
    return reason if isinstance(reason, str) else type(error).__name__


class RecordWhere(NamedTuple):
    """Where a value came from: file name, physical line, sample id, CSV data row.

    A named tuple (not a dataclass) because one is made per line on the fast paths.
    """

    path: str | None = None
    line: int | None = None
    sample_id: str | None = None
    row: int | None = None

    def at_sample(self, sample_id: str) -> RecordWhere:
        return RecordWhere(self.path, self.line, sample_id, self.row)

    def invalid(
        self,
        cls: type[_E],
        what: str,
        value: object,
        *,
        rule: str,
        hint: str | None = None,
        reason: str,
    ) -> _E:
        """Build ``cls`` with the message template and this location, tagged with ``reason``."""
        if self.row is not None:
            what = f"{what} (CSV row {self.row})"
        error = cls.invalid(
            what,
            value,
            rule=rule,
            hint=hint,
            path=self.path,
            sample_id=self.sample_id,
            line=self.line,
        )
        setattr(error, _REASON_ATTR, reason)
        return error


NOWHERE: Final = RecordWhere()


def check_sample_id(value: object, where: RecordWhere, *, field: str = "id") -> SampleId:
    """Parse a sample id (``Sparkle_{edit_type}_{NNNNNN}``); :class:`LayoutError` otherwise."""
    if value is MISSING:
        raise where.invalid(
            CorruptRecordError, field, value, rule="required field is missing", reason="invalid_id"
        )
    try:
        return parse_sample_id(value)  # type: ignore[arg-type]
    except LayoutError:
        raise where.invalid(
            LayoutError,
            field,
            value,
            rule="must be a sample id Sparkle_{edit_type}_{NNNNNN}",
            hint="Example: Sparkle_location_000000.",
            reason="invalid_id",
        ) from None


def check_edit_type(
    sid: SampleId,
    expected: str | None,
    where: RecordWhere,
    *,
    allowed: tuple[str, ...] | None = None,
) -> None:
    """Raise :class:`LayoutError` when the id's edit type is not ``expected`` (when given) or
    not among ``allowed`` (when given)."""
    if allowed is not None and sid.edit_type not in allowed:
        raise where.invalid(
            LayoutError,
            "sample id",
            str(sid),
            rule=f"edit type {sid.edit_type!r} is not allowed here",
            hint="Expected one of: " + ", ".join(allowed) + ".",
            reason="edit_type_mismatch",
        )
    if expected is not None and sid.edit_type != expected:
        raise where.invalid(
            LayoutError,
            "sample id",
            str(sid),
            rule=f"belongs to edit type {sid.edit_type!r}, but this file is {expected!r}",
            hint="Pass the edit type of the file (or edit_type=None to accept any).",
            reason="edit_type_mismatch",
        )


def wrong_type(value: object, where: RecordWhere, field: str, expected: str) -> CorruptRecordError:
    """The error for a ``field`` that is absent or not ``expected`` (``"an array"``...)."""
    rule = "required field is missing" if value is MISSING else f"must be {expected}"
    return where.invalid(CorruptRecordError, field, value, rule=rule, reason="invalid_field")


def check_raw_edit_type(
    value: object, sid: SampleId, where: RecordWhere, field: str, *, hint: str | None = None
) -> EditType:
    """A record's own edit type field: a Sparkle edit type (aliases such as
    ``openve3m_background_change`` accepted) that agrees with the id's; the canonical name."""
    raw = check_text(value, where, field)
    try:
        canonical = canonical_edit_type(raw)
    except LayoutError:
        raise where.invalid(
            LayoutError,
            field,
            raw,
            rule="not a Sparkle edit type",
            hint=hint,
            reason="invalid_field",
        ) from None
    if canonical != sid.edit_type:
        raise where.invalid(
            LayoutError,
            field,
            raw,
            rule=f"disagrees with the id's edit type {sid.edit_type!r}",
            reason="edit_type_mismatch",
        )
    return canonical


def check_text(value: object, where: RecordWhere, field: str, *, nonempty: bool = False) -> str:
    """A string field; with ``nonempty`` it must hold a non-whitespace character."""
    if isinstance(value, str):
        if nonempty and not value.strip():
            raise where.invalid(
                CorruptRecordError, field, value, rule="must not be empty", reason="invalid_field"
            )
        return value
    raise wrong_type(value, where, field, "a string")


def check_score(value: object, where: RecordWhere, field: str) -> float:
    """An EditScore score: an int or float, finite, in ``[0, 10]``; returned as ``float``.

    The chained comparison is False for NaN and for infinities, so non-finite values fail the
    same single test as out-of-range ones (``nan < 8`` being False must never keep a sample).
    """
    if type(value) is float:  # the common case first: a JSON float
        if SCORE_MIN <= value <= SCORE_MAX:
            return value
    elif (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and SCORE_MIN <= value <= SCORE_MAX
    ):
        return float(value)
    reason = "invalid_score"
    if value is MISSING:
        rule = "required field is missing"
    elif isinstance(value, bool) or not isinstance(value, (int, float)):
        rule = "must be a number"
    elif isinstance(value, float) and not math.isfinite(value):
        rule, reason = "must be finite (NaN and infinities are rejected)", "non_finite_score"
    else:
        rule = f"must be in [{SCORE_MIN:g}, {SCORE_MAX:g}]"
    raise where.invalid(CorruptRecordError, field, value, rule=rule, reason=reason)


def checked_record(cls: type[_D], values: tuple[object, ...]) -> _D:
    """A ``cls`` (a frozen dataclass) holding ``values`` that already passed every check of
    ``cls.__post_init__`` (the readers run those very checks, with the file location, before
    building a record), so they are not run a second time.

    Only for records whose ``__post_init__`` checks and changes nothing (``PromptRow``,
    ``MetadataRecord``: ``tests/test_readers_fastpath.py`` holds them to that).
    """
    record = object.__new__(cls)
    for field, value in zip(_field_names(cls), values, strict=True):
        object.__setattr__(record, field, value)
    return record


def _field_names(cls: type) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in dataclasses.fields(cls))
    return names


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}
