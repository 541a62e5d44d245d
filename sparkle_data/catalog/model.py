"""The :class:`Catalog`: one table for a dataset root, and byte access to any artifact."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Literal

from sparkle_data.catalog.inventory import Inventory, scan_inventory
from sparkle_data.catalog.lines import RecordLine, RecordLines, read_record_line
from sparkle_data.catalog.table import build_table
from sparkle_data.errors import MissingArtifactError
from sparkle_data.io import fs as sfs
from sparkle_data.io.index import (
    IndexEntry,
    ShardIndex,
    index_matches,
    load_or_build_index,
    open_member,
    read_indexes,
    read_member,
)
from sparkle_data.layout import ARTIFACTS, EDIT_TYPES, artifact_spec, parse_sample_id
from sparkle_data.policy import OnError, SkipReport

if TYPE_CHECKING:
    import pandas as pd
    from fsspec.spec import AbstractFileSystem

__all__ = ["ArtifactLocation", "Catalog", "build_catalog"]


@dataclass(frozen=True, slots=True)
class ArtifactLocation:
    """Where one artifact's bytes are: a loose file, or a byte range of a shard."""

    kind: Literal["file", "shard"]
    path: str
    """Path relative to the catalog root (the file, or the shard)."""
    offset: int | None = None
    size: int | None = None


@dataclass(frozen=True, eq=False)
class Catalog:
    """One row per sample id under a root; see ``docs/catalog.md`` for the columns."""

    root: str
    table: pd.DataFrame
    inventory: Inventory
    indexes: Mapping[str, ShardIndex]
    """Member index of every shard, by shard path relative to the root."""
    report: SkipReport
    fs: AbstractFileSystem
    base: str
    lines: RecordLines = field(default_factory=RecordLines, repr=False)
    """Line indexes of the record files read by :meth:`read_record_line` (a cache)."""

    def __repr__(self) -> str:
        n = int(self.table["in_corpus"].sum()) if len(self.table) else 0
        return (
            f"Catalog({self.root!r}, {n} corpus samples, {len(self.table)} ids, "
            f"{len(self.indexes)} shards)"
        )

    def __len__(self) -> int:
        return len(self.table)

    # ------------------------------------------------------------------ views
    def corpus(self) -> pd.DataFrame:
        """Rows of samples listed in the prompts CSVs (the released pairs)."""
        rows: pd.DataFrame = self.table[self.table["in_corpus"]]
        return rows

    def rejected(self) -> pd.DataFrame:
        """Ids found only in record files: samples rejected at a pipeline stage."""
        rows: pd.DataFrame = self.table[self.table["status"] == "rejected"]
        return rows

    def missing(self) -> list[str]:
        """Pieces the layout expects for the scanned edit types but absent under the root."""
        return self.inventory.missing()

    # ------------------------------------------------------------------ bytes
    def locate(self, sample_id: str, artifact: str) -> ArtifactLocation:
        """Where ``artifact`` of ``sample_id`` is; loose files are preferred to shards."""
        spec = artifact_spec(artifact)
        parse_sample_id(sample_id)
        if sample_id not in self.table.index:
            raise MissingArtifactError.invalid(
                "sample id", sample_id, rule="not in this catalog", path=self.root
            )
        row = self.table.loc[sample_id]
        file = row.get(f"{spec.name}_file")
        if isinstance(file, str):
            return ArtifactLocation("file", file)
        shard = row.get(f"{spec.name}_shard")
        if isinstance(shard, str):
            return ArtifactLocation(
                "shard", shard, int(row[f"{spec.name}_offset"]), int(row[f"{spec.name}_size"])
            )
        raise MissingArtifactError.invalid(
            "artifact",
            spec.name,
            rule="no loose file and no shard member holds it",
            path=self.root,
            sample_id=sample_id,
            hint="Download its shard (see `sparkle-data info`) or regenerate it.",
        )

    def _entry(self, loc: ArtifactLocation, sample_id: str, artifact: str) -> IndexEntry:
        entry = self.indexes[loc.path].get(sample_id)
        if entry is None or entry.offset != loc.offset:
            raise MissingArtifactError.invalid(
                "artifact",
                artifact,
                rule="index and table disagree",
                path=loc.path,
                sample_id=sample_id,
            )
        return entry

    def read_bytes(self, sample_id: str, artifact: str) -> bytes:
        """The artifact's bytes (one ranged read for a shard member)."""
        loc = self.locate(sample_id, artifact)
        where = sfs.join(self.base, loc.path)
        if loc.kind == "file":
            with sfs.open_binary(where, fs=self.fs) as f:
                return f.read()
        return read_member(where, self._entry(loc, sample_id, artifact), fs=self.fs)

    def open(self, sample_id: str, artifact: str) -> IO[bytes]:
        """A seekable binary file over the artifact (bounded to the member for shards)."""
        loc = self.locate(sample_id, artifact)
        where = sfs.join(self.base, loc.path)
        if loc.kind == "file":
            return sfs.open_binary(where, fs=self.fs)
        return open_member(where, self._entry(loc, sample_id, artifact), fs=self.fs)

    def read_record_line(self, sample_id: str, record: str) -> RecordLine:
        """The sample's line of a record file (e.g. ``"foreground_grounding_r2"``): one
        ranged read, through a line index built once per file (see ``catalog/lines.py``)."""
        return read_record_line(
            self.lines,
            self.inventory.records,
            sample_id,
            record,
            fs=self.fs,
            base=self.base,
            root=self.root,
        )

    def index_record_lines(self, record: str, edit_types: Sequence[str]) -> None:
        """Build the line index of ``record`` for ``edit_types`` now, e.g. before DataLoader
        workers start (they inherit it instead of each reading the whole file)."""
        wanted = set(edit_types)
        records = self.inventory.records.items()
        rels = [p for (et, rec), p in records if rec == record and et in wanted]
        self.lines.prepare(rels, fs=self.fs, base=self.base, root=self.root)

    def name_of(self, sample_id: str, artifact: str) -> str:
        """A display name for error messages: ``root/path`` or ``root/shard::member``."""
        loc = self.locate(sample_id, artifact)
        if loc.kind == "file":
            return f"{self.root}/{loc.path}"
        member = f"{sample_id.split('_')[1]}/{artifact}/{sample_id}.{ARTIFACTS[artifact].extension}"  # type: ignore[index]
        return f"{self.root}/{loc.path}::{member}"

    # ------------------------------------------------------------------ persistence
    def to_parquet(self, path: str | os.PathLike[str]) -> None:
        """Save the table (atomically) for fast reloads and for pandas/polars/duckdb users."""
        from sparkle_data.io.atomic import atomic_write

        with atomic_write(path) as f:
            self.table.to_parquet(f)


