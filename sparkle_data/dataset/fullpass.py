"""``SparkleFullPass``: an epoch over whole themes read shard by shard, without an index.

A training pass over whole themes needs every member's bytes anyway. Without a published
index, :class:`SparkleFullPass` reads the shards **sequentially** in large ranged reads
(:class:`~sparkle_data.dataset.stream.BlockStream`; no per-member round trips, no header
hops), through the safe tar scanner, and pairs the families (``source_video``,
``edited_video``, any intermediate) **by sample id** while they stream (shards of each family
are cut independently):

* **work units** are the shards of the first requested family of each theme (the
  *reference*); a unit's id range runs from its first id to the next reference shard's first
  id. The first id of every shard is read up front (one small ranged read per shard, in
  parallel), so each unit knows which shards of the other families overlap its range: those
  are read from their start until the range ends (members before the range are read and
  dropped: :attr:`stats` ``bytes_read`` vs ``bytes_needed``);
* units are split over ``torch.distributed`` ranks and DataLoader workers in contiguous
  blocks (slot ``k`` of ``n`` gets units ``[U*k/n, U*(k+1)/n)``), and the consecutive units
  of a theme in a block run as one (so a shard of another family that straddles two units
  is read once; only a block's edges read a shard partly). ``shuffle`` permutes the order
  of a slot's runs per ``(seed, epoch)``;
* members are paired in a join buffer of at most ``join_buffer`` incomplete samples. When the
  families are not in a compatible id order the bound is hit: a :class:`FullPassWarning`
  says so, and the unit **falls back to indexing** (its shards are indexed, cached, and the
  remaining samples are read member by member);
* every shard read to its end leaves its member index in the index cache (the same file
  :func:`~sparkle_data.io.index.load_or_build_index` reads), so the next epoch can use
  ``SparkleDataset(root)`` (or :meth:`SparkleFullPass.indexed`): shuffling at sample
  granularity and exact resume, with no index to build.

Decoding is the same as :class:`~sparkle_data.dataset.SparkleDataset`'s (one plan per
sample); samples come out in shard (id) order within a unit. There is no resume state: a
full pass is one epoch; use the indexed dataset afterwards.
"""

from __future__ import annotations

import io
import os
import random
import warnings
from collections.abc import Generator, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

import torch.distributed as dist
from torch.utils.data import IterableDataset, get_worker_info

from sparkle_data.catalog.model import Catalog, build_catalog
from sparkle_data.dataset.args import SampleArgs, SampleKeywords
from sparkle_data.dataset.core import SparkleDataset
from sparkle_data.dataset.stream import (
    JoinBuffer,
    ShardRead,
    merge_by_id,
    stream_members,
)
from sparkle_data.errors import FullPassWarning, MissingArtifactError, SparkleError
from sparkle_data.io import fs as sfs
from sparkle_data.io.index import (
    index_cache_path,
    load_or_build_index,
    read_member,
    write_index,
)
from sparkle_data.io.rangefile import RangeFile
from sparkle_data.io.safetar import iter_tar_members
from sparkle_data.io.source import FileObjectSource, read_range
from sparkle_data.layout import ARTIFACTS, member_name, parse_member_name, parse_sample_id

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["FullPassStats", "FullPassWarning", "SparkleFullPass"]

_FIRST_HEADER_BYTES = 16 << 10


class _OutOfOrderError(Exception):
    """A shard's members are not in ascending id order (streaming pairing cannot work)."""


@dataclass
class FullPassStats:
    """Counters of one worker's full pass (``bytes_needed``: member bytes of the samples
    yielded; ``bytes_read``: everything fetched, tar headers and dropped members included)."""

    bytes_read: int = 0
    bytes_needed: int = 0
    shards_read: int = 0
    indexes_cached: int = 0
    samples: int = 0
    fallbacks: int = 0


@dataclass(frozen=True)
class _Unit:
    edit_type: str
    references: tuple[str, ...]
    """Reference shards (relative paths; consecutive parts)."""
    low: str
    high: str | None
    """Sample ids ``low <= id < high`` (``None``: to the end)."""
    others: dict[str, tuple[str, ...]]
    """Other family -> its shards overlapping the range, in part order."""


class _MemberFiles:
    """The sample files of one sample whose members are in memory (a ``SampleFiles``)."""

    def __init__(self, catalog: Catalog, members: dict[str, tuple[bytes, str]]) -> None:
        self.catalog = catalog
        self.members = members

    def open(self, sample_id: str, artifact: str) -> IO[bytes]:
        found = self.members.get(artifact)
        if found is None:
            return self.catalog.open(sample_id, artifact)
        data, name = found
        memory = FileObjectSource(io.BytesIO(data), name=name, owns=True)
        return RangeFile.over(memory, length=len(data), name=name)  # type: ignore[return-value]

    def name_of(self, sample_id: str, artifact: str) -> str:
        found = self.members.get(artifact)
        return found[1] if found is not None else self.catalog.name_of(sample_id, artifact)

    def read_record_line(self, sample_id: str, record: str) -> tuple[bytes, str]:
        return self.catalog.read_record_line(sample_id, record)


