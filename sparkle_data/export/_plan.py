"""What every export plans and runs with: units, their results, and the shared options.

The four front ends (:mod:`.kiwi`, :mod:`.wds`, :mod:`.sparkle`, :mod:`.hub`) take the same
eight keyword arguments; each builds one :class:`ExportOptions` from them and passes it
through (to :func:`._resume.run_export`, and from ``export_hub`` to the format it writes).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol, TypedDict, get_args

from sparkle_data.export._common import extras_options, write_extras
from sparkle_data.export._writer import FileDigest

if TYPE_CHECKING:
    from sparkle_data.filters import SubsetSpec

__all__ = [
    "ENGINES",
    "EXPORT_ON_ERRORS",
    "VERIFY_MODES",
    "Checked",
    "Engine",
    "ExportKeywords",
    "ExportOnError",
    "ExportOptions",
    "ExportPlan",
    "Finalized",
    "Planner",
    "Shape",
    "Unit",
    "UnitResult",
    "Verify",
    "default_workers",
]

Engine = Literal["local", "ray"]
ENGINES: Final[tuple[Engine, ...]] = get_args(Engine)
Verify = Literal["sha256", "size"]
VERIFY_MODES: Final[tuple[Verify, ...]] = get_args(Verify)
ExportOnError = Literal["error", "skip"]
"""What an export does with a sample whose member fails its check (see :mod:`._validate`)."""
EXPORT_ON_ERRORS: Final[tuple[ExportOnError, ...]] = get_args(ExportOnError)


def default_workers() -> int:
    """Workers when none are asked for: the CPUs this process may use, at most 8."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        n = os.cpu_count() or 1
    return max(1, min(8, n))


@dataclass(frozen=True)
class UnitResult:
    """What one unit wrote (paths relative to the output folder) and facts for the end."""

    key: str
    files: Mapping[str, FileDigest]
    data: Mapping[str, Any] = field(default_factory=dict)
    """JSON-ready facts the finalizer needs (member offsets, probe results, a drop reason)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "files": {k: v.to_json() for k, v in sorted(self.files.items())},
            "data": dict(self.data),
        }

    @classmethod
    def from_json(cls, obj: Any) -> UnitResult:
        if not isinstance(obj, dict) or not isinstance(obj.get("key"), str):
            raise ValueError("not a unit result")
        files = obj.get("files")
        data = obj.get("data", {})
        if not isinstance(files, dict) or not isinstance(data, dict):
            raise ValueError("not a unit result")
        return cls(obj["key"], {str(k): FileDigest.from_json(v) for k, v in files.items()}, data)


class Unit(Protocol):
    """One output file or shard of an export: a small picklable object, run by an engine."""

    @property
    def key(self) -> str: ...

    def run(self, out: Path) -> UnitResult:
        """Write the unit's files under ``out`` atomically; returns what was written."""
        ...

    def to_dict(self) -> dict[str, Any]:
        """Everything that decides the unit's bytes (its sources), for the fingerprint."""
        ...


@dataclass(frozen=True)
class Finalized:
    """What an export's finalizer wrote (CSV, index, shard list...) and its summary."""

    files: Mapping[str, FileDigest]
    summary: Mapping[str, Any]


@dataclass(frozen=True)
class ExportPlan:
    """What a format writes: its units and the finalizer that gets their results."""

    units: Sequence[Unit]
    finalize: Callable[[list[UnitResult]], Finalized]


Shape = tuple[int, int, int]
"""``(T, H, W)`` of a checked member (``T`` is 1 for an image)."""


@dataclass(frozen=True)
class Checked:
    """What the member checks (:mod:`._validate`) found, for the format's planner."""

    dropped: frozenset[str] = frozenset()
    """Samples whose check failed (``on_error="skip"``): planned out."""
    shapes: Mapping[str, Mapping[str, Shape]] = field(default_factory=dict)
    """``{sample id: {artifact: (T, H, W)}}`` of the samples checked by this run or by the
    run it resumes, when the checks record shapes (``member_checks(record_shapes=True)``);
    empty for a finished export's repair (its manifest keeps only the drops), so a unit that
    uses a shape falls back to reading the header."""

    def shape(self, sample_id: str, artifact: str) -> Shape | None:
        return self.shapes.get(sample_id, {}).get(artifact)


