"""Sample ids held twice for one artifact: in two shards, or as a loose file and a member.

A dataset root may hold one artifact of one sample twice: the same member in two shards of
one family (a re-packed shard next to the old one), or a loose file (a preview or extracted
copy) whose bytes differ from the shard member. A reader would silently pick one of the
two; the catalog finds them while it is built (shard indexes are already in hand; loose
files are compared by size, one ``stat`` each, on local roots; ``verify --deep`` compares
their bytes) and lists them in :attr:`Catalog.duplicates
<sparkle_data.catalog.Catalog.duplicates>`, which ``verify`` reports as problems.

For an id in several shards, nothing says which copy is right:

* ``duplicates="error"`` (the default) raises :class:`~sparkle_data.errors.JoinError` naming
  the first ids and where each copy is;
* ``"first"`` / ``"last"`` keep the member of the first / last shard in part order.

A loose file that differs from its member is not an error when the catalog is built: the
catalog's documented rule (a loose file is preferred to a member, so that a repaired or
regenerated file can be dropped in place) picks it; ``verify`` still reports it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal, get_args

from sparkle_data.catalog.inventory import Inventory
from sparkle_data.errors import JoinError
from sparkle_data.io import fs as sfs
from sparkle_data.io.index import ShardIndex
from sparkle_data.layout import ArtifactName, EditType, member_name

if TYPE_CHECKING:
    from fsspec.spec import AbstractFileSystem

__all__ = [
    "DUPLICATE_RULES",
    "LOOSE_DIFFERS",
    "SEVERAL_SHARDS",
    "Duplicate",
    "DuplicateRule",
    "check_duplicate_rule",
    "find_duplicates",
    "raise_duplicates",
]

DuplicateRule = Literal["error", "first", "last"]
DUPLICATE_RULES: Final[tuple[DuplicateRule, ...]] = get_args(DuplicateRule)
_SHOWN: Final = 5
SEVERAL_SHARDS: Final = "in several shards"
LOOSE_DIFFERS: Final = "loose file and shard member differ in size"


@dataclass(frozen=True, slots=True)
class Duplicate:
    """One artifact of one sample found in more than one place."""

    sample_id: str
    artifact: str
    locations: tuple[str, ...]
    """Relative paths of the copies: shards in part order, then the loose file."""
    reason: str
    """:data:`SEVERAL_SHARDS` or :data:`LOOSE_DIFFERS`."""

    def __str__(self) -> str:
        return f"{self.sample_id} {self.artifact} {self.reason}: {', '.join(self.locations)}"


def check_duplicate_rule(rule: str) -> DuplicateRule:
    if rule not in DUPLICATE_RULES:
        raise ValueError(
            f"Invalid duplicates {rule!r}: must be one of {', '.join(map(repr, DUPLICATE_RULES))}."
        )
    return rule


def find_duplicates(
    inv: Inventory,
    indexes: Mapping[str, ShardIndex],
    *,
    fs: AbstractFileSystem | None = None,
    base: str | None = None,
    compare_loose: bool | None = None,
) -> list[Duplicate]:
    """Every id held twice for one artifact (see the module docstring).

    ``compare_loose`` (default: on local roots only) also stats each loose file that has a
    shard member and reports it when the sizes differ.
    """
    if compare_loose is None:
        compare_loose = fs is not None and sfs.is_local(fs)
    out: list[Duplicate] = []
    families: dict[tuple[EditType, ArtifactName], list[str]] = defaultdict(list)
    for rel, shard in inv.shards.items():
        if rel in indexes:
            families[(shard.edit_type, shard.artifact)].append(rel)
    for (et, artifact), rels in sorted(families.items()):
        rels.sort(key=lambda r: inv.shards[r].part)
        # Within one family every member is {et}/{artifact}/{id}.{ext}: names are ids.
        names = [e.name for rel in rels for e in indexes[rel].entries]
        if len(set(names)) != len(names):
            where: dict[str, list[str]] = defaultdict(list)
            for rel in rels:
                for entry in indexes[rel].entries:
                    where[entry.name].append(rel)
            for name, found in sorted(where.items()):
                if len(found) > 1:
                    sid = name.rsplit("/", 1)[-1].rpartition(".")[0]
                    out.append(Duplicate(sid, artifact, tuple(found), SEVERAL_SHARDS))
        loose = inv.loose.get((et, artifact), {})
        if not compare_loose or not loose or fs is None or base is None:
            continue
        members: dict[str, tuple[str, int]] = {}
        for rel in rels:
            for entry in indexes[rel].entries:
                members.setdefault(entry.name, (rel, entry.size))
        for sid, rel in sorted(loose.items()):
            got = members.get(member_name(sid, artifact))
            if got is not None and sfs.size(sfs.join(base, rel), fs=fs) != got[1]:
                out.append(Duplicate(sid, artifact, (got[0], rel), LOOSE_DIFFERS))
    return out


def raise_duplicates(duplicates: Sequence[Duplicate], root: str) -> None:
    """Raise :class:`JoinError` naming the first ids held by several shards, if any."""
    duplicates = [d for d in duplicates if d.reason == SEVERAL_SHARDS]
    if not duplicates:
        return
    shown = "; ".join(str(d) for d in duplicates[:_SHOWN])
    more = f" (and {len(duplicates) - _SHOWN} more)" if len(duplicates) > _SHOWN else ""
    first = duplicates[0]
    raise JoinError.invalid(
        "duplicate sample ids",
        len(duplicates),
        rule=f"one artifact of one sample must be held once: {shown}{more}",
        hint='Remove the stale copies, or pick a rule: duplicates="first" or "last" '
        "(`sparkle-data verify` lists them all).",
        path=root,
        sample_id=first.sample_id,
    )