class _Unseekable(io.BytesIO):
    def seekable(self) -> bool:
        return False


def _slot() -> tuple[int, int]:
    """(slot, slots) of this process: rank x DataLoader worker."""
    if dist.is_available() and dist.is_initialized():
        rank, world = dist.get_rank(), dist.get_world_size()
    else:
        rank, world = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    info = get_worker_info()
    worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
    return rank * workers + worker, world * workers


class SparkleFullPass(IterableDataset[dict[str, Any]]):
    """One pass over whole themes read shard by shard, without an index (module docstring).

    Same selection, decoding and error keywords as
    :class:`~sparkle_data.dataset.SparkleDataset`
    (:class:`~sparkle_data.dataset.args.SampleKeywords`; ``where``/``ids`` filter which
    samples are yielded; their shards are still read whole).
    ``join_buffer`` bounds the incomplete samples held while pairing; ``block_size`` is the
    size of each sequential ranged read. After the pass, :attr:`stats` (per process) and
    :meth:`indexed` (a ``SparkleDataset`` over the indexes the pass cached).
    """

    def __init__(
        self,
        source: str | os.PathLike[str] | Catalog,
        *,
        shuffle: bool = False,
        seed: int = 0,
        join_buffer: int = 64,
        block_size: int = 4 << 20,
        cache: bool = True,
        cache_dir: str | os.PathLike[str] | None = None,
        max_workers: int = 8,
        **sample: Unpack[SampleKeywords],
    ) -> None:
        if join_buffer < 1:
            raise ValueError(f"Invalid join_buffer {join_buffer!r}: must be >= 1.")
        args = SampleArgs.of("SparkleFullPass", sample)
        self.fields = args.checked_fields
        self.report = args.skip_report()
        self.artifacts = tuple(f for f in self.fields if f in ARTIFACTS)
        if not self.artifacts:
            raise ValueError(
                f"Invalid fields {list(args.fields)!r}: a full pass reads shards, request at "
                "least one per-sample file field (e.g. 'source_video')."
            )
        self.catalog = (
            source
            if isinstance(source, Catalog)
            else build_catalog(
                source,
                edit_types=args.edit_types,
                artifacts=self.artifacts,
                index_shards=False,
                cache=cache,
                cache_dir=cache_dir,
                report=self.report,
            )
        )
        self.ids = args.select(self.catalog, stacklevel=2)
        self._wanted = frozenset(self.ids)
        self.loader = args.loader(self.catalog, self.ids)
        self.options = self.loader.options
        self.shuffle = shuffle
        self.seed = int(seed)
        self.epoch = 0
        self.join_buffer = join_buffer
        self.block_size = block_size
        self.cache = cache
        self.cache_dir = cache_dir
        self.edit_types = args.edit_types
        self.stats = FullPassStats()
        themes = sorted({parse_sample_id(s).edit_type for s in self.ids})
        self._infos = self._shard_infos(themes, max_workers)
        self.units = self._plan(themes, max_workers)

    # ------------------------------------------------------------------ planning
    def _families(self, edit_type: str) -> dict[str, list[str]]:
        inv = self.catalog.inventory
        return {a: inv.shards_of(edit_type, a) for a in self.artifacts}

    def _shard_infos(self, themes: Sequence[str], max_workers: int) -> dict[str, sfs.FileInfo]:
        rels = [r for et in themes for fam in self._families(et).values() for r in fam]
        fs, base = self.catalog.fs, self.catalog.base

        def one(rel: str) -> sfs.FileInfo:
            return sfs.info(sfs.join(base, rel), fs=fs)

        workers = 1 if sfs.is_local(fs) else max(1, max_workers)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            return dict(zip(rels, pool.map(one, rels), strict=True))

    def _first_id(self, rel: str) -> str | None:
        """The first member's sample id (one small ranged read)."""
        size = self._infos[rel].size
        head = read_range(
            sfs.join(self.catalog.base, rel),
            0,
            min(size, _FIRST_HEADER_BYTES),
            fs=self.catalog.fs,
        )
        shard = rel.rsplit("/", 1)[-1]
        try:
            # Not seekable: the scanner yields the first member without checking that its
            # data (not fetched) is in the probe.
            for member in iter_tar_members(_Unseekable(head), name=rel, shard=shard):
                return str(parse_member_name(member.name).sample_id)
        except SparkleError:
            pass  # a first member larger than the probe: the header was read, see below
        return None

    def _plan(self, themes: Sequence[str], max_workers: int) -> list[_Unit]:
        rels = [r for et in themes for fam in self._families(et).values() for r in fam]
        workers = 1 if sfs.is_local(self.catalog.fs) else max(1, max_workers)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            firsts = dict(zip(rels, pool.map(self._first_id, rels), strict=True))
        units: list[_Unit] = []
        for et in themes:
            families = self._families(et)
            ref_family = self.artifacts[0]
            refs = [r for r in families[ref_family] if firsts[r] is not None]
            for i, ref in enumerate(refs):
                low = str(firsts[ref]) if i else ""
                high = str(firsts[refs[i + 1]]) if i + 1 < len(refs) else None
                others: dict[str, tuple[str, ...]] = {}
                for fam, shards in families.items():
                    if fam == ref_family:
                        continue
                    starts = [(r, firsts[r]) for r in shards if firsts[r] is not None]
                    picked = []
                    for j, (r, first) in enumerate(starts):
                        nxt = starts[j + 1][1] if j + 1 < len(starts) else None
                        if (high is None or str(first) < high) and (nxt is None or str(nxt) > low):
                            picked.append(r)
                    others[fam] = tuple(picked)
                units.append(_Unit(et, (ref,), low, high, others))
        return units

    # ------------------------------------------------------------------ epoch
    def set_epoch(self, epoch: int) -> None:
        """Select the epoch (the unit order when ``shuffle``)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        """Samples of the pass, all ranks together (a rank's share is known only once its
        shards are read)."""
        return len(self.ids)

    def _my_units(self) -> list[_Unit]:
        """This slot's contiguous block of units, consecutive units of a theme merged into
        one run (so a shard of another family that straddles two of them is read once)."""
        slot, slots = _slot()
        n = len(self.units)
        block = self.units[n * slot // slots : n * (slot + 1) // slots]
        runs: list[_Unit] = []
        for unit in block:
            last = runs[-1] if runs else None
            if last is None or last.edit_type != unit.edit_type:
                runs.append(unit)
                continue
            others = {
                fam: tuple(dict.fromkeys((*last.others[fam], *shards)))
                for fam, shards in unit.others.items()
            }
            runs[-1] = _Unit(
                unit.edit_type, last.references + unit.references, last.low, unit.high, others
            )
        if self.shuffle:
            random.Random(f"{self.seed}:{self.epoch}").shuffle(runs)  # noqa: S311 (an order)
        return runs

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for unit in self._my_units():
            yield from self._run(unit)

    def _stream(
        self, rel: str, low: str, high: str | None
    ) -> Generator[tuple[str, bytes], None, None]:
        read = ShardRead(rel)
        gen = stream_members(
            sfs.join(self.catalog.base, rel),
            rel,
            self._infos[rel],
            fs=self.catalog.fs,
            read=read,
            report=self.report,
            block=self.block_size,
        )
        previous = ""
        try:
            for sample_id, data in gen:
                if sample_id < previous:
                    raise _OutOfOrderError(f"{rel}: {sample_id} after {previous}")
                previous = sample_id
                if high is not None and sample_id >= high:
                    break
                if sample_id >= low:
                    yield sample_id, data
        finally:
            gen.close()
            self.stats.bytes_read += read.bytes_read
            self.stats.shards_read += 1
            if read.index is not None:
                self._cache_index(rel, read)

    def _cache_index(self, rel: str, read: ShardRead) -> None:
        if not self.cache or read.index is None:
            return
        where = sfs.unresolve(self.catalog.fs, sfs.join(self.catalog.base, rel))
        path = index_cache_path(
            where, read.index.shard, read.index.shard_size, cache_dir=self.cache_dir
        )
        if os.path.exists(path):
            return
        try:
            write_index(path, read.index)
        except OSError as e:
            warnings.warn(f"Could not cache the index of {where}: {e}", FullPassWarning, 2)
            return
        self.stats.indexes_cached += 1

    def _chain(
        self, shards: Sequence[str], low: str, high: str | None
    ) -> Generator[tuple[str, bytes], None, None]:
        for rel in shards:
            yield from self._stream(rel, low, high)

    def _run(self, unit: _Unit) -> Iterator[dict[str, Any]]:
        families = [self.artifacts[0], *unit.others]
        streams: dict[str, Generator[tuple[str, bytes], None, None]] = {
            self.artifacts[0]: self._chain(unit.references, unit.low, unit.high)
        }
        for fam, shards in unit.others.items():
            streams[fam] = self._chain(shards, unit.low, unit.high)
        buffer = JoinBuffer(families, self.join_buffer)
        names: dict[tuple[str, str], str] = {}
        done: set[str] = set()
        merged = merge_by_id(streams, lambda s: s in self._wanted)
        why = ""
        try:
            for fam, sample_id, data in merged:
                names[(sample_id, fam)] = f"{self.catalog.root}/{member_name(sample_id, fam)}"
                complete = buffer.add(sample_id, fam, data)
                if complete is not None:
                    done.add(sample_id)
                    yield from self._emit(sample_id, complete, names)
                elif buffer.overflowing:
                    why = (
                        f"more than join_buffer={self.join_buffer} samples wait for a member "
                        "of another family"
                    )
                    break
        except _OutOfOrderError as e:
            why = f"members are not in ascending id order ({e})"
        finally:
            merged.close()
            for stream in streams.values():
                stream.close()
        if not why and not buffer.pending:
            return
        if not why:
            why = (
                f"{len(buffer.pending)} samples lack a member of another family after "
                "streaming the overlapping shards"
            )
        warnings.warn(
            f"Full pass over {', '.join(unit.references)}: {why}; the families "
            f"{list(families)} are not in a compatible id order. Falling back to indexing "
            "their shards (cached).",
            FullPassWarning,
            stacklevel=2,
        )
        self.stats.fallbacks += 1
        yield from self._fallback(unit, families, done)

    def _emit(
        self,
        sample_id: str,
        members: dict[str, bytes],
        names: dict[tuple[str, str], str],
    ) -> Iterator[dict[str, Any]]:
        self.stats.bytes_needed += sum(len(d) for d in members.values())
        files = _MemberFiles(
            self.catalog, {f: (d, names[(sample_id, f)]) for f, d in members.items()}
        )
        try:
            sample = self.loader.load(sample_id, epoch=self.epoch, files=files)
        except SparkleError as e:
            if e.sample_id is None:
                e.sample_id = sample_id
            self.report.handle(e)
            return
        self.stats.samples += 1
        yield sample

    def _missing(self, sample_id: str, got: dict[str, bytes], families: Sequence[str]) -> None:
        lacking = [f for f in families if f not in got]
        self.report.handle(
            MissingArtifactError.invalid(
                "artifact",
                lacking[0],
                rule="no shard of its family holds this sample (full pass)",
                path=self.catalog.root,
                sample_id=sample_id,
            )
        )

    def _fallback(
        self, unit: _Unit, families: Sequence[str], done: set[str]
    ) -> Iterator[dict[str, Any]]:
        """Index the theme's shards (cached) and read the unit's remaining samples."""
        fs, base = self.catalog.fs, self.catalog.base
        indexes = {
            fam: [
                (rel, load_or_build_index(
                    sfs.join(base, rel), fs=fs, cache=self.cache, cache_dir=self.cache_dir,
                    file_info=self._infos[rel],
                ))
                for rel in shards
            ]
            for fam, shards in self._families(unit.edit_type).items()
        }
        refs = dict(indexes[families[0]])
        ids = sorted(
            sid
            for ref in unit.references
            for e in refs[ref].entries
            if (sid := str(parse_member_name(e.name).sample_id))
            in self._wanted
            and sid not in done
        )
        for sample_id in ids:
            members: dict[str, bytes] = {}
            names: dict[tuple[str, str], str] = {}
            for fam in families:
                for rel, index in indexes[fam]:
                    entry = index.get(sample_id)
                    if entry is not None:
                        data = read_member(sfs.join(base, rel), entry, fs=fs)
                        self.stats.bytes_read += len(data)
                        members[fam] = data
                        names[(sample_id, fam)] = f"{self.catalog.root}/{rel}::{entry.name}"
                        break
            if len(members) < len(families):
                self._missing(sample_id, members, families)
                continue
            yield from self._emit(sample_id, members, names)

    # ------------------------------------------------------------------ next epochs
    def indexed(self, **kwargs: Any) -> SparkleDataset:
        """A :class:`~sparkle_data.dataset.SparkleDataset` over the same root and samples,
        built from the indexes this pass cached (shuffle, exact resume; no shard is scanned
        again). ``kwargs`` are its arguments (``fields``, ``ids``, ``frames``, ``resize``,
        ``output`` default to this pass's)."""
        kwargs.setdefault("fields", self.fields)
        kwargs.setdefault("ids", self.ids)
        kwargs.setdefault("frames", self.options.frames)
        kwargs.setdefault("resize", self.options.resize)
        kwargs.setdefault("output", self.options.output)
        catalog = build_catalog(
            self.catalog.base,
            fs=self.catalog.fs,
            edit_types=self.edit_types,
            artifacts=self.artifacts,
            cache=self.cache,
            cache_dir=self.cache_dir,
            report=self.report,
        )
        return SparkleDataset(catalog, **kwargs)
