"""What a dataset root holds: prompts, records, shards and loose artifact files.

An :class:`Inventory` is built from listings only (no file is read). Local and ``hf://`` roots
are listed; HTTP roots cannot be, so they take an explicit ``files=`` list (a manifest) or are
probed by name: prompts and records by their fixed paths, shards ``part00``, ``part01``, ...
until the first missing one. Loose files are never probed over HTTP (that would cost one
request per sample); give ``files=`` to include them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from fsspec.spec import AbstractFileSystem

from sparkle_data.catalog.fixed_names import probe_root
from sparkle_data.errors import LayoutError, NoDatasetError
from sparkle_data.io import fs as sfs
from sparkle_data.io.remote import HTTPRangeFileSystem
from sparkle_data.layout import (
    ARTIFACTS,
    EDIT_TYPES,
    INTERMEDIATE_DIR,
    RECORD_FILES,
    ArtifactName,
    EditType,
    RecordName,
    ShardName,
    artifact_relpath,
    parse_artifact_relpath,
    parse_edit_type,
    parse_shard_name,
    prompts_csv_path,
    prompts_metadata_path,
    record_path,
    shard_path,
)

__all__ = ["Inventory", "require_pieces", "scan_inventory"]



@dataclass(frozen=True)
class Inventory:
    """Relative paths of everything found under ``root``, grouped by what it is."""

    root: str
    edit_types: tuple[EditType, ...]
    prompts: dict[EditType, str] = field(default_factory=dict)
    metadata: dict[EditType, str] = field(default_factory=dict)
    records: dict[tuple[EditType, RecordName], str] = field(default_factory=dict)
    shards: dict[str, ShardName] = field(default_factory=dict)
    """Shard relative path -> parsed name."""
    loose: dict[tuple[EditType, ArtifactName], dict[str, str]] = field(default_factory=dict)
    """(edit type, artifact) -> {sample id: relative path} of loose (preview/extracted) files."""
    ignored: tuple[str, ...] = ()
    """Files in artifact folders whose names break the layout (reported, never read)."""
    known: Mapping[str, sfs.FileInfo] = field(default_factory=dict, compare=False, repr=False)
    """Size and ETag of files that start-up already asked about (HTTP roots, by relative
    path): they are opened without asking again."""

    @property
    def has_pieces(self) -> bool:
        """Whether any Sparkle piece was found (prompts, records, shards, loose files)."""
        return bool(self.prompts or self.metadata or self.records or self.shards or self.loose)

    def shards_of(self, edit_type: str, artifact: str) -> list[str]:
        """Shard paths of one family, in part order."""
        found = [
            p for p, s in self.shards.items() if (s.edit_type, s.artifact) == (edit_type, artifact)
        ]
        return sorted(found, key=lambda p: self.shards[p].part)

    def missing(self) -> list[str]:
        """Pieces the layout expects for each scanned edit type and that are absent."""
        out: list[str] = []
        for et in self.edit_types:
            if et not in self.prompts:
                out.append(prompts_csv_path(et))
            if et not in self.metadata:
                out.append(prompts_metadata_path(et))
            out.extend(
                record_path(et, rec) for rec in RECORD_FILES if (et, rec) not in self.records
            )
            for artifact in ARTIFACTS:
                if not self.shards_of(et, artifact) and not self.loose.get((et, artifact)):
                    out.append(f"{shard_path(et, artifact, 0).replace('part00', 'partXX')}")
        return out


def _relpaths(
    root: str, fs: AbstractFileSystem, files: Sequence[str] | None, pattern: str
) -> list[str]:
    return sfs.glob(root, pattern, fs=fs, files=list(files) if files is not None else None)


def scan_inventory(
    root: str | os.PathLike[str],
    *,
    edit_types: Sequence[str] | None = None,
    files: Sequence[str] | None = None,
    fs: AbstractFileSystem | None = None,
) -> Inventory:
    """List what ``root`` holds for ``edit_types`` (default: all five)."""
    ets = tuple(parse_edit_type(e) for e in (edit_types or EDIT_TYPES))
    if fs is None:
        fs, base = sfs.resolve(root)
    else:
        base = os.fspath(root)
    location = sfs.unresolve(fs, base)
    if isinstance(fs, HTTPRangeFileSystem) and files is None:  # no listing: ask by name
        files = sorted(probe_root(fs, base, ets, tuple(ARTIFACTS)))

    inv = Inventory(location, ets)
    ignored: list[str] = []
    present = set(_relpaths(base, fs, files, "prompts/*"))
    for et in ets:
        if prompts_csv_path(et) in present:
            inv.prompts[et] = prompts_csv_path(et)
        if prompts_metadata_path(et) in present:
            inv.metadata[et] = prompts_metadata_path(et)
        found = set(_relpaths(base, fs, files, f"{INTERMEDIATE_DIR}/{et}/*.jsonl"))
        for rec in RECORD_FILES:
            if record_path(et, rec) in found:
                inv.records[(et, rec)] = record_path(et, rec)
    for pattern in ("*.tar", f"{INTERMEDIATE_DIR}/*.tar"):
        for rel in _relpaths(base, fs, files, pattern):
            try:
                shard = parse_shard_name(rel)
            except LayoutError:
                ignored.append(rel)
                continue
            if shard.edit_type in ets:
                if shard.path != rel:
                    ignored.append(rel)  # e.g. an intermediate shard at the root
                    continue
                inv.shards[rel] = shard
    for et in ets:
        for artifact, spec in ARTIFACTS.items():
            folder = artifact_relpath(f"Sparkle_{et}_000000", artifact).rsplit("/", 1)[0]
            found_files: dict[str, str] = {}
            for rel in _relpaths(base, fs, files, f"{folder}/*"):
                try:
                    parsed = parse_artifact_relpath(rel)
                except LayoutError:
                    ignored.append(rel)
                    continue
                if parsed.artifact == spec.name:
                    found_files[str(parsed.sample_id)] = rel
            if found_files:
                inv.loose[(et, artifact)] = found_files
    return Inventory(
        inv.root,
        inv.edit_types,
        inv.prompts,
        inv.metadata,
        inv.records,
        inv.shards,
        inv.loose,
        tuple(sorted(ignored)),
    )


def require_pieces(
    inv: Inventory, fs: AbstractFileSystem, root: str | os.PathLike[str] | None = None
) -> None:
    """Raise :class:`NoDatasetError` when ``inv`` found no Sparkle piece: an empty catalog
    would read as an empty dataset. ``root`` is the location as the user gave it (named
    when it does not exist; default: the inventory's). A local root's message names the
    nearest folder that holds a piece (``root/Sparkle``, a parent, a child) if one does."""
    if inv.has_pieces:
        return
    given = os.fspath(root) if root is not None else inv.root
    themes = ", ".join(inv.edit_types)
    msg = (
        f"No Sparkle dataset at {inv.root!r} (edit types {themes}): expected "
        "prompts/{edit_type}_train.csv, intermediate_data/{edit_type}/*.jsonl, "
        "{edit_type}_*_partXX.tar shards or extracted artifact folders there."
    )
    if sfs.is_local(fs):
        if not os.path.exists(inv.root):
            msg = f"No such folder {given!r}: " + msg.split(": ", 1)[1]
        others = tuple(et for et in EDIT_TYPES if et not in inv.edit_types)
        if others and os.path.isdir(inv.root):
            held = _edit_types_held(scan_inventory(inv.root, edit_types=others))
            if held:
                raise NoDatasetError(
                    f"{msg} It holds edit types {', '.join(held)}: include them in "
                    "edit_types (--edit-types), or leave it out for all."
                )
        for candidate in _candidates(inv.root):
            try:
                found = scan_inventory(candidate, edit_types=inv.edit_types)
            except (OSError, ValueError):
                continue
            if found.has_pieces:
                msg += f" Did you mean {candidate}?"
                break
    else:
        msg += " Check the URL (the folder that holds prompts/ and the shards) and --edit-types."
    raise NoDatasetError(msg)


def _edit_types_held(inv: Inventory) -> list[str]:
    """The edit types ``inv`` found any piece of, in card order."""
    held = {*inv.prompts, *inv.metadata, *(et for et, _ in inv.records)}
    held |= {s.edit_type for s in inv.shards.values()} | {et for et, _ in inv.loose}
    return [et for et in inv.edit_types if et in held]


def _candidates(root: str) -> list[str]:
    """Local folders near ``root`` worth suggesting: ``root/Sparkle``, its parents, children."""
    path = os.path.abspath(root)
    out = [os.path.join(path, "Sparkle")]
    parent = path
    for _ in range(2):
        parent = os.path.dirname(parent)
        out.append(parent)
    if os.path.isdir(path):
        try:
            children = sorted(e.path for e in os.scandir(path) if e.is_dir())
        except OSError:
            children = []
        out += [c for c in children if os.path.basename(c) != "Sparkle"][:20]
    return [c for c in dict.fromkeys(out) if os.path.isdir(c) and c != path]
