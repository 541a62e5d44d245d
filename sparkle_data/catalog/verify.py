"""Cross-artifact audit of a dataset root (what ``sparkle-data verify`` prints).

Problems make the audit fail; notes are facts worth knowing that are not errors (ids found
only in record files are samples rejected at a pipeline stage, and are reported as such).
Ids held twice for one artifact (two shards, or a loose file and a member of another size)
are problems (build the catalog with ``duplicates="first"`` to audit such a root).
``deep=True`` also looks inside every artifact (:mod:`sparkle_data.catalog.deep`) and keeps
the problems per sample.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sparkle_data.catalog.deep import deep_verify
from sparkle_data.catalog.model import Catalog
from sparkle_data.catalog.table import PIPELINE_ORDER
from sparkle_data.errors import IntegrityError
from sparkle_data.io import fs as sfs
from sparkle_data.io.index import ShardIndex, index_matches, read_indexes, verify_shard
from sparkle_data.layout import ARTIFACTS, RECORD_FILES

__all__ = ["Finding", "VerifyReport", "verify_catalog"]

_EXAMPLES = 5


@dataclass(frozen=True, slots=True)
class Finding:
    code: str
    message: str
    count: int = 1
    examples: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "count": self.count,
            "examples": list(self.examples),
        }

    def __str__(self) -> str:
        text = f"[{self.code}] {self.message}"
        if self.count != 1 or self.examples:
            text += f" ({self.count})"
        if self.examples:
            text += ": " + ", ".join(self.examples)
            if self.count > len(self.examples):
                text += ", ..."
        return text


@dataclass
class VerifyReport:
    root: str
    problems: list[Finding] = field(default_factory=list)
    notes: list[Finding] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=dict)
    """What the audit looked at (corpus samples, rejected ids, record files, shards, ...)."""
    samples: dict[str, list[str]] = field(default_factory=dict)
    """Per sample, the problems ``deep=True`` found (empty without it)."""

    @property
    def ok(self) -> bool:
        return not self.problems

    def problem(self, code: str, message: str, ids: Iterable[str] | None = None) -> None:
        self._add(self.problems, code, message, ids)

    def note(self, code: str, message: str, ids: Iterable[str] | None = None) -> None:
        self._add(self.notes, code, message, ids)

    @staticmethod
    def _add(into: list[Finding], code: str, message: str, ids: Iterable[str] | None) -> None:
        if ids is None:
            into.append(Finding(code, message))
            return
        items = sorted(ids)
        if items:
            into.append(Finding(code, message, len(items), tuple(items[:_EXAMPLES])))

    def to_dict(self) -> dict[str, Any]:
        return {
            "root": self.root,
            "ok": self.ok,
            "problems": [f.to_dict() for f in self.problems],
            "notes": [f.to_dict() for f in self.notes],
            "checked": dict(self.checked),
            "samples": {sid: list(msgs) for sid, msgs in sorted(self.samples.items())},
        }

    def __str__(self) -> str:
        status = "OK" if self.ok else f"{len(self.problems)} problem(s)"
        what = ", ".join(f"{n} {name}" for name, n in self.checked.items())
        lines = [f"verify {self.root}: {status}" + (f" (checked {what})" if what else "")]
        lines += [f"  problem {f}" for f in self.problems]
        lines += [f"  note    {f}" for f in self.notes]
        return "\n".join(lines)


def _ids(mask: Any) -> list[str]:
    return [str(i) for i in mask[mask].index]


def verify_catalog(
    catalog: Catalog,
    *,
    index_file: str | os.PathLike[str] | None = None,
    check_shards: bool = True,
    sha256: bool = False,
    deep: bool = False,
    workers: int = 1,
    progress: bool = False,
    state: str | os.PathLike[str] | None = None,
) -> VerifyReport:
    """Audit ``catalog``: joins between CSV, metadata, records and every artifact family,
    parse problems counted while building it, and the shards' integrity.

    ``index_file`` is a published index to hold the shards against (catches truncated and
    replaced shards); ``check_shards`` rescans every shard's headers against its index;
    ``sha256`` also hashes each shard against the sha256 the Hub (or the index) gives.
    ``deep`` checks every artifact's bytes and the cross-artifact rules, in ``workers``
    threads, resumable through the JSON file ``state`` (see :mod:`sparkle_data.catalog.deep`).
    """
    t = catalog.table
    rep = VerifyReport(catalog.root)
    inv = catalog.inventory

    rep.checked.update(
        {
            "corpus samples": int(t["in_corpus"].sum()) if len(t) else 0,
            "rejected ids": int((t["status"] == "rejected").sum()) if len(t) else 0,
            "prompt files": len(inv.prompts),
            "record files": len(inv.records),
            "shards": len(catalog.indexes),
            "loose files": sum(len(v) for v in inv.loose.values()),
        }
    )
    if not (inv.prompts or inv.metadata or inv.records or inv.shards or inv.loose):
        rep.problem(
            "nothing-to-verify",
            f"no Sparkle piece (prompts, records, shards, artifact folders) under {catalog.root} "
            f"for {', '.join(inv.edit_types)}",
        )
        return rep
    for piece in inv.missing():
        rep.note("missing-piece", f"not present under the root: {piece}")
    if inv.ignored:
        rep.problem("bad-name", "files whose names break the layout (never read)", inv.ignored)
    if catalog.report.total:
        for reason, n in sorted(catalog.report.counts.items()):
            rep.problem("unreadable", f"{n} item(s) skipped while reading: {reason}")
        for ex in catalog.report.examples:
            rep.problem("unreadable-example", ex.message)

    by_reason: dict[str, list[str]] = {}
    for dup in catalog.duplicates:
        by_reason.setdefault(f"{dup.artifact} {dup.reason}", []).append(str(dup))
    for what, found in sorted(by_reason.items()):
        rep.problem("duplicate-id", f"ids held twice for one artifact ({what})", found)

    corpus = t["in_corpus"]
    with_meta_files = set(inv.metadata)
    lacks_meta = corpus & ~t["has_metadata"] & t["edit_type"].isin(with_meta_files)
    rep.problem("no-metadata", "CSV rows without a metadata line", _ids(lacks_meta))
    rep.problem(
        "metadata-only", "metadata lines without a CSV row", _ids(~corpus & t["has_metadata"])
    )
    for record in RECORD_FILES:
        themes = {et for (et, rec) in inv.records if rec == record}
        gap = corpus & ~t[f"in_{record}"] & t["edit_type"].isin(themes)
        rep.problem(
            "not-in-record",
            f"corpus samples missing from {record}.jsonl (every released sample passed all stages)",
            _ids(gap),
        )
    for artifact in ARTIFACTS:
        themes = {et for (et, a) in inv.loose if a == artifact}
        themes |= {s.edit_type for s in inv.shards.values() if s.artifact == artifact}
        present = t[f"{artifact}_file"].notna() | t[f"{artifact}_shard"].notna()
        rep.problem(
            "missing-artifact",
            f"corpus samples with no {artifact} (loose file or shard member)",
            _ids(corpus & ~present & t["edit_type"].isin(themes)),
        )
        rep.problem(
            "orphan-artifact",
            f"{artifact} files for ids not in the prompts CSV",
            _ids(~corpus & present & t["edit_type"].isin(set(inv.prompts))),
        )
    rejected = t[t["status"] == "rejected"]
    if len(rejected):
        by_stage = rejected["last_record"].value_counts()
        parts = ", ".join(
            f"after {rec}: {int(by_stage[rec])}" for rec in PIPELINE_ORDER if rec in by_stage
        )
        rep.note(
            "rejected",
            f"{len(rejected)} ids appear only in record files: samples rejected by the "
            f"pipeline ({parts})",
        )

    published: dict[str, ShardIndex] = (
        read_indexes(os.fspath(index_file)) if index_file is not None else {}
    )
    for rel, index in sorted(catalog.indexes.items()):
        where = sfs.join(catalog.base, rel)
        if index.truncated:
            rep.problem("truncated-shard", f"{rel}: truncated or missing its end blocks")
            continue
        pub = published.get(index.shard)
        if index_file is not None and pub is None:
            rep.problem("unindexed-shard", f"{rel}: not in the published index {index_file}")
        elif pub is not None:
            finfo = sfs.info(where, fs=catalog.fs)
            if not index_matches(pub, finfo, shard=index.shard, use_etag=False):
                rep.problem(
                    "shard-mismatch",
                    f"{rel}: {finfo.size} bytes on disk, published index says "
                    f"{pub.shard_size} bytes / {len(pub)} members",
                )
                continue
        reference = pub or index
        with_sha = sha256 and reference.sha256 is not None
        if sha256 and not with_sha:
            rep.note("no-sha256", f"{rel}: no sha256 known (local shard without a published index)")
        if check_shards or with_sha:
            try:
                verify_shard(where, reference, fs=catalog.fs, check_sha256=with_sha)
            except IntegrityError as e:
                rep.problem("shard-integrity", f"{rel}: {e}")
    for name in sorted(set(published) - {ix.shard for ix in catalog.indexes.values()}):
        rep.note("absent-shard", f"{name} is in the published index but not under the root")
    if deep:
        _deep(rep, catalog, workers, progress, state)
    return rep


def _deep(
    rep: VerifyReport,
    catalog: Catalog,
    workers: int,
    progress: bool,
    state: str | os.PathLike[str] | None,
) -> None:
    found = deep_verify(catalog, workers=workers, progress=progress, state=state)
    rep.checked["deep samples"] = found.samples
    rep.checked["deep artifacts"] = found.artifacts
    if found.resumed:
        rep.note("resumed", f"{found.resumed} samples read back from {os.fspath(state or '')}")
    by_code: dict[str, list[str]] = {}
    for p in found.problems:
        rep.samples.setdefault(p.sample_id, []).append(p.message)
        by_code.setdefault(p.code, []).append(p.sample_id)
    labels = {
        "corrupt": "samples with an artifact that fails its deep check",
        "copy-differs": "samples whose loose file and shard member hold different bytes",
        "inconsistent": "samples whose mask or edited videos do not match the source video",
        "bad-boxes": "samples whose grounding boxes fall outside the source frame",
    }
    for code, ids in sorted(by_code.items()):
        rep.problem(f"deep-{code}", labels.get(code, code), sorted(set(ids)))
    for sid, msgs in sorted(rep.samples.items())[:_EXAMPLES]:
        rep.problem("deep-example", f"{sid}: {msgs[0]}")