def _load_published(location: str | None) -> dict[str, ShardIndex]:
    if location is None:
        return {}
    return read_indexes(location)


def build_catalog(
    root: str | os.PathLike[str],
    *,
    edit_types: Sequence[str] | None = None,
    files: Sequence[str] | None = None,
    index_file: str | None = None,
    index_shards: bool = True,
    cache: bool = True,
    cache_dir: str | os.PathLike[str] | None = None,
    max_workers: int = 8,
    progress: bool = False,
    on_error: OnError = "error",
    report: SkipReport | None = None,
    probe_videos: bool = False,
) -> Catalog:
    """Build the catalog of a dataset root (local folder, extracted tree, ``hf://``, ``https://``).

    Any subset of the pieces may be present (only prompts; prompts and some shards; no
    intermediates): what is absent is listed by :meth:`Catalog.missing`, never an error.

    ``index_file`` is a published combined index (see ``docs/io.md``); shards it describes
    (same name and size) are not scanned. Other shards are indexed by header reads, cached
    under the user cache dir. ``index_shards=False`` skips shards entirely (prompts and
    records only). ``files`` lists relative paths for roots that cannot be listed (HTTP).
    ``probe_videos`` reads every source/edited video header (one ranged read each) to add
    ``{source,edited}_{num_frames,width,height}`` and ``num_frames`` columns.
    """
    report = report if report is not None else SkipReport(on_error=on_error)
    fs, base = sfs.resolve(root)
    inv = scan_inventory(base, edit_types=edit_types or EDIT_TYPES, files=files, fs=fs)
    published = _load_published(index_file)
    indexes: dict[str, ShardIndex] = {}
    if index_shards and inv.shards:
        todo: list[str] = []
        for rel, shard in inv.shards.items():
            pub = published.get(str(shard))
            if pub is not None and index_matches(
                pub, sfs.info(sfs.join(base, rel), fs=fs), shard=str(shard), use_etag=False
            ):
                indexes[rel] = pub
            else:
                todo.append(rel)
        indexes.update(_index_many(fs, base, todo, cache, cache_dir, max_workers, progress, report))
    table = build_table(inv, fs, base, indexes, report)
    catalog = Catalog(inv.root, table, inv, indexes, report, fs, base)
    if probe_videos:
        from sparkle_data.catalog.probe import probe_catalog_videos

        workers = 1 if sfs.is_local(fs) else max_workers
        catalog = probe_catalog_videos(
            catalog, max_workers=workers, progress=progress, report=report
        )
    return catalog


def _index_many(
    fs: AbstractFileSystem,
    base: str,
    rels: list[str],
    cache: bool,
    cache_dir: str | os.PathLike[str] | None,
    max_workers: int,
    progress: bool,
    report: SkipReport,
) -> dict[str, ShardIndex]:
    from concurrent.futures import ThreadPoolExecutor

    from tqdm.auto import tqdm

    def one(rel: str) -> ShardIndex:
        return load_or_build_index(
            sfs.join(base, rel), fs=fs, cache=cache, cache_dir=cache_dir, report=report
        )

    workers = 1 if sfs.is_local(fs) else max(1, max_workers)
    out: dict[str, ShardIndex] = {}
    with (
        ThreadPoolExecutor(max_workers=workers) as pool,
        tqdm(total=len(rels), disable=not progress, unit="shard", desc="index") as bar,
    ):
        for rel, ix in zip(rels, pool.map(one, rels), strict=True):
            out[rel] = ix
            bar.update(1)
    return out
