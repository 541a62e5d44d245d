"""A root's files found at the card's fixed names, for roots that cannot be listed (HTTP).

A plain HTTP(S) server has no directory listing, so its files are asked for by name: one
``HEAD`` each, in parallel (at most :data:`PROBE_CONCURRENCY` at once). The names are the
prompts, metadata and record files of each edit type, and the shards of each (edit type,
artifact) family, ``part00``, ``part01``, ... up to the first missing part (four parts of a
family at a time, several families at once). Loose artifact files have unpredictable ids and
are not probed. Every start-up path (``build_catalog``, ``hf.load_dataset``,
``scan_inventory``, ``hf.fetch_indexes``) probes through here.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Final

from sparkle_data.io import fs as sfs
from sparkle_data.layout import (
    RECORD_FILES,
    prompts_csv_path,
    prompts_metadata_path,
    record_path,
    shard_path,
)

if TYPE_CHECKING:
    from fsspec.spec import AbstractFileSystem

__all__ = [
    "MAX_PROBED_PARTS",
    "PROBE_CONCURRENCY",
    "probe_files",
    "probe_root",
    "probe_shards",
    "small_files",
]

PROBE_CONCURRENCY: Final = 16
"""Parallel ``HEAD`` probes of an HTTP root (bounded)."""
MAX_PROBED_PARTS: Final = 1000
"""Shard parts of one family asked for at most."""
_PARTS_AT_ONCE: Final = 4


def small_files(edit_types: Sequence[str]) -> list[str]:
    """The prompts, metadata and record files the card names for ``edit_types``."""
    out = [prompts_csv_path(et) for et in edit_types]
    out += [prompts_metadata_path(et) for et in edit_types]
    out += [record_path(et, r) for et in edit_types for r in RECORD_FILES]
    return out


def _info_or_none(fs: AbstractFileSystem, base: str, rel: str) -> sfs.FileInfo | None:
    try:
        return sfs.info(sfs.join(base, rel), fs=fs)
    except FileNotFoundError:
        return None


def probe_files(fs: AbstractFileSystem, base: str, rels: Sequence[str]) -> dict[str, sfs.FileInfo]:
    """``HEAD`` each of ``rels`` in parallel; the ones that exist, with their info."""
    with ThreadPoolExecutor(max_workers=PROBE_CONCURRENCY) as pool:
        found = list(pool.map(lambda rel: _info_or_none(fs, base, rel), rels))
    return {rel: i for rel, i in zip(rels, found, strict=True) if i is not None}


def probe_shards(
    fs: AbstractFileSystem, base: str, families: Sequence[tuple[str, str]]
) -> dict[str, sfs.FileInfo]:
    """The shards of each ``(edit type, artifact)`` family, ``part00`` up to the first
    missing part, with their info."""

    def family(fam: tuple[str, str]) -> dict[str, sfs.FileInfo]:
        out: dict[str, sfs.FileInfo] = {}
        for start in range(0, MAX_PROBED_PARTS, _PARTS_AT_ONCE):
            rels = [shard_path(fam[0], fam[1], p) for p in range(start, start + _PARTS_AT_ONCE)]
            with ThreadPoolExecutor(max_workers=_PARTS_AT_ONCE) as pool:
                infos = list(pool.map(lambda r: _info_or_none(fs, base, r), rels))
            for rel, i in zip(rels, infos, strict=True):
                if i is None:
                    return out
                out[rel] = i
        return out

    merged: dict[str, sfs.FileInfo] = {}
    with ThreadPoolExecutor(max_workers=max(1, PROBE_CONCURRENCY // _PARTS_AT_ONCE)) as pool:
        for found in pool.map(family, families):
            merged.update(found)
    return merged


def probe_root(
    fs: AbstractFileSystem, base: str, edit_types: Sequence[str], artifacts: Sequence[str]
) -> dict[str, sfs.FileInfo]:
    """Every file the card names for ``edit_types`` (and the shards of ``artifacts``) that
    exists under ``base``, by relative path."""
    found = probe_files(fs, base, small_files(edit_types))
    found.update(probe_shards(fs, base, [(et, a) for et in edit_types for a in artifacts]))
    return found
