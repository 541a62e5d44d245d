"""The planner: per sample, which wanted artifacts are missing and which stages make them.

For every selected corpus sample and wanted artifact that is neither in the root (loose file or
shard member) nor already written to the output folder, the planner walks the stage graph back
from the artifact: a stage is scheduled when all its inputs are present or made by an earlier
scheduled stage; a sample whose chain needs an absent corpus video or a stage this release
cannot run is *blocked*, with the reason. Stages of one sample come out in dependency order;
a stage is scheduled at most once per sample. A wanted *record* (``foreground_grounding_r1``,
an EditScore file, ...) is handled the same way: present when the root's record file or the
output folder (:class:`~.records.OutRecords`) has the sample's line, else made by its record
stage; a stage that reads a record nobody has gets it scheduled first.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from sparkle_data.catalog import Catalog, build_catalog, select_ids
from sparkle_data.io import fs as sfs
from sparkle_data.layout import (
    ARTIFACTS,
    RECORD_FILES,
    artifact_relpath,
    artifact_spec,
    edit_type_of,
)
from sparkle_data.regen.pack import PackedMember, packed_members, staged_path
from sparkle_data.regen.records import OutRecords
from sparkle_data.regen.registry import get_stage as stage_for_name
from sparkle_data.regen.registry import stage_for

__all__ = ["Blocked", "InputRef", "Plan", "WorkItem", "out_path", "plan_regen", "select_samples"]


@dataclass(frozen=True, slots=True)
class InputRef:
    """Where a stage input is: ``root`` (a loose file or a shard byte range) or ``out``."""

    artifact: str
    where: str
    """``"root"`` or ``"out"``."""
    path: str
    """Relative to the root or to the output folder."""
    offset: int | None = None
    size: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "artifact": self.artifact,
            "where": self.where,
            "path": self.path,
            "offset": self.offset,
            "size": self.size,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> InputRef:
        return cls(d["artifact"], d["where"], d["path"], d.get("offset"), d.get("size"))


@dataclass(frozen=True, slots=True)
class WorkItem:
    """One sample's scheduled stages (dependency order) and where their inputs are."""

    sample_id: str
    stages: tuple[str, ...]
    inputs: tuple[InputRef, ...]
    prompt: str | None = None
    records: tuple[tuple[str, str], ...] = ()
    """``(record name, JSON line)`` of the record lines its stages read (model stages)."""

    @property
    def edit_type(self) -> str:
        return edit_type_of(self.sample_id)

    def to_dict(self) -> dict[str, Any]:
        return {
            "sample_id": self.sample_id,
            "stages": list(self.stages),
            "inputs": [r.to_dict() for r in self.inputs],
            "prompt": self.prompt,
            "records": [list(r) for r in self.records],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> WorkItem:
        return cls(
            d["sample_id"],
            tuple(d["stages"]),
            tuple(InputRef.from_dict(r) for r in d["inputs"]),
            d.get("prompt"),
            tuple((str(k), str(v)) for k, v in d.get("records", ())),
        )


@dataclass(frozen=True, slots=True)
class Blocked:
    """A wanted artifact of a sample that cannot be made, and why."""

    sample_id: str
    artifact: str
    reason: str


@dataclass(frozen=True)
class Plan:
    """What a run will do (``to_dict`` / ``format`` for ``--dry-run``)."""

    root: str
    out: str
    artifacts: tuple[str, ...]
    selected: tuple[str, ...]
    items: tuple[WorkItem, ...]
    blocked: tuple[Blocked, ...]
    present: dict[str, int] = field(default_factory=dict)
    """Selected samples already having each wanted artifact."""
    pack: bool = False
    """Outputs go into tar shards (:mod:`.pack`), not loose files."""
    first_parts: dict[str, int] = field(default_factory=dict)
    """Per ``{edit_type}_{artifact}``: the part after the root's highest shard (``pack``
    into another folder numbers its shards from there, so the two never clash)."""

    def __repr__(self) -> str:
        return (
            f"Plan({self.root!r}, {len(self.selected)} selected, {len(self.items)} to run, "
            f"{len(self.blocked)} blocked)"
        )

    def stage_counts(self) -> dict[str, int]:
        c: Counter[str] = Counter(s for it in self.items for s in it.stages)
        return dict(c)

    def missing_ids(self, artifact: str) -> list[str]:
        """Samples missing ``artifact`` (to run or blocked)."""
        ids = {b.sample_id for b in self.blocked if b.artifact == artifact}
        ids |= {
            it.sample_id
            for it in self.items
            for s in it.stages
            if artifact in _outputs(s)
        }
        return sorted(ids)

    def estimates(self) -> list[dict[str, Any]]:
        rows = []
        for name, n in self.stage_counts().items():
            st = stage_for_name(name)
            rows.append(
                {
                    "stage": name,
                    "samples": n,
                    "device": st.device,
                    "gpu_memory_gib": st.gpu_memory_gib,
                    "seconds_per_sample": st.seconds_per_sample,
                    "total_hours_one_worker": round(n * st.seconds_per_sample / 3600, 4),
                    "basis": st.estimate_note,
                }
            )
        return rows

    def to_dict(self) -> dict[str, Any]:
        reasons: Counter[str] = Counter(b.reason for b in self.blocked)
        return {
            "root": self.root,
            "out": self.out,
            "pack": self.pack,
            "artifacts": list(self.artifacts),
            "selected": len(self.selected),
            "present": self.present,
            "to_run": len(self.items),
            "stages": self.estimates(),
            "blocked": [
                {"sample_id": b.sample_id, "artifact": b.artifact, "reason": b.reason}
                for b in self.blocked
            ],
            "blocked_by_reason": dict(reasons),
        }

    def format(self, *, max_blocked: int = 10) -> str:
        lines = [
            f"regen plan for {self.root} -> {self.out}"
            + (" (packed into tar shards)" if self.pack else ""),
            f"  selected samples: {len(self.selected)}; wanted: {', '.join(self.artifacts)}",
        ]
        for a in self.artifacts:
            lines.append(f"  {a}: {self.present.get(a, 0)} present")
        lines.append(f"  samples to run: {len(self.items)}")
        for row in self.estimates():
            lines.append(
                f"  stage {row['stage']}: {row['samples']} samples on {row['device']}, "
                f"~{row['seconds_per_sample']} s/sample ({row['basis']}), "
                f"~{row['total_hours_one_worker']} h on one worker"
                + (f", ~{row['gpu_memory_gib']} GiB GPU" if row["device"] == "gpu" else "")
            )
        if self.blocked:
            lines.append(f"  blocked: {len(self.blocked)} (sample, artifact) pairs")
            for reason, n in Counter(b.reason for b in self.blocked).most_common():
                lines.append(f"    {n} x {reason}")
            for b in self.blocked[:max_blocked]:
                lines.append(f"    e.g. {b.sample_id} {b.artifact}")
        return "\n".join(lines)


def _outputs(stage_name: str) -> tuple[str, ...]:
    return stage_for_name(stage_name).outputs


def out_path(out: str | os.PathLike[str], sample_id: str, artifact: str) -> Path:
    """Where a regenerated loose file goes: ``out/intermediate_data/{et}/{artifact}/{id}.ext``."""
    return Path(out) / artifact_relpath(sample_id, artifact)


def select_samples(
    catalog: Catalog,
    *,
    ids: Sequence[str] | None = None,
    edit_types: Sequence[str] | None = None,
    where: str | None = None,
    subset: str | os.PathLike[str] | None = None,
) -> list[str]:
    """Corpus ids passing every given constraint (``where``: a filter expression, see
    ``docs/filters.md``; ``subset``: a subset spec file)."""
    pred: Any = None
    if where is not None:
        from sparkle_data.filters import parse_filter

        pred = parse_filter(where)
    chosen = select_ids(catalog, ids=ids, edit_types=edit_types, where=pred)
    if subset is not None:
        from sparkle_data.filters import SubsetSpec

        keep = set(SubsetSpec.load(subset).select(catalog))
        chosen = [i for i in chosen if i in keep]
    return chosen


def _root_ref(row: Any, artifact: str) -> InputRef | None:
    file = row.get(f"{artifact}_file")
    if isinstance(file, str):
        return InputRef(artifact, "root", file)
    shard = row.get(f"{artifact}_shard")
    if isinstance(shard, str):
        return InputRef(
            artifact, "root", shard, int(row[f"{artifact}_offset"]), int(row[f"{artifact}_size"])
        )
    return None


class _SamplePlan:
    """The stage schedule of one sample (see the module docstring)."""

    def __init__(self, have: dict[str, InputRef], records: frozenset[str] = frozenset()) -> None:
        self.have = have
        self.records = records
        self.scheduled: list[str] = []
        self.made: set[str] = set()
        self.needed: dict[str, InputRef] = {}

    def schedule(self, artifact: str) -> str | None:
        """Schedule what makes ``artifact``, or roll back and return why it cannot be made."""
        mark = len(self.scheduled)
        reason = self._resolve(artifact, ())
        if reason is not None:
            for name in self.scheduled[mark:]:
                self.made.difference_update(stage_for_name(name).outputs)
            del self.scheduled[mark:]
        return reason

    def _resolve(self, artifact: str, chain: tuple[str, ...]) -> str | None:
        if artifact in self.have:
            self.needed.setdefault(artifact, self.have[artifact])
            return None
        if artifact in self.made or artifact in self.records:
            return None
        stage = stage_for(artifact)
        if stage is None:
            return f"{artifact} is not under the root (download its shard)"
        if not stage.available:
            return (
                f"{artifact} is missing and stage {stage.name} needs a model "
                f"({', '.join(stage.models) or 'not implemented'}), not in this release"
            )
        if stage.name in chain:  # pragma: no cover - the built-in graph is acyclic
            return f"stage cycle through {stage.name}"
        for rec in (r for r in stage.records if r in RECORD_FILES):
            if self._resolve(rec, (*chain, stage.name)) is not None:
                return f"{artifact} is missing and stage {stage.name} needs the {rec} record"
        for inp in stage.inputs:
            why = self._resolve(inp, (*chain, stage.name))
            if why is not None:
                return why
        self.scheduled.append(stage.name)
        self.made.update(stage.outputs)
        return None


def _record_lines(
    catalog: Catalog, sid: str, sp: _SamplePlan, in_root: frozenset[str], outs: OutRecords
) -> tuple[tuple[str, str], ...]:
    """The lines of the records ``sp``'s stages read that no stage of ``sp`` makes: from the
    root's record file, else from the output folder."""
    wanted = {r for s in sp.scheduled for r in stage_for_name(s).records if r in RECORD_FILES}
    lines = []
    for r in sorted(wanted - sp.made):
        if r in in_root:
            lines.append((r, catalog.read_record_line(sid, r).data.decode("utf-8")))
        else:
            line = outs.get(sid, r)
            if line is not None:
                lines.append((r, line.decode("utf-8")))
    return tuple(lines)


def _wanted(name: str) -> str:
    return name if name in RECORD_FILES else artifact_spec(name).name


def _present(
    row: Any, sid: str, out: str, packed: dict[str, PackedMember], pack: bool
) -> dict[str, InputRef]:
    """Where each artifact of ``sid`` already is: the root (loose or in a shard), the output
    folder (loose, or in a shard a pack run wrote), or (``pack``) staged for packing."""
    have: dict[str, InputRef] = {}
    for a in ARTIFACTS:
        rel = artifact_relpath(sid, a)
        ref = _root_ref(row, a)
        if ref is None and out_path(out, sid, a).is_file():
            ref = InputRef(a, "out", rel)
        if ref is None and rel in packed:
            m = packed[rel]
            ref = InputRef(a, "out", m.shard, m.offset, m.size)
        if ref is None and pack:
            staged = staged_path(out, sid, a)
            if staged.is_file():
                ref = InputRef(a, "out", staged.relative_to(out).as_posix())
        if ref is not None:
            have[a] = ref
    return have


def _first_parts(catalog: Catalog) -> dict[str, int]:
    parts: dict[str, int] = {}
    for shard in catalog.inventory.shards.values():
        key = f"{shard.edit_type}_{shard.artifact}"
        parts[key] = max(parts.get(key, 0), shard.part + 1)
    return dict(sorted(parts.items()))


def plan_regen(
    source: Catalog | str | os.PathLike[str],
    artifacts: Sequence[str],
    *,
    out: str | os.PathLike[str] | None = None,
    ids: Sequence[str] | None = None,
    edit_types: Sequence[str] | None = None,
    where: str | None = None,
    subset: str | os.PathLike[str] | None = None,
    progress: bool = False,
    pack: bool = False,
) -> Plan:
    """Plan the regeneration of ``artifacts`` for the selected samples of ``source``.

    ``out`` defaults to the root when it is a local folder (outputs go next to the released
    files); a remote root needs an ``out``. With ``pack`` the run writes into tar shards
    (:mod:`.pack`); outputs already staged for packing then count as present.
    """
    wanted = tuple(dict.fromkeys(_wanted(a) for a in artifacts))
    if not wanted:
        raise ValueError("Invalid artifacts (): name at least one artifact to regenerate.")
    catalog = (
        source
        if isinstance(source, Catalog)
        else build_catalog(source, edit_types=edit_types, progress=progress, on_error="skip")
    )
    if out is None:
        if not sfs.is_local(catalog.fs):
            raise ValueError(
                f"Invalid out None for the remote root {catalog.root}: pass an output folder."
            )
        out = catalog.base
    out_dir = str(out)
    chosen = select_samples(catalog, ids=ids, edit_types=edit_types, where=where, subset=subset)
    table = catalog.table
    items: list[WorkItem] = []
    blocked: list[Blocked] = []
    present: Counter[str] = Counter()
    packed = packed_members(out_dir)
    outs = OutRecords(out_dir)
    bar = tqdm(chosen, desc="plan", unit="sample", file=sys.stderr,
               disable=not progress or len(chosen) < 1000)
    for sid in bar:
        row = table.loc[sid]
        have = _present(row, sid, out_dir, packed, pack)
        in_root = frozenset(r for r in RECORD_FILES
                            if isinstance(row.get(f"in_{r}"), (bool, np.bool_))
                            and bool(row.get(f"in_{r}")))
        recs = in_root | {r for r in RECORD_FILES
                          if r not in in_root and outs.get(sid, r) is not None}
        for a in wanted:
            if a in have or a in recs:
                present[a] += 1
        sp = _SamplePlan(have, recs)
        for a in wanted:
            if a in have or a in recs:
                continue
            reason = sp.schedule(a)
            if reason is not None:
                blocked.append(Blocked(sid, a, reason))
        if sp.scheduled:
            if "source_video" in have:  # the size every output is validated against
                sp.needed.setdefault("source_video", have["source_video"])
            prompt = row.get("prompt")
            items.append(
                WorkItem(
                    sid,
                    tuple(sp.scheduled),
                    tuple(sp.needed[k] for k in sorted(sp.needed)),
                    prompt if isinstance(prompt, str) else None,
                    _record_lines(catalog, sid, sp, in_root, outs),
                )
            )
    return Plan(
        root=catalog.root,
        out=out_dir,
        artifacts=wanted,
        selected=tuple(chosen),
        items=tuple(items),
        blocked=tuple(blocked),
        present=dict(present),
        pack=pack,
        first_parts=_first_parts(catalog) if pack else {},
    )
