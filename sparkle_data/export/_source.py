"""Where an exported artifact's bytes come from, as plain picklable data.

An export is planned in the calling process from the :class:`~sparkle_data.catalog.Catalog`,
and each output unit (a file, a shard) carries :class:`ArtifactRef` values only: the dataset
root's location string, a path under it, and for shard members the member's name, offset and
size. Workers (threads, processes, Ray tasks) reopen the root themselves; nothing holds the
catalog, a DataFrame or an open file across process boundaries.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import IO, TYPE_CHECKING, Any

from sparkle_data.errors import MissingArtifactError
from sparkle_data.io import fs as sfs
from sparkle_data.io.index import IndexEntry, open_member
from sparkle_data.layout import EDIT_TYPES, artifact_spec, member_name, parse_sample_id

if TYPE_CHECKING:
    from sparkle_data.catalog import Catalog

__all__ = ["ArtifactRef", "artifact_refs", "card_order", "open_ref"]

_EXAMPLES = 5


@dataclass(frozen=True, slots=True)
class ArtifactRef:
    """One artifact's bytes: a loose file, or a member of a shard (``member`` set)."""

    root: str
    """The catalog's root location (local path, ``hf://...``, URL)."""
    path: str
    """Relative to ``root``: the loose file, or the shard."""
    size: int
    member: str | None = None
    offset: int | None = None

    @property
    def where(self) -> str:
        """``root/path`` or ``root/path::member``, for messages."""
        base = f"{self.root.rstrip('/')}/{self.path}"
        return f"{base}::{self.member}" if self.member is not None else base

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k != "root"}


@contextlib.contextmanager
def open_ref(ref: ArtifactRef) -> Iterator[IO[bytes]]:
    """A seekable binary file over the artifact's bytes (bounded to the member)."""
    fs, base = sfs.resolve_once(ref.root)
    where = sfs.join(base, ref.path)
    if ref.member is not None and ref.offset is not None:
        f = open_member(where, IndexEntry(ref.member, ref.offset, ref.size), fs=fs)
    else:
        f = sfs.open_binary(where, fs=fs)
    with f:
        yield f


def card_order(ids: Sequence[str]) -> list[str]:
    """``ids`` validated and sorted as the card lists them: by edit type, then by id."""
    parsed = sorted(
        (EDIT_TYPES.index(sid.edit_type), sid.index, str(sid))
        for sid in (parse_sample_id(i) for i in ids)
    )
    return [s for _, _, s in parsed]


def artifact_refs(catalog: Catalog, ids: Sequence[str], artifact: str) -> list[ArtifactRef]:
    """Where ``artifact`` of each id is (loose files first, as :meth:`Catalog.locate`).

    Raises :class:`MissingArtifactError` naming the ids (count and examples) that have none.
    """
    name = artifact_spec(artifact).name
    table = catalog.table
    unknown = [i for i in ids if i not in table.index]
    if unknown:
        raise MissingArtifactError.invalid(
            "sample ids",
            unknown[:_EXAMPLES],
            rule=f"{len(unknown)} id(s) are not in the catalog",
            path=catalog.root,
        )
    cols = [f"{name}_{c}" for c in ("file", "shard", "offset", "size")]
    present = [c for c in cols if c in table.columns]
    rows = table.loc[list(ids), present] if ids else table.iloc[:0][present]
    get: dict[str, list[Any]] = {
        c: rows[c].tolist() if c in rows.columns else [None] * len(rows) for c in cols
    }
    out: list[ArtifactRef] = []
    missing: list[str] = []
    for k, sid in enumerate(ids):
        file, shard = get[cols[0]][k], get[cols[1]][k]
        if isinstance(file, str):
            size = sfs.size(sfs.join(catalog.base, file), fs=catalog.fs)
            out.append(ArtifactRef(catalog.root, file, size))
        elif isinstance(shard, str):
            out.append(
                ArtifactRef(
                    catalog.root,
                    shard,
                    int(get[cols[3]][k]),
                    member_name(sid, name),
                    int(get[cols[2]][k]),
                )
            )
        else:
            missing.append(sid)
    if missing:
        raise MissingArtifactError.invalid(
            "artifact",
            name,
            rule=f"{len(missing)} of the {len(ids)} ids have no {name} (loose file or shard "
            f"member), e.g. {', '.join(missing[:_EXAMPLES])}",
            hint="Download the shards that hold it, or leave the artifact out of the export.",
            path=catalog.root,
        )
    return out
