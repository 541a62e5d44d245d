"""The sparkle-data error and warning hierarchy: every class of it is defined here.

Every error the library raises on purpose derives from :class:`SparkleError` and also from
the built-in exception a caller would naturally catch::

    SparkleError(Exception)
    ├── LayoutError(ValueError)             a name, id or path breaks the card's naming rules
    ├── UnsafeArchiveError(ValueError)      a tar member that must never be read (.., symlink, ...)
    ├── IntegrityError(ValueError)          bytes disagree with an index, size or sha256
    ├── ReadError(OSError)                  a file that exists but cannot be read (EACCES, EIO)
    ├── CorruptArtifactError(ValueError)    a file that cannot be parsed as what it claims to be
    │   ├── CorruptVideoError
    │   ├── CorruptMaskError
    │   ├── CorruptImageError
    │   └── CorruptRecordError              CSV / JSONL rows (prompts, metadata, scores, grounding)
    ├── JoinError(ValueError)               ids that do not pair up (duplicates, mismatches)
    ├── NoDatasetError(FileNotFoundError)   a root that holds no Sparkle piece at all
    ├── MissingArtifactError(LookupError)   a requested artifact is not present for a sample
    ├── RemoteError(ConnectionError)        a remote read failed after its retries
    ├── SamplingError(ValueError)           a frame or size request that cannot be met
    │   ├── ShortClipError                  fewer frames than the frame policy requires
    │   └── FieldMismatchError              fields of one sample disagree in T or H x W
    ├── ResumeStateError(ValueError)        a loader resume state that does not fit the dataset
    ├── FilterError(ValueError)             a filter that cannot be built or evaluated
    │   ├── FilterSyntaxError               an expression outside the filter grammar
    │   └── SubsetMismatchError             a subset spec selects other ids than it recorded
    ├── ExportError(ValueError)             an export that cannot be planned, resumed or pushed
    ├── MissingExtraError(ImportError)      a regen model stage's library is not installed
    ├── WeightsUnavailableError(OSError)    a regen model's weights are absent, gated, unreachable
    ├── GpuMemoryError(RuntimeError)        too little GPU memory for a regen model stage
    ├── ModelOutputError(ValueError)        a regen model's answer that does not parse (raw kept)
    │   ├── GroundingParseError             a grounding answer that is not the JSON asked
    │   └── EditScoreParseError             an EditScore result without the scores asked
    ├── UsageError(ValueError)              a CLI value that cannot work (one line, exit 2)
    ├── ViewQueryError(ValueError)          a viewer request parameter that does not parse (400)
    ├── PageNotFoundError(LookupError)      a viewer gallery page past the last one (404)
    ├── RangeNotSatisfiableError(ValueError)  an HTTP Range selecting no byte (416)
    ├── RubricError(ValueError)             a Sparkle-Bench rubric that cannot be used
    ├── ScoreFileError(ValueError)          a Sparkle-Bench score line that breaks its schema
    ├── IncompleteScoresError(LookupError)  Sparkle-Bench scores asked for unrated items
    └── RaterError(RuntimeError)            the Sparkle-Bench rater endpoint refused the run

Every warning the library emits derives from :class:`SparkleWarning`, so
``warnings.filterwarnings("error", category=SparkleWarning)`` catches all of them::

    SparkleWarning(UserWarning)
    ├── SparkleSkipWarning                  an item skipped under on_error="warn"
    │   └── SkipBudgetWarning               skips over a worker's or the total skip budget
    ├── IndexCacheWarning                   a cached tar index was unreadable and is rebuilt
    ├── FullPassWarning                     a full pass fell back to indexing for a unit
    ├── StaleIndexWarning                   a published Hub index disagreed with its shards
    ├── CorruptDownloadWarning              a cached download failed its check, fetched again
    └── FilterWarning                       a filter value matching no row; an empty selection

The packages re-export the classes they raise (``sparkle_data.filters.FilterError`` is this
module's ``FilterError``); the documented import path is ``sparkle_data.errors``. A few
exceptions used for control flow inside one module never reach a caller and are not part of
the tree (``readers.boxes.BadBoxError``, ``io.retry.RetryableError``,
``io.http.HTTPStatusError``). ``tests/test_errors_tree.py`` checks that this drawing names
every class defined here and that no module defines a ``SparkleError`` or warning elsewhere.

Messages follow one template so that a user can find the bad byte::

    Invalid {what} {value!r} in {path}::{member} (sample {sample_id}, line {line}): {rule}. {hint}

Use :meth:`SparkleError.invalid` to build one; the location parts are kept as attributes.
"""

from __future__ import annotations

from typing import Any, Final, TypeVar

