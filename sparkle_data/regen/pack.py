"""``--pack``: regenerated outputs into tar shards with the card's names, atomically.

With ``pack`` the workers write each validated output under the **staging** folder
``{out}/.regen/staging/intermediate_data/{edit_type}/{artifact}/{id}.ext`` (atomically, as a
loose run writes its final files; the catalog never looks there). :func:`pack_staged` then
moves them into shards named as the card names them::

    {out}/intermediate_data/{edit_type}_{artifact}_partXX.tar
        members {edit_type}/{artifact}/{id}.ext

Shards are **appended**, never rewritten: a run's shards take the part numbers after the
highest one already in ``{out}/intermediate_data`` and, when the output folder is not the
root, in the root (``first_parts``, kept in the pack manifest), so the folder can be merged
into the released tree without a name clash. Members are in id order, a shard closed
before a member would push it past ``shard_bytes``. Every tar header is fixed (mtime, mode,
owner), so the same members give the same bytes whichever runner made them.

**The pack manifest** ``{out}/.regen/pack.json`` records what went into which shard (member,
data offset, size, sha256) and doubles as an intent log, which makes packing resumable after
``kill -9`` at any point:

1. the shard's entry is written with ``"complete": false`` (atomically);
2. the tar is written to a temp sibling, fsynced and renamed to its final name;
3. the entry is marked complete;
4. the staged files are removed.

On the next run, :func:`reconcile` settles what a kill left: an incomplete entry whose shard
exists is verified member by member (names, offsets, sizes, sha256) and marked complete; one
whose shard is absent is dropped, its members still staged, and the same part is written
again (with the same bytes); staged copies of members of complete shards are removed. So a
member is never in two shards, and a staged file counts as done (its shard comes later). One
packer runs at a time per output folder (an ``fcntl`` lock, released by the OS on a kill).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from tqdm import tqdm

from sparkle_data.errors import IntegrityError
from sparkle_data.io.atomic import TEMP_MARK, atomic_write, atomic_write_text
from sparkle_data.io.safetar import (
    BLOCK_SIZE,
    iter_tar_members,
    padded_size,
    tar_file_size,
    tar_header,
    tar_member_size,
)
from sparkle_data.layout import (
    INTERMEDIATE_DIR,
    artifact_relpath,
    edit_type_of,
    member_name,
    parse_artifact_relpath,
    parse_shard_name,
    shard_path,
)
from sparkle_data.regen.paths import REGEN_DIR, regen_lock

__all__ = [
    "DEFAULT_SHARD_BYTES",
    "PACK_FORMAT",
    "PACK_MTIME",
    "PackReport",
    "PackedMember",
    "pack_manifest_path",
    "pack_staged",
    "packed_members",
    "read_pack_manifest",
    "reconcile",
    "record_first_parts",
    "staged_outputs",
    "staged_path",
    "staging_root",
]

PACK_FORMAT: Final = "sparkle-data/regen-pack"
DEFAULT_SHARD_BYTES: Final = 5 * 1024**3
"""The card's shards are ~5 GB."""
PACK_MTIME: Final = 1_735_689_600
"""2025-01-01T00:00:00Z: the mtime of every member (fixed, so equal members give equal bytes)."""


def staging_root(out: str | os.PathLike[str]) -> Path:
    return Path(out) / REGEN_DIR / "staging"


def staged_path(out: str | os.PathLike[str], sample_id: str, artifact: str) -> Path:
    """Where a worker of a ``pack`` run writes an output before it is packed."""
    return staging_root(out) / artifact_relpath(sample_id, artifact)


def pack_manifest_path(out: str | os.PathLike[str]) -> Path:
    return Path(out) / REGEN_DIR / "pack.json"


@dataclass(frozen=True, slots=True)
class PackedMember:
    """One member of a shard written by a pack run."""

    name: str
    """The tar member name, ``{edit_type}/{artifact}/{id}.ext``."""
    shard: str
    """Shard path relative to the output folder (``intermediate_data/..._partXX.tar``)."""
    offset: int
    size: int
    sha256: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "offset": self.offset, "size": self.size,
                "sha256": self.sha256}


