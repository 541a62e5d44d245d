"""Pieces every export format shares: id checks, counts, the subset spec and extra files."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from sparkle_data.export._errors import ExportError
from sparkle_data.export._source import card_order
from sparkle_data.export._writer import FileDigest, write_bytes
from sparkle_data.io.index import IndexEntry, ShardIndex
from sparkle_data.layout import EDIT_TYPES, edit_type_of, validate_member_path

if TYPE_CHECKING:
    from sparkle_data.catalog import Catalog
    from sparkle_data.filters import SubsetSpec

__all__ = [
    "SPEC_NAME",
    "check_ids",
    "edit_type_counts",
    "export_summary",
    "extras_options",
    "prompts_of",
    "shard_index",
    "write_extras",
]

SPEC_NAME: Final = "subset.yaml"
"""The subset spec saved beside every export that is given one."""
_EXAMPLES: Final = 5


def check_ids(ids: Sequence[str]) -> list[str]:
    """Valid, unique sample ids, in card order (edit type, then id)."""
    if isinstance(ids, str):
        raise ExportError.invalid("ids", ids, rule="must be a sequence of sample ids, not a str")
    ordered = card_order(list(ids))
    dupes = sorted({a for a, b in itertools.pairwise(ordered) if a == b})
    if dupes:
        raise ExportError.invalid(
            "ids", dupes[:_EXAMPLES], rule=f"{len(dupes)} id(s) are listed more than once"
        )
    return ordered


def edit_type_counts(ids: Sequence[str]) -> dict[str, int]:
    """Ids per edit type, in card order (edit types without ids are left out)."""
    counts: dict[str, int] = dict.fromkeys(EDIT_TYPES, 0)
    for sid in ids:
        counts[edit_type_of(sid)] += 1
    return {k: v for k, v in counts.items() if v}


def export_summary(
    requested: int, kept: Sequence[str], dropped: Sequence[Mapping[str, Any]], **more: Any
) -> dict[str, Any]:
    """An export report's summary: ``requested``, ``samples``, ``counts``, ``dropped``, more."""
    return {
        "requested": requested,
        "samples": len(kept),
        "counts": edit_type_counts(kept),
        "dropped": list(dropped),
        **more,
    }


def shard_index(shard: str, digest: FileDigest, data: Mapping[str, Any]) -> ShardIndex:
    """The member index of a shard a unit wrote (``data`` holds its members and end offset)."""
    return ShardIndex(
        shard=shard,
        shard_size=digest.size,
        entries=tuple(IndexEntry(n, o, s) for n, o, s in data["members"]),
        end_offset=int(data["end_offset"]),
        sha256=digest.sha256,
    )


def prompts_of(catalog: Catalog, ids: Sequence[str]) -> list[str]:
    """The prompt of each id; ids outside the prompts CSVs raise :class:`ExportError`."""
    table = catalog.table
    unknown = [i for i in ids if i not in table.index]
    rows = table.loc[[i for i in ids if i in table.index]]
    lacking = unknown + [
        str(i) for i, p in zip(rows.index, rows["prompt"], strict=True) if not isinstance(p, str)
    ]
    if lacking:
        raise ExportError.invalid(
            "ids",
            sorted(lacking)[:_EXAMPLES],
            rule=f"{len(lacking)} id(s) have no prompt: they are not rows of the prompts CSVs "
            "(rejected by the pipeline, or absent from this catalog)",
            hint="Export corpus samples only (the default population of a subset spec).",
            path=catalog.root,
        )
    return [str(p) for p in rows["prompt"]]


def _extra_bytes(
    spec: SubsetSpec | None, extra_files: Mapping[str, str | bytes] | None
) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    if spec is not None:
        files[SPEC_NAME] = spec.to_yaml().encode("utf-8")
    for rel, content in (extra_files or {}).items():
        validate_member_path(rel)
        if rel in files:
            raise ExportError.invalid("extra file", rel, rule="collides with the subset spec")
        files[rel] = content.encode("utf-8") if isinstance(content, str) else bytes(content)
    return files


def extras_options(
    spec: SubsetSpec | None,
    extra_files: Mapping[str, str | bytes] | None,
    reserved: Sequence[str] = (),
) -> dict[str, Any]:
    """What the spec and extra files add to an export's fingerprint (their identities).

    Raises :class:`ExportError` when an extra file would replace a file the export writes.
    """
    for rel in _extra_bytes(spec, extra_files):
        if rel in reserved or rel.split("/", 1)[0] in reserved:
            raise ExportError.invalid("extra file", rel, rule="is a file the export writes itself")
    out: dict[str, Any] = {"spec": None if spec is None else spec.fingerprint}
    out["extra_files"] = {
        rel: hashlib.sha256(data).hexdigest()
        for rel, data in sorted(_extra_bytes(None, extra_files).items())
    }
    return out


def write_extras(
    out: Path, spec: SubsetSpec | None, extra_files: Mapping[str, str | bytes] | None
) -> dict[str, FileDigest]:
    """Write the subset spec (``subset.yaml``) and the extra files; returns their digests."""
    return {
        rel: write_bytes(out / rel, data) for rel, data in _extra_bytes(spec, extra_files).items()
    }