__all__ = [
    "CorruptArtifactError",
    "CorruptDownloadWarning",
    "CorruptImageError",
    "CorruptMaskError",
    "CorruptRecordError",
    "CorruptVideoError",
    "EditScoreParseError",
    "ExportError",
    "FieldMismatchError",
    "FilterError",
    "FilterSyntaxError",
    "FilterWarning",
    "FullPassWarning",
    "GpuMemoryError",
    "GroundingParseError",
    "IncompleteScoresError",
    "IndexCacheWarning",
    "IntegrityError",
    "JoinError",
    "LayoutError",
    "MissingArtifactError",
    "MissingExtraError",
    "ModelOutputError",
    "NoDatasetError",
    "PageNotFoundError",
    "RangeNotSatisfiableError",
    "RaterError",
    "ReadError",
    "RemoteError",
    "ResumeStateError",
    "RubricError",
    "SamplingError",
    "ScoreFileError",
    "ShortClipError",
    "SkipBudgetWarning",
    "SparkleError",
    "SparkleSkipWarning",
    "SparkleWarning",
    "StaleIndexWarning",
    "SubsetMismatchError",
    "UnsafeArchiveError",
    "UsageError",
    "ViewQueryError",
    "WeightsUnavailableError",
    "format_location",
]

_E = TypeVar("_E", bound="SparkleError")
_MAX_RAW: Final = 2000  # characters of a model's answer kept in a GroundingParseError message


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


class ReadError(SparkleError, OSError):
    """A file (shard, record file, loose artifact) that exists but cannot be read: the
    operating system refused it (``EACCES``) or failed reading it (``EIO``...). ``errno`` is
    the cause's and the message names the file; ``except OSError`` still catches it."""


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


class NoDatasetError(SparkleError, FileNotFoundError):
    """A root holds no Sparkle piece (no prompts, records, shards or artifact folders)."""


class MissingArtifactError(SparkleError, LookupError):
    """A requested artifact is not available for a sample."""


class RemoteError(SparkleError, ConnectionError):
    """A remote read failed after its retries.

    ``url``, ``offset`` and ``attempts`` say which read failed and how hard it was tried;
    reads of a sample's member also set ``sample_id``, ``field`` (the artifact) and
    ``member``. Pickling keeps every attribute, and an error re-raised by a ``DataLoader``
    (which rebuilds it from its message alone) recovers them from the message (see
    :meth:`describe`).
    """

    url: str | None
    offset: int | None
    attempts: int | None
    field: str | None

    def __init__(
        self,
        message: str,
        *,
        url: str | None = None,
        offset: int | None = None,
        attempts: int | None = None,
        field: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        self.url = url
        self.offset = offset
        self.attempts = attempts
        self.field = field
        if url is None:
            self._recover(message)

    @staticmethod
    def describe(
        url: str,
        offset: int,
        attempts: int,
        cause: str,
        *,
        sample_id: str | None = None,
        field: str | None = None,
        member: str | None = None,
    ) -> str:
        """The message template: ``Remote read failed: <url> [sample S, field F, member M] at
        byte N after K attempts: <cause>`` (the bracket only for a sample's member)."""
        context = ""
        if sample_id is not None or field is not None or member is not None:
            context = f" [sample {sample_id}, field {field}, member {member}]"
        plural = "s" if attempts != 1 else ""
        return (
            f"Remote read failed: <{url}>{context} at byte {offset} after {attempts} "
            f"attempt{plural}: {cause}"
        )

    def _recover(self, message: str) -> None:
        import re

        found = re.findall(
            r"Remote read failed: <(\S+?)>(?: \[sample (\S+), field (\S+), member (\S+)\])? "
            r"at byte (\d+) after (\d+) attempt",
            message,
        )
        if not found:
            return
        url, sid, fld, member, offset, attempts = found[-1]
        self.url = url
        self.path = self.path or url
        self.offset = int(offset) if self.offset is None else self.offset
        self.attempts = int(attempts) if self.attempts is None else self.attempts
        if sid:  # fill what the caller did not give
            self.sample_id = self.sample_id or (None if sid == "None" else sid)
            self.field = self.field or (None if fld == "None" else fld)
            self.member = self.member or (None if member == "None" else member)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_remote_error, (str(self), dict(self.__dict__)))


def _rebuild_remote_error(message: str, state: dict[str, Any]) -> RemoteError:
    err = RemoteError(message, url=state.get("url"))
    err.__dict__.update(state)
    return err


# --------------------------------------------------------------------------- sampling, loading


class SamplingError(SparkleError, ValueError):
    """A frame or size request that cannot be met for a sample."""


