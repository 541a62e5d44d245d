"""A subset in the Sparkle layout itself, so every sparkle-data tool works on it unchanged.

:func:`export_sparkle` writes the card's layout for the selected ids only::

    OUT/prompts/{edit_type}_train.csv                   rows of the selected ids
    OUT/prompts/{edit_type}_train_metadata.jsonl        lines of the selected ids (bytes kept)
    OUT/{edit_type}_{source_video|edited_video}_partXX.tar          re-packed shards
    OUT/intermediate_data/{edit_type}_{artifact}_partXX.tar         re-packed intermediates
    OUT/intermediate_data/{edit_type}/{record}.jsonl    the five record files, filtered
    OUT/{edit_type}/{artifact}/{id}.{ext}, OUT/intermediate_data/{edit_type}/...
                                                        loose previews (previews=K)
    OUT/indexes/sparkle.sparkle-index                   member index of every shard (sha256)
    OUT/subset.yaml, OUT/export.json                    spec; manifest written last

**Records keep the selected ids only.** The source's record files also hold ids the pipeline
rejected; they are not carried over (an id is in the subset or it is not), so the subset's
funnel statistics describe the subset, and ``verify`` finds no rejected ids. Select them
explicitly (``population="entered"`` in a subset spec) to keep them: their record lines are
then exported, and the artifacts they lack are not asked for.

Shards are cut like the card's (``shard_bytes``, default 5 GiB): members in id order, a
shard is closed before a member would push it past the bound. Members keep the card's names
(``{edit_type}/{artifact}/{id}.{ext}``) and bytes, with fixed tar headers. CSV rows are
re-written with Python's ``csv`` module (minimal quoting, ``\\n``), JSONL lines are copied
byte for byte (a BOM or ``\\r`` is dropped).

Every member is checked before it is re-packed (:mod:`sparkle_data.export._validate`, what
``verify --deep`` runs, with the mask and edited videos held to the source video's shape): a
broken member fails the export, or with ``on_error="skip"`` drops its sample from every
output file (shards, CSV rows, record lines, previews), counted in the report.

``artifacts=None`` exports every artifact that the selected ids have (loose or in shards);
an artifact that only some of them have raises
:class:`~sparkle_data.errors.MissingArtifactError` (pass ``artifacts=`` to choose).
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from sparkle_data.errors import JoinError, MissingArtifactError
from sparkle_data.export._common import (
    check_ids,
    cut_shards,
    export_summary,
    shard_index,
    write_shard,
)
from sparkle_data.export._errors import ExportError
from sparkle_data.export._plan import (
    Checked,
    ExportKeywords,
    ExportOptions,
    ExportPlan,
    Finalized,
    UnitResult,
)
from sparkle_data.export._resume import MANIFEST_NAME, ExportReport, run_export
from sparkle_data.export._source import ArtifactRef, artifact_refs, open_ref
from sparkle_data.export._validate import member_checks
from sparkle_data.export._writer import FileDigest, write_bytes, write_stream
from sparkle_data.io import fs as sfs
from sparkle_data.io.index import ShardIndex, encode_indexes
from sparkle_data.layout import (
    ARTIFACTS,
    EDIT_TYPES,
    PROMPTS_CSV_COLUMNS,
    RECORD_FILES,
    artifact_relpath,
    artifact_spec,
    edit_type_of,
    member_name,
    prompts_csv_path,
    prompts_metadata_path,
    record_path,
    shard_path,
)

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from sparkle_data.catalog import Catalog

__all__ = ["DEFAULT_SHARD_BYTES", "SPARKLE_INDEX", "export_sparkle"]

DEFAULT_SHARD_BYTES: Final = 5 << 30
SPARKLE_INDEX: Final = "indexes/sparkle.sparkle-index"


@dataclass(frozen=True)
class _ShardUnit:
    """One re-packed shard of one (edit type, artifact) family."""

    path: str
    sample_ids: tuple[str, ...]
    refs: tuple[ArtifactRef, ...]
    artifact: str

    @property
    def key(self) -> str:
        return self.path

    def to_dict(self) -> dict[str, Any]:
        return {"ids": list(self.sample_ids), "refs": [r.to_dict() for r in self.refs]}

    def run(self, out: Path) -> UnitResult:
        names = [member_name(sid, self.artifact) for sid in self.sample_ids]
        digest, data = write_shard(out / self.path, zip(names, self.refs, strict=True))
        return UnitResult(self.key, {self.path: digest}, data)


@dataclass(frozen=True)
class _PreviewUnit:
    """The loose preview files of one sample."""

    sample_id: str
    files: tuple[tuple[str, ArtifactRef], ...]

    @property
    def key(self) -> str:
        return f"preview:{self.sample_id}"

    def to_dict(self) -> dict[str, Any]:
        return {"files": [[rel, ref.to_dict()] for rel, ref in self.files]}

    def run(self, out: Path) -> UnitResult:
        written: dict[str, FileDigest] = {}
        for rel, ref in self.files:
            with open_ref(ref) as f:
                written[rel] = write_stream(out / rel, f, ref.size, where=ref.where)
        return UnitResult(self.key, written)


@dataclass(frozen=True)
class _TextUnit:
    """A prompts CSV, metadata JSONL or record JSONL of one edit type, filtered to ``ids``."""

    path: str
    kind: str
    """``csv`` or ``jsonl``."""
    source: ArtifactRef
    edit_type: str
    ids: tuple[str, ...]
    rows: int | None = None
    """Rows the filtered file must have (the selected corpus ids, for a prompts CSV)."""

    @property
    def key(self) -> str:
        return self.path

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source.to_dict(), "ids": list(self.ids), "kind": self.kind}

    def run(self, out: Path) -> UnitResult:
        with open_ref(self.source) as f:
            data, found = (self._csv if self.kind == "csv" else self._jsonl)(f)
        if self.rows is not None and found != self.rows:
            raise JoinError.invalid(
                "prompts CSV",
                self.source.where,
                rule=f"holds {found} of the {self.rows} selected {self.edit_type} corpus ids",
                hint="The catalog changed since the export was planned; rebuild it.",
            )
        return UnitResult(
            self.key, {self.path: write_bytes(out / self.path, data)}, {"rows": found}
        )

    def _csv(self, f: Any) -> tuple[bytes, int]:
        from sparkle_data.readers.prompts import iter_prompts_csv

        wanted = set(self.ids)
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
        writer.writerow(PROMPTS_CSV_COLUMNS)
        found = 0
        for row in iter_prompts_csv(f, edit_type=self.edit_type, name=self.source.where):
            if row.sample_id in wanted:
                writer.writerow([row.prompt, row.src_video, row.tgt_video, row.sample_id])
                found += 1
        return buf.getvalue().encode("utf-8"), found

    def _jsonl(self, f: Any) -> tuple[bytes, int]:
        """The selected ids' lines, byte for byte, in file order (one scan, then reads)."""
        from sparkle_data.errors import CorruptRecordError
        from sparkle_data.readers.lineindex import build_line_index, read_line

        name = self.source.where
        index = build_line_index(f, name=name)  # duplicate or missing ids raise here
        chosen = sorted(((index[i], i) for i in self.ids if i in index), key=lambda p: p[0].offset)
        kept: list[bytes] = []
        for entry, sid in chosen:
            line = read_line(f, entry)
            try:
                obj = json.loads(line)
            except ValueError as e:
                raise CorruptRecordError.invalid(
                    "JSON line",
                    line[:60].decode("utf-8", "replace"),
                    rule=str(e),
                    path=name,
                    line=entry.line,
                ) from e
            if not isinstance(obj, dict) or obj.get("id") != sid:
                raise CorruptRecordError.invalid(
                    "record line",
                    entry.line,
                    rule='is not an object with its "id"',
                    path=name,
                    line=entry.line,
                )
            kept.append(line + b"\n")
        return b"".join(kept), len(kept)


