"""Pieces every export format shares: id checks, counts, shards, the subset spec and extra
files."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from sparkle_data.export._errors import ExportError
from sparkle_data.export._source import ArtifactRef, card_order, open_ref
from sparkle_data.export._writer import (
    FileDigest,
    TarWriter,
    tar_file_size,
    tar_member_size,
    write_bytes,
)
from sparkle_data.io.index import IndexEntry, ShardIndex
from sparkle_data.layout import EDIT_TYPES, edit_type_of, validate_member_path

if TYPE_CHECKING:
    from sparkle_data.catalog import Catalog
    from sparkle_data.filters import SubsetSpec

__all__ = [
    "SPEC_NAME",
    "check_ids",
    "cut_shards",
    "edit_type_counts",
    "export_summary",
    "extras_options",
    "prompts_of",
    "shard_index",
    "write_extras",
    "write_shard",
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


def cut_shards(
    sizes: Sequence[Sequence[int]], max_bytes: int, max_items: int | None = None
) -> list[slice]:
    """Cut items (each the member sizes it packs) into consecutive shards, as slices of the
    items: a shard is closed before an item would push the tar past ``max_bytes`` (an
    item bigger than that gets a shard of its own) or past ``max_items`` items."""
    cuts: list[slice] = []
    start = used = 0
    for k, members in enumerate(sizes):
        need = sum(tar_member_size(n) for n in members)
        full = max_items is not None and k - start >= max_items
        if k > start and (full or tar_file_size(used + need) > max_bytes):
            cuts.append(slice(start, k))
            start, used = k, 0
        used += need
    if len(sizes) > start:
        cuts.append(slice(start, len(sizes)))
    return cuts


def write_shard(
    path: Path, members: Iterable[tuple[str, ArtifactRef | bytes]]
) -> tuple[FileDigest, dict[str, Any]]:
    """Write one deterministic tar of ``(name, bytes or where they are)`` members at
    ``path``; its digest and the facts :func:`shard_index` needs (offsets, end offset)."""
    with TarWriter(path) as tar:
        for name, src in members:
            if isinstance(src, bytes):
                tar.add_bytes(name, src)
                continue
            with open_ref(src) as f:
                tar.add(name, f, src.size, where=src.where)
    result = tar.result
    if result is None:  # pragma: no cover - set when the block exits normally
        raise RuntimeError("tar not finished")
    members_at = [[e.name, e.offset, e.size] for e in result.entries]
    return result.digest, {"end_offset": result.end_offset, "members": members_at}


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