Planner = Callable[[Checked], ExportPlan]
"""A format's plan for the ids it was given, less the ``dropped`` ones of :class:`Checked`."""


class ExportKeywords(TypedDict, total=False):
    """The eight keyword arguments every ``export_*`` front end takes (``**common``)."""

    spec: SubsetSpec | None
    extra_files: Mapping[str, str | bytes] | None
    engine: Engine
    workers: int | None
    verify: Verify
    overwrite: bool
    progress: bool
    on_error: ExportOnError


@dataclass(frozen=True)
class ExportOptions:
    """The options every export takes (see :func:`~sparkle_data.export.export_kiwi`).

    ``spec`` and ``extra_files`` are written beside the data; the next five decide how the
    export runs (never its bytes); ``on_error`` whether a sample with a broken member fails
    the export (``"error"``) or is dropped and counted (``"skip"``).
    """

    spec: SubsetSpec | None = None
    extra_files: Mapping[str, str | bytes] | None = None
    engine: Engine = "local"
    workers: int | None = None
    verify: Verify = "sha256"
    overwrite: bool = False
    progress: bool = True
    on_error: ExportOnError = "error"
    kept_files: Mapping[str, Callable[[Sequence[str]], str]] | None = None
    """Files made from the ids of the samples kept (``export_hub``'s dataset card): written
    for the kept ids, fingerprinted for the requested ones (so a rerun resumes)."""

    def __post_init__(self) -> None:
        for name, allowed in (("verify", VERIFY_MODES), ("on_error", EXPORT_ON_ERRORS)):
            value = getattr(self, name)
            if value not in allowed:
                raise ValueError(
                    f"Invalid {name} {value!r}: must be one of {', '.join(allowed)}."
                )

    @classmethod
    def of(cls, function: str, keywords: Mapping[str, Any]) -> ExportOptions:
        """The options from a front end's ``**common`` (unknown names raise ``TypeError``)."""
        names = {f.name for f in fields(cls)}
        for name in keywords:
            if name not in names:
                raise TypeError(f"{function}() got an unexpected keyword argument {name!r}")
        return cls(**keywords)

    @classmethod
    def take(cls, keywords: dict[str, Any]) -> ExportOptions:
        """Remove the common options from ``keywords`` (in place) and return them."""
        return cls(**{f.name: keywords.pop(f.name) for f in fields(cls) if f.name in keywords})

    def with_extra_files(self, files: Mapping[str, str | bytes]) -> ExportOptions:
        """A copy with more extra files (``export_hub`` adds its dataset card)."""
        return replace(self, extra_files={**(self.extra_files or {}), **files})

    def keywords(self) -> dict[str, Any]:
        """The options as the keyword arguments of the ``export_*`` functions."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def with_kept_files(self, files: Mapping[str, Callable[[Sequence[str]], str]]) -> ExportOptions:
        """A copy with more files made from the kept ids (``export_hub`` adds its card)."""
        return replace(self, kept_files={**(self.kept_files or {}), **files})

    def _extras(self, ids: Sequence[str]) -> dict[str, str | bytes]:
        made = {rel: make(ids) for rel, make in (self.kept_files or {}).items()}
        return {**(self.extra_files or {}), **made}

    def fingerprint_options(self, reserved: Sequence[str], ids: Sequence[str]) -> dict[str, Any]:
        """What the spec and extra files (those made from ids: for the requested ``ids``) add
        to the plan's fingerprint; checks ``reserved``."""
        return extras_options(self.spec, self._extras(ids), reserved=reserved)

    def write_extras(self, out: Path, kept: Sequence[str]) -> dict[str, FileDigest]:
        """Write ``subset.yaml`` and the extra files (those made from ids: for the ``kept``
        ones) under ``out``; returns their digests."""
        return write_extras(out, self.spec, self._extras(kept))