def _present_artifacts(catalog: Catalog, ids: Sequence[str]) -> list[str]:
    """Artifacts every selected id has; raises when only some of them have one."""
    table = catalog.table.loc[list(ids)] if ids else catalog.table.iloc[:0]
    chosen: list[str] = []
    for artifact in ARTIFACTS:
        has = None
        for col in (f"{artifact}_file", f"{artifact}_shard"):
            if col in table.columns:
                col_has = table[col].notna().to_numpy()
                has = col_has if has is None else has | col_has
        if has is None or not has.any():
            continue
        if not has.all():
            lacking = [str(i) for i, h in zip(table.index, has, strict=True) if not h]
            raise MissingArtifactError.invalid(
                "artifact",
                artifact,
                rule=f"{len(lacking)} of the {len(ids)} selected ids lack it, e.g. "
                + ", ".join(lacking[:5]),
                hint="Pass artifacts= to choose what to export, or download the missing shards.",
                path=catalog.root,
            )
        chosen.append(artifact)
    return chosen


def _plan_family(
    edit_type: str,
    artifact: str,
    ids: Sequence[str],
    refs: Sequence[ArtifactRef],
    shard_bytes: int,
) -> list[_ShardUnit]:
    return [
        _ShardUnit(shard_path(edit_type, artifact, k), tuple(ids[r]), tuple(refs[r]), artifact)
        for k, r in enumerate(cut_shards([[ref.size] for ref in refs], shard_bytes))
    ]


def _text_source(catalog: Catalog, rel: str) -> ArtifactRef:
    return ArtifactRef(catalog.root, rel, sfs.size(sfs.join(catalog.base, rel), fs=catalog.fs))