@dataclass
class PackReport:
    """What :func:`pack_staged` did."""

    shards: list[str] = field(default_factory=list)
    """Shards written by this call (paths relative to the output folder)."""
    members: int = 0
    bytes: int = 0
    recovered: list[str] = field(default_factory=list)
    """Shards a killed run had finished writing, verified and marked complete."""
    dropped: list[str] = field(default_factory=list)
    """Shards a killed run had announced but not written (their members were repacked)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "shards": list(self.shards),
            "members": self.members,
            "bytes": self.bytes,
            "recovered": list(self.recovered),
            "dropped": list(self.dropped),
        }

    def format(self) -> str:
        text = f"packed {self.members} members into {len(self.shards)} shards"
        if self.recovered or self.dropped:
            text += (f" (resumed: {len(self.recovered)} shards recovered, "
                     f"{len(self.dropped)} rewritten)")
        return text


# --------------------------------------------------------------------------- manifest


def read_pack_manifest(out: str | os.PathLike[str]) -> dict[str, Any]:
    """The pack manifest (an empty one when the folder was never packed)."""
    path = pack_manifest_path(out)
    if not path.is_file():
        return {"format": PACK_FORMAT, "version": 1, "shards": {}}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as e:
        raise IntegrityError.invalid(
            "pack manifest", str(path), rule=f"not JSON ({e})",
            hint="It is written atomically; was it edited by hand?",
        ) from None
    if not isinstance(data, dict) or data.get("format") != PACK_FORMAT:
        raise IntegrityError.invalid(
            "pack manifest", str(path), rule=f"format must be {PACK_FORMAT!r}"
        )
    return data


def _write_manifest(out: str | os.PathLike[str], data: dict[str, Any]) -> None:
    data["shards"] = dict(sorted(data["shards"].items()))
    atomic_write_text(pack_manifest_path(out), json.dumps(data, indent=1, sort_keys=True) + "\n")


def packed_members(out: str | os.PathLike[str]) -> dict[str, PackedMember]:
    """Members of the complete shards of ``out``, by artifact path
    (``intermediate_data/{edit_type}/{artifact}/{id}.ext``)."""
    found: dict[str, PackedMember] = {}
    for shard, entry in read_pack_manifest(out)["shards"].items():
        if not entry.get("complete"):
            continue
        for m in entry["members"]:
            member = PackedMember(str(m["name"]), shard, int(m["offset"]), int(m["size"]),
                                  str(m["sha256"]))
            found[f"{INTERMEDIATE_DIR}/{member.name}"] = member
    return found


def staged_outputs(out: str | os.PathLike[str]) -> list[tuple[str, str, Path]]:
    """``(sample_id, artifact, path)`` of every staged output, sorted (temp files skipped)."""
    base = staging_root(out)
    found = []
    top = base / INTERMEDIATE_DIR
    if not top.is_dir():
        return []
    for p in top.glob("*/*/*"):
        if p.name.startswith(".") or not p.is_file():
            continue  # a worker's temp file: never an output
        rel = p.relative_to(base).as_posix()
        parsed = parse_artifact_relpath(rel)
        found.append((str(parsed.sample_id), parsed.artifact, p))
    return sorted(found, key=lambda t: (t[1], t[0]))


# --------------------------------------------------------------------------- tar


def _header(name: str, size: int) -> bytes:
    return tar_header(name, size, mtime=PACK_MTIME)  # the fixed headers exports write too


def _sha256_file(path: Path) -> tuple[int, str]:
    h = hashlib.sha256()
    n = 0
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
            n += len(chunk)
    return n, h.hexdigest()


def _write_tar(path: Path, members: list[tuple[str, Path, int]]) -> None:
    """Write ``(name, source, size)`` members to ``path`` atomically (fixed headers)."""
    with atomic_write(path, "wb") as f:
        total = 0
        for name, src, size in members:
            f.write(_header(name, size))
            with src.open("rb") as s:
                copied = 0
                for chunk in iter(lambda: s.read(1 << 20), b""):
                    f.write(chunk)
                    copied += len(chunk)
            if copied != size:
                raise IntegrityError.invalid(
                    "staged output size", copied, rule=f"expected {size} bytes",
                    path=str(src), hint="A staged file changed while it was packed.",
                )
            f.write(bytes(padded_size(size) - size))
            total += tar_member_size(size)
        end = tar_file_size(total)
        f.write(bytes(end - total))


def _verify_shard(out: Path, shard: str, members: list[dict[str, Any]]) -> bool:
    """Whether ``shard`` holds exactly ``members`` (names, offsets, sizes, sha256)."""
    path = out / shard
    try:
        with path.open("rb") as f:
            got = [(m.name, m.offset, m.size) for m in iter_tar_members(f, shard=shard)]
            want = [(str(m["name"]), int(m["offset"]), int(m["size"])) for m in members]
            if got != want:
                return False
            for m in members:
                f.seek(int(m["offset"]))
                if hashlib.sha256(f.read(int(m["size"]))).hexdigest() != m["sha256"]:
                    return False
    except (OSError, ValueError):
        return False
    return True


# --------------------------------------------------------------------------- packing


def _locked(out: Path, *, wait: bool = False) -> contextlib.AbstractContextManager[None]:
    busy = None if wait else f"Invalid pack of {out}: another process is packing it"
    return regen_lock(out, "pack.lock", busy=busy)


def _reconcile(out: Path, report: PackReport) -> dict[str, Any]:
    for stale in (out / REGEN_DIR).glob(f".pack.json{TEMP_MARK}*"):  # only packers write it
        stale.unlink(missing_ok=True)
    data = read_pack_manifest(out)
    shards: dict[str, Any] = data["shards"]
    changed = False
    for shard, entry in list(shards.items()):
        if entry.get("complete"):
            continue
        if (out / shard).exists():
            if not _verify_shard(out, shard, entry["members"]):
                raise IntegrityError.invalid(
                    "shard", shard, rule="does not hold the members the pack manifest "
                    "announced for it", path=str(out / shard),
                    hint=f"Move it away and rerun; see {pack_manifest_path(out)}.",
                )
            entry["complete"] = True
            report.recovered.append(shard)
        else:
            del shards[shard]
            report.dropped.append(shard)
        changed = True
    if changed:
        _write_manifest(out, data)
    for entry in shards.values():  # a kill between "complete" and removing the staged copies
        for m in entry["members"]:
            (staging_root(out) / INTERMEDIATE_DIR / str(m["name"])).unlink(missing_ok=True)
    inter = out / INTERMEDIATE_DIR
    if inter.is_dir():  # a killed packer's half-written tar (only packers write these)
        for stale in inter.glob(f".*.tar{TEMP_MARK}*"):
            stale.unlink(missing_ok=True)
    return data


def reconcile(out: str | os.PathLike[str]) -> PackReport:
    """Settle what a killed pack left (see the module docstring); safe to call any time."""
    report = PackReport()
    with _locked(Path(out)):
        _reconcile(Path(out), report)
    return report


def _merge_first_parts(data: dict[str, Any], first_parts: Mapping[str, int] | None) -> bool:
    floor: dict[str, int] = data.setdefault("first_parts", {})
    changed = False
    for key, part in (first_parts or {}).items():
        if part > floor.get(key, 0):
            floor[key] = int(part)
            changed = True
    return changed


def record_first_parts(out: str | os.PathLike[str], first_parts: Mapping[str, int]) -> None:
    """Keep the root's first free part numbers in the pack manifest (for a later
    ``regen pack`` of a multi-rank run)."""
    with _locked(Path(out), wait=True):
        data = read_pack_manifest(out)
        if _merge_first_parts(data, first_parts):
            _write_manifest(out, data)


def _next_part(out: Path, edit_type: str, artifact: str, data: dict[str, Any]) -> int:
    known: dict[str, Any] = data["shards"]
    parts = [int(data.get("first_parts", {}).get(f"{edit_type}_{artifact}", 0)) - 1]
    inter = out / INTERMEDIATE_DIR
    names = [p.name for p in inter.glob(f"{edit_type}_{artifact}_part*.tar")] if inter.is_dir() \
        else []
    names += [s.rsplit("/", 1)[-1] for s in known]
    for n in names:
        try:
            s = parse_shard_name(n)
        except ValueError:
            continue
        if (s.edit_type, s.artifact) == (edit_type, artifact):
            parts.append(s.part)
    return max(parts) + 1


def pack_staged(
    out: str | os.PathLike[str],
    *,
    shard_bytes: int = DEFAULT_SHARD_BYTES,
    progress: bool = False,
    first_parts: Mapping[str, int] | None = None,
) -> PackReport:
    """Pack every staged output of ``out`` into new shards (see the module docstring).

    ``first_parts``: the lowest part number to use per ``{edit_type}_{artifact}`` (the
    root's first free ones when ``out`` is another folder).
    """
    if isinstance(shard_bytes, bool) or not isinstance(shard_bytes, int) or shard_bytes < 1:
        raise ValueError(f"Invalid shard_bytes {shard_bytes!r}: must be an int >= 1.")
    base = Path(out)
    report = PackReport()
    with _locked(base):
        data = _reconcile(base, report)
        if _merge_first_parts(data, first_parts):
            _write_manifest(base, data)
        groups: dict[tuple[str, str], list[tuple[str, Path]]] = {}
        for sid, artifact, path in staged_outputs(base):
            groups.setdefault((edit_type_of(sid), artifact), []).append((sid, path))
        total = sum(len(v) for v in groups.values())
        bar = tqdm(total=total, desc="pack", unit="member", file=sys.stderr,
                   disable=not progress or total == 0)
        try:
            for (et, artifact), staged in sorted(groups.items()):
                part = _next_part(base, et, artifact, data)
                batch: list[tuple[str, Path, int, str]] = []
                used = 0
                for sid, path in staged:
                    size, digest = _sha256_file(path)
                    cost = tar_member_size(size)
                    if batch and tar_file_size(used + cost) > shard_bytes:
                        _pack_one(base, data, shard_path(et, artifact, part), batch, report)
                        bar.update(len(batch))
                        part, batch, used = part + 1, [], 0
                    batch.append((member_name(sid, artifact), path, size, digest))
                    used += cost
                if batch:
                    _pack_one(base, data, shard_path(et, artifact, part), batch, report)
                    bar.update(len(batch))
        finally:
            bar.close()
    return report


def _pack_one(
    out: Path,
    data: dict[str, Any],
    shard: str,
    batch: list[tuple[str, Path, int, str]],
    report: PackReport,
) -> None:
    members = []
    offset = 0
    for name, _path, size, digest in batch:
        members.append({"name": name, "offset": offset + BLOCK_SIZE, "size": size,
                        "sha256": digest})
        offset += tar_member_size(size)
    if (out / shard).exists():  # pragma: no cover - _next_part skips every existing part
        raise FileExistsError(f"Invalid shard {shard}: already exists in {out}.")
    data["shards"][shard] = {"complete": False, "members": members}
    _write_manifest(out, data)  # 1. intent
    _write_tar(out / shard, [(n, p, s) for n, p, s, _ in batch])  # 2. atomic tar
    data["shards"][shard]["complete"] = True
    _write_manifest(out, data)  # 3. done
    for _n, path, _s, _d in batch:  # 4. staged copies go
        path.unlink(missing_ok=True)
    report.shards.append(shard)
    report.members += len(batch)
    report.bytes += tar_file_size(offset)