class ShortClipError(SamplingError):
    """The clip has fewer frames than the frame policy requires (``on_short="error"``)."""


class FieldMismatchError(SamplingError):
    """The video fields and masks of one sample disagree in frame count or frame size."""


class ResumeStateError(SparkleError, ValueError):
    """A resume state that does not fit the dataset it is loaded into."""


# --------------------------------------------------------------------------- filters, export


class FilterError(SparkleError, ValueError):
    """A filter that cannot be built (bad field, value, dict) or evaluated on a table."""


class FilterSyntaxError(FilterError):
    """A filter expression that is not valid Python or uses syntax outside the grammar."""


class SubsetMismatchError(FilterError):
    """Rebuilding a subset spec on a catalog gives other ids than the spec recorded."""


class ExportError(SparkleError, ValueError):
    """An export that cannot be planned (bad ids or options), resumed (the output folder
    holds another export) or pushed (the folder is not a complete export)."""


# --------------------------------------------------------------------------- regeneration


class MissingExtraError(SparkleError, ImportError):
    """A model stage's library is not installed."""


class WeightsUnavailableError(SparkleError, OSError):
    """A model's weights are absent, gated or unreachable."""


class GpuMemoryError(SparkleError, RuntimeError):
    """The device has too little memory (or no CUDA) for the stage's offload setting."""


class ModelOutputError(SparkleError, ValueError):
    """A model's answer that does not parse; ``raw`` is what the model said (a regen run
    keeps it in its report)."""

    raw: str

    def __init__(self, message: str, raw: str, **kwargs: Any) -> None:
        shown = raw if len(raw) <= _MAX_RAW else raw[:_MAX_RAW] + "...[truncated]"
        super().__init__(f"{message} Raw model output: {shown!r}", **kwargs)
        self.raw = raw


class GroundingParseError(ModelOutputError):
    """A grounding answer that is not the expected JSON; ``raw`` is what the model said."""


class EditScoreParseError(ModelOutputError):
    """An EditScore result without the scores asked; ``raw`` is what the scorer returned."""


# --------------------------------------------------------------------------- CLI and viewer


class UsageError(SparkleError, ValueError):
    """A value the user gave cannot work (the CLI prints it on one line and exits 2)."""


class ViewQueryError(SparkleError, ValueError):
    """A gallery parameter that does not parse or names nothing (answered with ``400``)."""


class PageNotFoundError(SparkleError, LookupError):
    """A gallery page past the last one (answered with ``404``)."""


class RangeNotSatisfiableError(SparkleError, ValueError):
    """A ``Range`` that selects no byte of the body (answered with ``416``)."""

    size: int | None = None
    """The body's size, for the ``Content-Range: bytes */size`` of the answer."""

    @classmethod
    def of(cls, header: str, size: int, rule: str) -> RangeNotSatisfiableError:
        err = cls.invalid("range", header, rule=rule)
        err.size = size
        return err


# --------------------------------------------------------------------------- Sparkle-Bench


class RubricError(SparkleError, ValueError):
    """The rubric file could not be read, or has no usable ``{edit_prompt}`` slot."""


class ScoreFileError(SparkleError, ValueError):
    """A score file line is not a valid Sparkle-Bench score record."""


class IncompleteScoresError(SparkleError, LookupError):
    """A macro row was asked for while items or themes are unrated (see ``--allow-missing``)."""


class RaterError(SparkleError, RuntimeError):
    """The rater endpoint refused the run (authentication, bad request, unknown model)."""


# --------------------------------------------------------------------------- warnings


class SparkleWarning(UserWarning):
    """Base class of every warning emitted by sparkle-data."""


class SparkleSkipWarning(SparkleWarning):
    """Emitted for each skipped item when ``on_error="warn"``."""


class SkipBudgetWarning(SparkleSkipWarning):
    """More samples were skipped than a budget allows (``max_worker_skips`` per DataLoader
    worker, ``max_total_skips`` for all of them). Turn it into an error with
    ``warnings.simplefilter("error", SkipBudgetWarning)``, or use ``max_skips`` (raises)."""


class FullPassWarning(SparkleWarning):
    """A full pass could not pair its families while streaming and fell back to indexing."""


class IndexCacheWarning(SparkleWarning):
    """A cached file was unreadable or corrupt and has been rebuilt (or could not be written)."""


class StaleIndexWarning(SparkleWarning):
    """Entries of a published index did not match their shards and were rebuilt."""


class CorruptDownloadWarning(SparkleWarning):
    """A cached file failed its integrity check and is downloaded again."""


class FilterWarning(SparkleWarning):
    """A filter that is valid but suspicious: a value that appears in no row (a typo?), or a
    selection that keeps no sample."""