def export_sparkle(
    catalog: Catalog,
    ids: Sequence[str],
    out: str | os.PathLike[str],
    *,
    artifacts: Sequence[str] | None = None,
    shard_bytes: int = DEFAULT_SHARD_BYTES,
    previews: int = 0,
    **common: Unpack[ExportKeywords],
) -> ExportReport:
    """Write the Sparkle layout of ``ids`` under ``out`` (see the module doc).

    Args:
        catalog: the source.
        ids: sample ids (corpus ids, or rejected ids for their records).
        out: output folder: new, empty, or an earlier export of the same plan (resumed).
        artifacts: artifacts to re-pack; ``None``: every artifact the selected ids have.
        shard_bytes: maximum bytes per shard (a member bigger than that gets its own).
        previews: the first ``previews`` ids of each edit type are also written loose
            (the card's preview folders hold 100).
        spec, extra_files, engine, workers, verify, overwrite, progress: as for
            :func:`~sparkle_data.export.export_kiwi`.
    """
    opts = ExportOptions.of("export_sparkle", common)
    if isinstance(shard_bytes, bool) or not isinstance(shard_bytes, int) or shard_bytes < 1:
        raise ValueError(f"Invalid shard_bytes {shard_bytes!r}: must be an int >= 1.")
    if isinstance(previews, bool) or not isinstance(previews, int) or previews < 0:
        raise ValueError(f"Invalid previews {previews!r}: must be an int >= 0.")
    root = Path(out)
    ordered = check_ids(ids)
    if artifacts is None:
        chosen = _present_artifacts(catalog, ordered)
    else:
        names = {artifact_spec(a).name for a in artifacts}
        chosen = [a for a in ARTIFACTS if a in names]
    inv = catalog.inventory
    found = {a: artifact_refs(catalog, ordered, a) for a in chosen}
    refs = {a: dict(zip(ordered, found[a], strict=True)) for a in chosen}
    checks = member_checks(ordered, found, on_error=opts.on_error)
    options: dict[str, Any] = {
        "artifacts": chosen,
        "shard_bytes": shard_bytes,
        "previews": previews,
        **opts.fingerprint_options(
            reserved=(SPARKLE_INDEX, MANIFEST_NAME, "prompts", "intermediate_data"),
            ids=ordered,
        ),
    }

    def plan_units(kept: Sequence[str]) -> list[Any]:
        units: list[Any] = []
        preview_files: dict[str, list[tuple[str, ArtifactRef]]] = {}
        for et in EDIT_TYPES:
            et_ids = [sid for sid in kept if edit_type_of(sid) == et]
            if not et_ids:
                continue
            texts: list[tuple[str, str | None, str]] = [
                (prompts_csv_path(et), inv.prompts.get(et), "csv"),
                (prompts_metadata_path(et), inv.metadata.get(et), "jsonl"),
            ]
            texts += [
                (record_path(et, rec), inv.records.get((et, rec)), "jsonl")
                for rec in RECORD_FILES
            ]
            in_corpus = int(catalog.table.loc[et_ids, "in_corpus"].sum())
            for dst, src, kind in texts:
                if src is not None:
                    rows = in_corpus if kind == "csv" else None
                    source = _text_source(catalog, src)
                    units.append(_TextUnit(dst, kind, source, et, tuple(et_ids), rows))
            for artifact in chosen:
                et_refs = [refs[artifact][sid] for sid in et_ids]
                units.extend(_plan_family(et, artifact, et_ids, et_refs, shard_bytes))
                for sid, ref in list(zip(et_ids, et_refs, strict=True))[:previews]:
                    rel = artifact_relpath(sid, artifact)
                    preview_files.setdefault(sid, []).append((rel, ref))
        units.extend(_PreviewUnit(sid, tuple(files)) for sid, files in preview_files.items())
        return units

    def plan(checked: Checked) -> ExportPlan:
        kept = [sid for sid in ordered if sid not in checked.dropped]
        units = plan_units(kept)

        def finalize(results: list[UnitResult]) -> Finalized:
            indexes: list[ShardIndex] = []
            shards: list[str] = []
            for unit, result in zip(units, results, strict=True):
                if not isinstance(unit, _ShardUnit):
                    continue
                digest = result.files[unit.path]
                indexes.append(shard_index(unit.path.rsplit("/", 1)[-1], digest, result.data))
                shards.append(unit.path)
            files: dict[str, FileDigest] = {}
            if indexes:
                files[SPARKLE_INDEX] = write_bytes(root / SPARKLE_INDEX, encode_indexes(indexes))
            files.update(opts.write_extras(root, kept))
            summary = export_summary(
                len(ordered),
                kept,
                [],
                artifacts=chosen,
                shards=shards,
                index=SPARKLE_INDEX if indexes else None,
            )
            return Finalized(files, summary)

        return ExportPlan(units, finalize)

    if not plan_units(ordered):
        raise ExportError.invalid("ids", list(ids)[:5], rule="select nothing to export")
    return run_export(root, "sparkle", plan, options, opts, checks=checks, unit_name="file")
