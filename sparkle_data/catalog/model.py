"""The :class:`Catalog`: one table for a dataset root, and byte access to any artifact."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import IO, TYPE_CHECKING, Literal

from sparkle_data.catalog.duplicates import (
    Duplicate,
    DuplicateRule,
    check_duplicate_rule,
    find_duplicates,
    raise_duplicates,
)
from sparkle_data.catalog.inventory import Inventory, require_pieces, scan_inventory
from sparkle_data.catalog.lines import RecordLine, RecordLines, read_record_line
from sparkle_data.catalog.startup import (
    DEFAULT_INDEX_PATH,
    index_location,
    start_root,
    trusted_indexes,
)
from sparkle_data.catalog.table import build_table
from sparkle_data.errors import MissingArtifactError, RemoteError
from sparkle_data.io import fs as sfs
from sparkle_data.io.index import (
    IndexEntry,
    ShardIndex,
    load_or_build_index,
    open_member,
    read_indexes,
    read_member,
)
from sparkle_data.io.remote import HTTPRangeFileSystem
from sparkle_data.io.retry import RetryPolicy
from sparkle_data.layout import EDIT_TYPES, artifact_spec, member_name, parse_sample_id
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
    duplicates: tuple[Duplicate, ...] = ()
    """Ids held twice for one artifact, kept under ``duplicates="first"``/``"last"``
    (see ``catalog/duplicates.py``)."""
    policy: RetryPolicy | None = field(default=None, repr=False)
    """Retries and timeouts of member reads (``None``: the filesystem's defaults)."""

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
        """The artifact's bytes (one ranged read for a shard member, verified against the
        index's checksum when it has one)."""
        loc = self.locate(sample_id, artifact)
        where = sfs.join(self.base, loc.path)
        try:
            if loc.kind == "file":
                with sfs.open_binary(where, fs=self.fs) as f:
                    return f.read()
            entry = self._entry(loc, sample_id, artifact)
            return read_member(where, entry, fs=self.fs, policy=self.policy)
        except RemoteError as e:
            raise self._in_context(e, loc, sample_id, artifact) from e

    def open(self, sample_id: str, artifact: str) -> IO[bytes]:
        """A seekable binary file over the artifact (bounded to the member for shards)."""
        loc = self.locate(sample_id, artifact)
        where = sfs.join(self.base, loc.path)
        try:
            if loc.kind == "file":
                return sfs.open_binary(where, fs=self.fs)
            entry = self._entry(loc, sample_id, artifact)
            return open_member(where, entry, fs=self.fs, policy=self.policy)
        except RemoteError as e:
            raise self._in_context(e, loc, sample_id, artifact) from e

    def _in_context(
        self, e: RemoteError, loc: ArtifactLocation, sample_id: str, artifact: str
    ) -> RemoteError:
        """``e`` again, naming the sample, the field and the member (its URL kept)."""
        if e.sample_id is not None:
            return e
        member = member_name(sample_id, artifact) if loc.kind == "shard" else loc.path
        url = e.url or sfs.unresolve(self.fs, sfs.join(self.base, loc.path))
        text = str(e)
        cause = text.split(": ", 2)[-1] if text.startswith("Remote read failed") else text
        offset = e.offset if e.offset is not None else 0
        attempts = e.attempts if e.attempts is not None else 1
        return RemoteError(
            RemoteError.describe(
                url, offset, attempts, cause, sample_id=sample_id, field=artifact, member=member
            ),
            url=url,
            offset=offset,
            attempts=attempts,
            field=artifact,
            path=url,
            member=member,
            sample_id=sample_id,
        )

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
        return f"{self.root}/{loc.path}::{member_name(sample_id, artifact)}"

    # ------------------------------------------------------------------ persistence
    def to_parquet(self, path: str | os.PathLike[str]) -> None:
        """Save the table (atomically) for fast reloads and for pandas/polars/duckdb users."""
        from sparkle_data.io.atomic import atomic_write

        with atomic_write(path) as f:
            self.table.to_parquet(f)


def _load_published(
    index_file: str | None, fs: AbstractFileSystem, base: str
) -> dict[str, ShardIndex]:
    if index_file is None:
        default = sfs.join(base, DEFAULT_INDEX_PATH)
        if not sfs.exists(default, fs=fs):
            return {}
        return read_indexes(default, fs=fs)
    location, where = index_location(index_file, base, fs, None)
    return read_indexes(location, fs=where)


def build_catalog(
    root: str | os.PathLike[str],
    *,
    edit_types: Sequence[str] | None = None,
    artifacts: Sequence[str] | None = None,
    files: Sequence[str] | None = None,
    index_file: str | None = None,
    index_shards: bool = True,
    cache: bool = True,
    cache_dir: str | os.PathLike[str] | None = None,
    max_workers: int = 8,
    progress: bool = False,
    on_error: OnError = "error",
    max_skips: int | None = None,
    report: SkipReport | None = None,
    probe_videos: bool = False,
    duplicates: DuplicateRule = "error",
    retry: RetryPolicy | None = None,
    fs: AbstractFileSystem | None = None,
) -> Catalog:
    """Build the catalog of a dataset root (local folder, extracted tree, ``hf://``,
    ``http://`` or ``https://``).

    Any subset of the pieces may be present (only prompts; prompts and some shards; no
    intermediates): what is absent is listed by :meth:`Catalog.missing`, never an error.

    Remote roots start through :mod:`sparkle_data.catalog.startup`: one listing (Hub tree
    API) or parallel probes (HTTP), only the shards of ``artifacts`` (default: all), and a
    disk cache so that a warm start makes O(1) requests (``cache=False`` turns it off).
    ``index_file`` is a published combined index (see ``docs/io.md``; by default
    ``indexes/sparkle.sparkle-index`` of the root when present); shards it describes (same
    name, size and sha256 as listed) are not scanned. Other shards are indexed by header
    reads, cached under the user cache dir. ``index_shards=False`` skips shards entirely
    (prompts and records only). ``files`` lists relative paths for roots that cannot be
    listed (HTTP). ``retry`` (a :class:`~sparkle_data.io.remote.RetryPolicy`) sets the
    retries and timeouts of every member read through the catalog. With ``fs``, ``root`` is
    a path inside that filesystem.
    ``probe_videos`` reads every source/edited video header (one ranged read each) to add
    ``{source,edited}_{num_frames,width,height}`` and ``num_frames`` columns.
    ``on_error="skip"`` (or ``"warn"``) makes a bad CSV row, metadata or record line, or a
    damaged shard, cost only the samples it holds (the row is dropped, the shard's members
    before the damage are kept), counted by reason in :attr:`Catalog.report`; ``max_skips``
    bounds that (one skip more raises), and ``report`` is used instead when given.
    ``duplicates`` says what an id held by two shards of one family does: ``"error"`` raises
    :class:`JoinError`, ``"first"`` / ``"last"`` keep that shard's copy. Every id held twice
    (also a loose file and a member of another size: the loose file is read) is listed in
    :attr:`Catalog.duplicates` (see ``catalog/duplicates.py``).
    """
    rule = check_duplicate_rule(duplicates)
    report = report if report is not None else SkipReport(on_error=on_error, max_skips=max_skips)
    if fs is None:
        fs, base = sfs.resolve(root)
        if retry is not None and isinstance(fs, HTTPRangeFileSystem):
            fs = HTTPRangeFileSystem(retry.retries, retry.backoff, retry.timeout)  # start-up too
    else:
        base = os.fspath(root)
    ets = tuple(edit_types or EDIT_TYPES)
    indexes: dict[str, ShardIndex] = {}
    known: dict[str, sfs.FileInfo] = {}
    if files is None and not sfs.is_local(fs):
        started = start_root(
            fs,
            base,
            edit_types=ets,
            artifacts=artifacts,
            index_file=index_file,
            index_shards=index_shards,
            cache=cache,
            cache_dir=cache_dir,
            max_workers=max_workers,
            progress=progress,
            report=report,
        )
        base, files, indexes = started.base, started.files, dict(started.indexes)
        known = started.known
    inv = scan_inventory(base, edit_types=ets, files=files, fs=fs)
    require_pieces(inv, fs, root)
    if known:
        inv = replace(inv, known=known)
    if artifacts is not None:
        wanted = set(artifacts)
        inv = replace(
            inv,
            shards={r: s for r, s in inv.shards.items() if s.artifact in wanted},
            loose={k: v for k, v in inv.loose.items() if k[1] in wanted},
        )
    if index_shards and inv.shards:
        todo = [rel for rel in inv.shards if rel not in indexes]
        if todo:
            published = _load_published(index_file, fs, base)
            infos = {rel: sfs.info(sfs.join(base, rel), fs=fs) for rel in todo} if published else {}
            trusted, _ = trusted_indexes(published, infos, todo)
            indexes.update(trusted)
            todo = [rel for rel in todo if rel not in trusted]
        indexes.update(_index_many(fs, base, todo, cache, cache_dir, max_workers, progress, report))
    indexes = {rel: indexes[rel] for rel in inv.shards if rel in indexes}
    found = find_duplicates(inv, indexes, fs=fs, base=base)
    if rule == "error":
        raise_duplicates(found, inv.root)
    table = build_table(inv, fs, base, indexes, report, keep="last" if rule == "last" else "first")
    catalog = Catalog(
        inv.root, table, inv, indexes, report, fs, base, duplicates=tuple(found), policy=retry
    )
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
