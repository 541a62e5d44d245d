"""The member check every export runs before it copies a sample: one hook for all formats.

Before any output is written, :func:`~sparkle_data.export._resume.run_export` runs one
:class:`CheckUnit` per sample (in the export's engine, journaled, so a rerun does not check a
sample twice). A check reads each member the export will copy with the bounded check of
``verify --deep`` (:func:`~sparkle_data.readers.check.check_artifact`: MP4 container, stream,
packets counted against the header's frame count, first frame; PNG header, CRCs and decode;
NPZ strict parse, shape against bits, no object arrays, bounded inflation) and, unless the
format handles it itself, the cross-artifact rules of
:mod:`sparkle_data.readers.consistency` (mask ``shape`` and edited videos against the source
video).

``on_error="error"`` (the default) makes a broken member fail the export with the member's
error, which names the file, the member and the sample; nothing is written for it, and what
earlier units wrote stays (the export resumes). ``on_error="skip"`` drops the sample from the
plan (it is in no output file) and counts it in the report (reasons in
:data:`DROP_REASONS`). Verdicts are kept with the export's state and manifest: a strict rerun
of an export that dropped samples raises the recorded error instead of writing on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from sparkle_data import errors
from sparkle_data.errors import (
    CorruptArtifactError,
    CorruptImageError,
    CorruptMaskError,
    CorruptVideoError,
    ReadError,
    RemoteError,
    SparkleError,
)
from sparkle_data.export._plan import ExportOnError, Shape, UnitResult
from sparkle_data.export._source import ArtifactRef, open_ref
from sparkle_data.io.regular import read_error
from sparkle_data.layout import artifact_spec
from sparkle_data.readers.consistency import check_sample_shapes

__all__ = [
    "CHECK_PREFIX",
    "DROP_REASONS",
    "CheckUnit",
    "check_unit_key",
    "checked_shapes",
    "member_checks",
    "recorded_error",
]

CHECK_PREFIX: Final = "check:"
DROP_REASONS: Final[dict[type[SparkleError], str]] = {
    CorruptVideoError: "corrupt_video",
    CorruptMaskError: "corrupt_mask",
    CorruptImageError: "corrupt_image",
}
"""The drop reason of a member's own check failing, by error class; a cross-artifact rule
broken is ``inconsistent``, a member that cannot be read at all ``unreadable``."""
_INCONSISTENT: Final = "inconsistent"
_UNREADABLE: Final = "unreadable"


def check_unit_key(sample_id: str) -> str:
    """The key of a sample's check in the export's journal and manifest."""
    return f"{CHECK_PREFIX}{sample_id}"


def _located(error: Exception, ref: ArtifactRef, sample_id: str) -> SparkleError:
    """``error`` naming the member and the sample (the readers name both; a read error
    met by the io layer names the file only)."""
    if isinstance(error, SparkleError) and error.sample_id is not None:
        return error
    if isinstance(error, OSError) and not isinstance(error, SparkleError):
        return read_error(ref.where, error, member=ref.member, sample_id=sample_id)
    cls: type[SparkleError] = ReadError
    if isinstance(error, SparkleError) and type(error).__init__ is SparkleError.__init__:
        cls = type(error)
    located = cls(
        f"{error} (sample {sample_id}, {ref.where})",
        path=ref.where,
        member=ref.member,
        sample_id=sample_id,
    )
    if isinstance(error, OSError) and isinstance(located, OSError):
        located.errno = error.errno
    return located


def recorded_error(sample_id: str, data: Mapping[str, Any]) -> SparkleError:
    """The error a recorded drop stands for (a strict rerun raises it)."""
    found = getattr(errors, str(data.get("error")), None)
    ok = isinstance(found, type) and issubclass(found, SparkleError)
    cls: type[SparkleError] = found if ok else CorruptArtifactError  # type: ignore[assignment]
    if cls.__init__ is not SparkleError.__init__:
        cls = CorruptArtifactError
    return cls(
        f"{data.get('detail')} (recorded by an earlier run with on_error='skip'; rerun with "
        "on_error='skip' (--skip-corrupt) to finish the export without it, or with "
        "overwrite=True to check again)",
        sample_id=sample_id,
    )


@dataclass(frozen=True)
class CheckUnit:
    """The check of one sample's members (see the module doc): a unit of the check pass."""

    sample_id: str
    members: tuple[tuple[str, ArtifactRef], ...]
    """``(artifact, where its bytes are)`` for every member the export copies."""
    on_error: ExportOnError = "error"
    consistency: bool = True
    """Apply the cross-artifact rules (Kiwi-Edit handles sizes and frame counts itself)."""
    record_shapes: bool = False
    """Keep each member's ``(T, H, W)`` in the verdict, for a planner that uses them (the
    Kiwi pairs); it changes no verdict, so it is not part of the plan."""

    @property
    def key(self) -> str:
        return check_unit_key(self.sample_id)

    def to_dict(self) -> dict[str, Any]:
        # on_error is left out: a lenient rerun of a strict run that failed resumes it.
        return {
            "members": [[a, ref.to_dict()] for a, ref in self.members],
            "consistency": self.consistency,
        }

    def _drop(self, reason: str, error: SparkleError, ref: ArtifactRef | None) -> UnitResult:
        return UnitResult(
            self.key,
            {},
            {
                "dropped": reason,
                "detail": str(error),
                "error": type(error).__name__,
                "member": None if ref is None else ref.where,
            },
        )

    def run(self, out: Path) -> UnitResult:
        """Check every member; returns the verdict (``data["dropped"]`` when dropped)."""
        from sparkle_data.readers.check import check_artifact  # PyAV: imported when used

        sid = self.sample_id
        shapes: dict[str, Shape] = {}
        all_shapes: dict[str, Shape] = {}
        names: dict[str, str] = {}
        for artifact, ref in self.members:
            try:
                with open_ref(ref) as f:
                    shape = check_artifact(f, artifact, name=ref.where, sample_id=sid)
            except RemoteError:
                raise  # a network failure is not the member's fault: rerun to resume
            except (SparkleError, OSError) as e:
                error = _located(e, ref, sid)
                if self.on_error == "error":
                    raise error from e
                return self._drop(DROP_REASONS.get(type(error), _UNREADABLE), error, ref)
            all_shapes[artifact] = shape
            if artifact_spec(artifact).extension != "png":
                shapes[artifact], names[artifact] = shape, ref.where
        if self.consistency:
            try:
                check_sample_shapes(shapes, sample_id=sid, names=names)
            except CorruptArtifactError as e:
                if self.on_error == "error":
                    raise
                return self._drop(_INCONSISTENT, e, None)
        if not self.record_shapes:
            return UnitResult(self.key, {})
        return UnitResult(self.key, {}, {"shapes": {a: list(s) for a, s in all_shapes.items()}})


def checked_shapes(data: Mapping[str, Any]) -> dict[str, Shape]:
    """The ``(T, H, W)`` per artifact that a passed check recorded (empty when none)."""
    found = data.get("shapes")
    if not isinstance(found, Mapping):
        return {}
    return {str(a): (int(s[0]), int(s[1]), int(s[2])) for a, s in found.items()}


def member_checks(
    ids: Sequence[str],
    refs: Mapping[str, Sequence[ArtifactRef | None]],
    *,
    on_error: ExportOnError,
    consistency: bool = True,
    record_shapes: bool = False,
) -> list[CheckUnit]:
    """One :class:`CheckUnit` per id with a member; ``refs`` maps each artifact to the refs
    of ``ids`` (in order; ``None`` where an id has none of it)."""
    out: list[CheckUnit] = []
    for k, sid in enumerate(ids):
        members: list[tuple[str, ArtifactRef]] = []
        for artifact, column in refs.items():
            ref = column[k]
            if ref is not None:
                members.append((artifact, ref))
        if members:
            out.append(CheckUnit(sid, tuple(members), on_error, consistency, record_shapes))
    return out
