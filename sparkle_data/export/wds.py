"""Paired WebDataset shards: one tar sample per Sparkle pair.

:func:`export_wds` writes::

    OUT/shard-000000.tar ...     samples in card order (edit type, then id), cut by size
    OUT/shards.json              the shard list: names, sizes, sha256, sample counts, fields
    OUT/index.sparkle-index      member index of every shard (sparkle_data.io.index format)
    OUT/subset.yaml              the subset spec, when one is given
    OUT/export.json              the manifest, written last (see sparkle_data.export)

Each sample is the members ``{id}.{field}`` for the fields of :data:`WDS_FIELDS` that were
asked for, always ``{id}.json`` first (prompt, the card's metadata, every score of the
catalog; missing values are ``null``), then ``src.mp4``, ``tgt.mp4`` and the extras
(``mask.npz``, ``bg.mp4``, ``canny.mp4``, frame PNGs) in a fixed order. Artifact bytes are
copied unchanged. Tar headers are fixed (mtime, mode, owner: see
:mod:`sparkle_data.export._writer`): the same ids and options give the same bytes.

A shard is closed before a sample would push it past ``max_shard_bytes`` (a bigger sample
gets a shard of its own) or past ``max_shard_samples`` samples.

Every member is checked before it is packed (:mod:`sparkle_data.export._validate`, what
``verify --deep`` runs, with the mask and edited videos held to the source video's shape): a
broken member fails the export, or with ``on_error="skip"`` drops its sample (counted in the
report); shards are cut from the samples kept.

The shards load with stock ``webdataset.WebDataset(urls)``, with
``datasets.load_dataset("webdataset", data_files=...)`` and with sparkle-data's own tar tools
(``iter_tar_members(f, validate=validate_wds_member)``, ``read_indexes`` +
``read_member``).
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from sparkle_data.catalog.cells import cell_value
from sparkle_data.errors import LayoutError
from sparkle_data.export._common import (
    check_ids,
    cut_shards,
    edit_type_counts,
    export_summary,
    prompts_of,
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
from sparkle_data.export._source import ArtifactRef, artifact_refs
from sparkle_data.export._validate import member_checks
from sparkle_data.export._writer import FileDigest, write_bytes
from sparkle_data.io.index import ShardIndex, encode_indexes
from sparkle_data.layout import ArtifactName, artifact_spec, metadata_edit_type, parse_sample_id

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from sparkle_data.catalog import Catalog

__all__ = [
    "DEFAULT_MAX_SHARD_BYTES",
    "DEFAULT_MAX_SHARD_SAMPLES",
    "SHARD_LIST",
    "WDS_FIELDS",
    "WDS_INDEX",
    "export_wds",
    "sample_json",
    "validate_wds_member",
    "wds_artifacts",
    "wds_shard_name",
]

WDS_FIELDS: Final[dict[ArtifactName, str]] = {
    "source_video": "src.mp4",
    "edited_video": "tgt.mp4",
    "source_video_mask": "mask.npz",
    "edited_background_video": "bg.mp4",
    "edited_video_canny": "canny.mp4",
    "source_frame0": "src_frame0.png",
    "edited_frame0": "tgt_frame0.png",
    "edited_frame0_foreground_removed": "bg_frame0.png",
}
"""The WebDataset field (member suffix) of each artifact, in the order members are written."""
JSON_FIELD: Final = "json"
SHARD_LIST: Final = "shards.json"
WDS_INDEX: Final = "index.sparkle-index"
SHARD_LIST_FORMAT: Final = "sparkle-data/wds-shards"
DEFAULT_MAX_SHARD_BYTES: Final = 1 << 30
DEFAULT_MAX_SHARD_SAMPLES: Final = 10_000
_SHARD_RE: Final = re.compile(r"shard-[0-9]{6,}\.tar")
_FIELDS: Final = frozenset([JSON_FIELD, *WDS_FIELDS.values()])
_META_COLUMNS: Final = ("chosen_keyword", "original_scene")
_SCORE_PREFIXES: Final = ("frame0_", "fg_removed_", "grounding_", "video_")
_INT_MARKERS: Final = ("num_", "frame_index")


def wds_shard_name(index: int) -> str:
    """``shard-%06d.tar``."""
    return f"shard-{index:06d}.tar"


def validate_wds_member(name: str) -> str:
    """Accept only ``{sample_id}.{field}`` with a field of :data:`WDS_FIELDS` or ``json``.

    Pass it as ``validate=`` to :func:`sparkle_data.io.safetar.iter_tar_members` to read these
    shards with the library's safe tar reader; anything else raises :class:`LayoutError`.
    """
    stem, dot, field = name.partition(".")
    if not dot or field not in _FIELDS or "/" in name:
        raise LayoutError.invalid(
            "WebDataset member",
            name,
            rule="must be {sample_id}.{field} with field one of " + ", ".join(sorted(_FIELDS)),
        )
    parse_sample_id(stem)
    return name


def wds_artifacts(
    artifacts: Sequence[str] = ("source_video", "edited_video"),
    *,
    include_mask: bool = False,
    include_background: bool = False,
    include_canny: bool = False,
) -> list[ArtifactName]:
    """The artifacts an export packs, in member order (see :func:`export_wds`)."""
    wanted = {artifact_spec(a).name for a in artifacts}
    for flag, artifact in (
        (include_mask, "source_video_mask"),
        (include_background, "edited_background_video"),
        (include_canny, "edited_video_canny"),
    ):
        if flag:
            wanted.add(artifact)  # type: ignore[arg-type]
    return [a for a in WDS_FIELDS if a in wanted]


def _jsonable(value: Any, column: str) -> Any:
    value = cell_value(value)
    if value is None or isinstance(value, (bool, str)):
        return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if not math.isfinite(number):
        return None
    if number.is_integer() and any(m in column for m in _INT_MARKERS):
        return int(number)
    return number


def sample_json(row: Mapping[str, Any], sample_id: str, prompt: str) -> bytes:
    """The ``{id}.json`` member: id, prompt, the card's metadata and every catalog score.

    ``metadata`` has the card's shape (``edit_type`` as the metadata JSONL spells it,
    ``chosen_keyword``, ``original_scene``); ``scores`` holds every ``frame0_*``,
    ``fg_removed_*``, ``grounding_*`` and ``video_*`` column (``null`` when missing).
    """
    et = parse_sample_id(sample_id).edit_type
    metadata = {"edit_type": metadata_edit_type(et)}
    metadata.update({c: _jsonable(row.get(c), c) for c in _META_COLUMNS})
    scores = {
        str(c): _jsonable(v, str(c)) for c, v in row.items() if str(c).startswith(_SCORE_PREFIXES)
    }
    doc = {
        "id": sample_id,
        "edit_type": et,
        "prompt": prompt,
        "metadata": metadata,
        "subtheme": _jsonable(row.get("subtheme"), "subtheme"),
        "scene": _jsonable(row.get("scene"), "scene"),
        "scores": dict(sorted(scores.items())),
    }
    text = json.dumps(doc, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return (text + "\n").encode("utf-8")


@dataclass(frozen=True)
class _Member:
    name: str
    source: ArtifactRef | bytes
    """A member of the root, or bytes made here (the sample's JSON)."""

    @property
    def size(self) -> int:
        return len(self.source) if isinstance(self.source, bytes) else self.source.size

    def to_dict(self) -> dict[str, Any]:
        if isinstance(self.source, bytes):
            import hashlib

            return {"name": self.name, "sha256": hashlib.sha256(self.source).hexdigest()}
        return {"name": self.name, "ref": self.source.to_dict()}


@dataclass(frozen=True)
class _WdsShardUnit:
    """One shard: its samples' members, in order."""

    name: str
    sample_ids: tuple[str, ...]
    members: tuple[_Member, ...]

    @property
    def key(self) -> str:
        return self.name

    def to_dict(self) -> dict[str, Any]:
        return {"samples": list(self.sample_ids), "members": [m.to_dict() for m in self.members]}

    def run(self, out: Path) -> UnitResult:
        digest, data = write_shard(out / self.name, [(m.name, m.source) for m in self.members])
        ids = self.sample_ids
        data.update(samples=len(ids), first=ids[0], last=ids[-1])
        return UnitResult(self.key, {self.name: digest}, data)


def _plan_shards(
    samples: Sequence[tuple[str, list[_Member]]], max_bytes: int, max_samples: int
) -> list[_WdsShardUnit]:
    sizes = [[m.size for m in ms] for _, ms in samples]
    return [
        _WdsShardUnit(
            wds_shard_name(k),
            tuple(sid for sid, _ in samples[r]),
            tuple(m for _, ms in samples[r] for m in ms),
        )
        for k, r in enumerate(cut_shards(sizes, max_bytes, max_samples))
    ]


def _check_limit(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"Invalid {name} {value!r}: must be an int >= 1.")
    return value


def export_wds(
    catalog: Catalog,
    ids: Sequence[str],
    out: str | os.PathLike[str],
    *,
    artifacts: Sequence[str] = ("source_video", "edited_video"),
    include_mask: bool = False,
    include_background: bool = False,
    include_canny: bool = False,
    max_shard_bytes: int = DEFAULT_MAX_SHARD_BYTES,
    max_shard_samples: int = DEFAULT_MAX_SHARD_SAMPLES,
    **common: Unpack[ExportKeywords],
) -> ExportReport:
    """Write paired WebDataset shards for ``ids`` under ``out`` (see the module doc).

    Args:
        catalog: the source.
        ids: corpus sample ids (each needs a prompt and every requested artifact).
        out: output folder: new, empty, or an earlier export of the same plan (resumed).
        artifacts: artifacts to pack (any of :data:`WDS_FIELDS`); the ``include_*`` flags
            add ``source_video_mask`` (``mask.npz``), ``edited_background_video``
            (``bg.mp4``) and ``edited_video_canny`` (``canny.mp4``).
        max_shard_bytes, max_shard_samples: shard size bounds.
        spec, extra_files, engine, workers, verify, overwrite, progress: as for
            :func:`~sparkle_data.export.export_kiwi`.
    """
    opts = ExportOptions.of("export_wds", common)
    _check_limit("max_shard_bytes", max_shard_bytes)
    _check_limit("max_shard_samples", max_shard_samples)
    chosen = wds_artifacts(
        artifacts,
        include_mask=include_mask,
        include_background=include_background,
        include_canny=include_canny,
    )
    if not chosen:
        raise ExportError.invalid("artifacts", list(artifacts), rule="name no artifact to export")
    root = Path(out)
    ordered = check_ids(ids)
    prompts = prompts_of(catalog, ordered)
    refs: dict[str, list[ArtifactRef]] = {a: artifact_refs(catalog, ordered, a) for a in chosen}
    records = catalog.table.loc[ordered].to_dict("records") if ordered else []
    samples: list[tuple[str, list[_Member]]] = []
    for k, (sid, prompt, row) in enumerate(zip(ordered, prompts, records, strict=True)):
        ms = [_Member(f"{sid}.{JSON_FIELD}", sample_json(row, sid, prompt))]
        ms += [_Member(f"{sid}.{WDS_FIELDS[a]}", refs[a][k]) for a in chosen]
        samples.append((sid, ms))
    checks = member_checks(ordered, refs, on_error=opts.on_error)
    fields = [JSON_FIELD, *(WDS_FIELDS[a] for a in chosen)]
    options: dict[str, Any] = {
        "fields": fields,
        **opts.fingerprint_options(
            reserved=(SHARD_LIST, WDS_INDEX, MANIFEST_NAME), ids=ordered
        ),
    }

    def plan(checked: Checked) -> ExportPlan:
        kept_samples = [(sid, ms) for sid, ms in samples if sid not in checked.dropped]
        kept = [sid for sid, _ in kept_samples]
        units = _plan_shards(kept_samples, max_shard_bytes, max_shard_samples)

        def finalize(results: list[UnitResult]) -> Finalized:
            indexes: list[ShardIndex] = []
            shards: list[dict[str, Any]] = []
            for unit, result in zip(units, results, strict=True):
                digest = result.files[unit.name]
                indexes.append(shard_index(unit.name, digest, result.data))
                shards.append(
                    {
                        "name": unit.name,
                        "size": digest.size,
                        "sha256": digest.sha256,
                        "samples": len(unit.sample_ids),
                        "first": unit.sample_ids[0],
                        "last": unit.sample_ids[-1],
                    }
                )
            listing = {
                "format": SHARD_LIST_FORMAT,
                "format_version": 1,
                "fields": fields,
                "samples": len(kept),
                "counts": edit_type_counts(kept),
                "shards": shards,
                "index": WDS_INDEX,
            }
            files: dict[str, FileDigest] = {
                SHARD_LIST: write_bytes(
                    root / SHARD_LIST, (json.dumps(listing, indent=1) + "\n").encode("utf-8")
                ),
                WDS_INDEX: write_bytes(root / WDS_INDEX, encode_indexes(indexes)),
            }
            files.update(opts.write_extras(root, kept))
            summary = export_summary(
                len(ordered), kept, [], shards=[u.name for u in units], fields=fields
            )
            return Finalized(files, summary)

        return ExportPlan(units, finalize)

    return run_export(root, "wds", plan, options, opts, checks=checks, unit_name="shard")
