"""Join prompt rows (the training CSV or Sparkle-Bench's) with their metadata by sample id.

:func:`join_prompts` pairs the two sides and checks that the prompts agree. Also importable
from :mod:`sparkle_data.readers.prompts`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from sparkle_data.errors import JoinError
from sparkle_data.policy import OnError, SkipReport
from sparkle_data.readers._text import resolve_report
from sparkle_data.readers.metadata import MetadataRecord

__all__ = ["JoinReport", "PromptJoin", "PromptSample", "join_prompts"]


class _HasPrompt(Protocol):
    @property
    def sample_id(self) -> str: ...

    @property
    def prompt(self) -> str: ...


_R = TypeVar("_R", bound=_HasPrompt)


@dataclass(frozen=True, slots=True)
class PromptSample(Generic[_R]):
    """A CSV row and its metadata, joined by sample id."""

    row: _R
    metadata: MetadataRecord

    @property
    def sample_id(self) -> str:
        return self.row.sample_id

    @property
    def prompt(self) -> str:
        return self.row.prompt


@dataclass(frozen=True, slots=True)
class JoinReport:
    """What :func:`join_prompts` found; ids are listed in file order."""

    joined: int
    csv_only: tuple[str, ...]
    metadata_only: tuple[str, ...]
    prompt_mismatch: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not (self.csv_only or self.metadata_only or self.prompt_mismatch)

    def counts(self) -> dict[str, int]:
        return {
            "joined": self.joined,
            "csv_only": len(self.csv_only),
            "metadata_only": len(self.metadata_only),
            "prompt_mismatch": len(self.prompt_mismatch),
        }

    def __str__(self) -> str:
        return ", ".join(f"{k}: {v}" for k, v in self.counts().items())


@dataclass(frozen=True, slots=True)
class PromptJoin(Generic[_R]):
    """The result of :func:`join_prompts`: the joined samples (CSV order) and the report."""

    samples: tuple[PromptSample[_R], ...]
    report: JoinReport


def _unique_by_id(items: Iterable[_R], side: str) -> dict[str, _R]:
    out: dict[str, _R] = {}
    for item in items:
        if item.sample_id in out:
            raise JoinError.invalid(
                f"{side} sample id",
                item.sample_id,
                rule="appears twice",
                hint="Ids must be unique on each side of a join.",
                sample_id=item.sample_id,
            )
        out[item.sample_id] = item
    return out


def join_prompts(
    rows: Iterable[_R],
    metadata: Iterable[MetadataRecord],
    *,
    on_error: OnError = "error",
    report: SkipReport | None = None,
) -> PromptJoin[_R]:
    """Join CSV rows (:class:`PromptRow` or Sparkle-Bench rows) with metadata by sample id.

    Both sides must hold the same ids and, per id, the same prompt (exact string equality).
    Strict: any mismatch raises one :class:`~sparkle_data.errors.JoinError` with the counts and
    the first ids of each kind. Lenient: mismatched ids are left out, each one counted in
    ``report`` (reasons ``csv_only``, ``metadata_only``, ``prompt_mismatch``), and the returned
    :class:`JoinReport` lists them all. Duplicate ids on either side raise in every mode.
    """
    report = resolve_report(on_error, report)
    by_row = _unique_by_id(rows, "CSV")
    by_meta = _unique_by_id(metadata, "metadata")
    samples: list[PromptSample[_R]] = []
    csv_only: list[str] = []
    mismatch: list[str] = []
    for sid, row in by_row.items():
        meta = by_meta.get(sid)
        if meta is None:
            csv_only.append(sid)
        elif meta.prompt != row.prompt:
            mismatch.append(sid)
        else:
            samples.append(PromptSample(row, meta))
    metadata_only = [sid for sid in by_meta if sid not in by_row]
    result = JoinReport(len(samples), tuple(csv_only), tuple(metadata_only), tuple(mismatch))
    if result.ok:
        return PromptJoin(tuple(samples), result)
    if report.on_error == "error":
        examples = "; ".join(
            f"{kind}: {', '.join(ids[:3])}{', ...' if len(ids) > 3 else ''}"
            for kind, ids in (
                ("csv_only", csv_only),
                ("metadata_only", metadata_only),
                ("prompt_mismatch", mismatch),
            )
            if ids
        )
        raise JoinError(
            f"CSV and metadata do not join ({result}). First ids: {examples}. "
            "Pass on_error='skip' to keep the ids that do join and get a JoinReport."
        )
    for kind, ids in (
        ("csv_only", csv_only),
        ("metadata_only", metadata_only),
        ("prompt_mismatch", mismatch),
    ):
        rule = {
            "csv_only": "is in the CSV but not in the metadata",
            "metadata_only": "is in the metadata but not in the CSV",
            "prompt_mismatch": "has different prompts in the CSV and the metadata",
        }[kind]
        for sid in ids:
            report.handle(JoinError.invalid("sample id", sid, rule=rule, sample_id=sid), kind)
    return PromptJoin(tuple(samples), result)
