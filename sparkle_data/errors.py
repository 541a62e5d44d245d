"""The sparkle-data error hierarchy.

Every error the library raises on purpose derives from :class:`SparkleError` and also from
the built-in exception a caller would naturally catch::

    SparkleError(Exception)
    ├── LayoutError(ValueError)             a name, id or path breaks the card's naming rules
    ├── UnsafeArchiveError(ValueError)      a tar member that must never be read (.., symlink, ...)
    ├── IntegrityError(ValueError)          bytes disagree with an index, size or sha256
    ├── CorruptArtifactError(ValueError)    a file that cannot be parsed as what it claims to be
    │   ├── CorruptVideoError
    │   ├── CorruptMaskError
    │   ├── CorruptImageError
    │   └── CorruptRecordError              CSV / JSONL rows (prompts, metadata, scores, grounding)
    ├── JoinError(ValueError)               ids that do not pair up (duplicates, mismatches)
    ├── MissingArtifactError(LookupError)   a requested artifact is not present for a sample
    └── RemoteError(ConnectionError)        a remote read failed after its retries

Packages add a few errors of their own under ``SparkleError`` (all also ``ValueError``):
``sampling.SamplingError`` (``ShortClipError``, ``FieldMismatchError``), ``filters.FilterError``
(``FilterSyntaxError``, ``SubsetMismatchError``) and ``dataset.ResumeStateError``.

Messages follow one template so that a user can find the bad byte::

    Invalid {what} {value!r} in {path}::{member} (sample {sample_id}, line {line}): {rule}. {hint}

Use :meth:`SparkleError.invalid` to build one; the location parts are kept as attributes.
"""

from __future__ import annotations

from typing import Any, TypeVar

__all__ = [
    "CorruptArtifactError",
    "CorruptImageError",
    "CorruptMaskError",
    "CorruptRecordError",
    "CorruptVideoError",
    "IntegrityError",
    "JoinError",
    "LayoutError",
    "MissingArtifactError",
    "RemoteError",
    "SparkleError",
    "UnsafeArchiveError",
    "format_location",
]

_E = TypeVar("_E", bound="SparkleError")


def format_location(
    path: str | None = None,
    member: str | None = None,
    sample_id: str | None = None,
    line: int | None = None,
) -> str:
    """Render ``path::member (sample X, line N)``; empty parts are left out."""
    where = ""
    if path is not None:
        where = str(path)
    if member is not None:
        where = f"{where}::{member}" if where else member
    extra = []
    if sample_id is not None:
        extra.append(f"sample {sample_id}")
    if line is not None:
        extra.append(f"line {line}")
    if extra:
        where = f"{where} ({', '.join(extra)})" if where else ", ".join(extra)
    return where


class SparkleError(Exception):
    """Base class of every error raised on purpose by sparkle-data."""

    path: str | None
    member: str | None
    sample_id: str | None
    line: int | None

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        member: str | None = None,
        sample_id: str | None = None,
        line: int | None = None,
    ) -> None:
        super().__init__(message)
        self.path = None if path is None else str(path)
        self.member = member
        self.sample_id = sample_id
        self.line = line

    @classmethod
    def invalid(
        cls: type[_E],
        what: str,
        value: Any,
        *,
        rule: str,
        hint: str | None = None,
        path: str | None = None,
        member: str | None = None,
        sample_id: str | None = None,
        line: int | None = None,
    ) -> _E:
        """Build an error following the library's message template."""
        where = format_location(path, member, sample_id, line)
        shown = repr(value)
        if len(shown) > 200:
            shown = shown[:197] + "..."
        msg = f"Invalid {what} {shown}"
        if where:
            msg += f" in {where}"
        msg += f": {rule.rstrip('.')}."
        if hint:
            msg += f" {hint}"
        return cls(msg, path=path, member=member, sample_id=sample_id, line=line)


class LayoutError(SparkleError, ValueError):
    """A sample id, artifact, shard name, member path or CSV path breaks the card's rules."""


class UnsafeArchiveError(SparkleError, ValueError):
    """A tar member that must never be read: absolute, ``..``, link, device or duplicate."""


class IntegrityError(SparkleError, ValueError):
    """Bytes that disagree with what an index, a size or a checksum says they should be."""


class CorruptArtifactError(SparkleError, ValueError):
    """A file that cannot be parsed as the artifact it claims to be."""


class CorruptVideoError(CorruptArtifactError):
    """An MP4 that cannot be decoded, is truncated, has no frames or no video stream."""


class CorruptMaskError(CorruptArtifactError):
    """A ``source_video_mask`` NPZ that breaks the packed-bit format."""


class CorruptImageError(CorruptArtifactError):
    """A PNG frame that cannot be decoded."""


class CorruptRecordError(CorruptArtifactError):
    """A CSV row or JSONL line that breaks its schema."""


class JoinError(SparkleError, ValueError):
    """Ids that do not pair up: duplicates, or rows present on one side only."""


class MissingArtifactError(SparkleError, LookupError):
    """A requested artifact is not available for a sample."""


class RemoteError(SparkleError, ConnectionError):
    """A remote read failed after its retries.

    ``url``, ``offset`` and ``attempts`` say which read failed and how hard it was tried.
    """

    url: str | None
    offset: int | None
    attempts: int | None

    def __init__(
        self,
        message: str,
        *,
        url: str | None = None,
        offset: int | None = None,
        attempts: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        self.url = url
        self.offset = offset
        self.attempts = attempts
