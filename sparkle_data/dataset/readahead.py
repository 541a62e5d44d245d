"""Read-ahead of the next samples' members inside each DataLoader worker (remote roots).

At tens of milliseconds of latency a sample costs one round trip per member before it can be
decoded. A worker knows which samples it reads next (its slice of the epoch order), so
:class:`ReadAheadFiles` fetches the shard members of the next :attr:`ReadAhead.samples`
samples in a small thread pool while the current one decodes:

* **coalesced**: the wanted members of one shard that lie close together (at most
  :attr:`ReadAhead.max_gap` bytes apart, at most :attr:`ReadAhead.max_request` bytes in
  all) are fetched by **one** ranged read, cut into members afterwards. Tiny members cost
  a fraction of a request each instead of a round trip each (consecutive ids of a family
  sit next to each other in its shards; the gaps are other workers' members, read and
  dropped). Large members are read one request each, as before;
* **batched**: the window is refilled when half of it has been used, so that one refill
  covers many samples and coalesces well;
* **bounded**: bytes fetched or in flight (gaps included) never exceed
  :attr:`ReadAhead.max_bytes` (sizes come from the index before any byte is read); a
  sample whose members do not fit even alone is read when it is needed, as without
  read-ahead;
* **same bytes, same errors**: a member read alone is read by :meth:`Catalog.read_bytes`
  (verified against the index's checksum when it has one), and a failed read raises when
  the sample asks for that member, exactly where it would have raised without read-ahead.
  A member cut from a coalesced read is checked against the checksum too; when that read
  failed or the bytes do not match, the member is read again alone by
  :meth:`Catalog.read_bytes` (retried, verified, its errors naming the sample);
* **off for local roots** (``read_ahead=None`` picks: on for remote roots, off for local
  ones, where a ``pread`` is cheaper than a thread hop).

Members of samples that were skipped are dropped when the worker moves past them.
"""

from __future__ import annotations

import io
import threading
import zlib
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import IO, Final

from fsspec.spec import AbstractFileSystem

from sparkle_data.catalog.model import Catalog
from sparkle_data.io import fs as sfs
from sparkle_data.io.source import policy_overrides, read_range
from sparkle_data.layout import ARTIFACTS

__all__ = ["DEFAULT_READ_AHEAD", "ReadAhead", "ReadAheadFiles", "open_read_ahead"]


@dataclass(frozen=True)
class ReadAhead:
    """How far a worker reads ahead: samples, bytes held at most, fetching threads, and how
    members of one shard are coalesced into one request."""

    samples: int = 32
    """Upcoming samples whose members are fetched ahead (refilled when half is used)."""
    max_bytes: int = 256 << 20
    """Bytes of members (and gaps between coalesced ones) fetched or in flight at most
    (per worker)."""
    threads: int = 8
    """Concurrent ranged reads (per worker)."""
    max_gap: int = 128 << 10
    """Bytes between two wanted members of a shard read (and dropped) to fetch both in one
    request."""
    max_request: int = 8 << 20
    """Bytes of one coalesced request at most (a larger member is read alone)."""

    def __post_init__(self) -> None:
        for name in ("samples", "max_bytes", "threads", "max_gap", "max_request"):
            value = getattr(self, name)
            low = 0 if name == "max_gap" else 1
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ValueError(
                    f"Invalid read_ahead {name} {value!r}: must be an integer >= {low}. "
                    "Pass read_ahead=False to turn read-ahead off."
                )


DEFAULT_READ_AHEAD: Final = ReadAhead()


def read_ahead_for(catalog: Catalog, value: ReadAhead | bool | None) -> ReadAhead | None:
    """The read-ahead to use: ``None`` (auto) is :data:`DEFAULT_READ_AHEAD` for a remote
    root and off for a local one; ``True`` forces the default, ``False`` turns it off."""
    if isinstance(value, ReadAhead):
        return value
    if value is None:
        return None if _is_local(catalog.fs) else DEFAULT_READ_AHEAD
    if value is True:
        return DEFAULT_READ_AHEAD
    if value is False:
        return None
    raise ValueError(
        f"Invalid read_ahead {value!r}: must be None (auto), True, False or a ReadAhead."
    )


def _is_local(fs: AbstractFileSystem) -> bool:
    protocol = fs.protocol
    protocols = (protocol,) if isinstance(protocol, str) else tuple(protocol)
    return "file" in protocols or "local" in protocols


@dataclass(frozen=True)
class _Want:
    """One member to fetch ahead: where it is in its shard, and its checksum."""

    key: tuple[str, str]
    position: int
    shard: str
    offset: int
    size: int
    crc32: int | None


@dataclass
class _Span:
    """One ranged read of a shard, covering one or more wanted members."""

    start: int
    length: int
    left: int
    """Members not yet taken or dropped; the span's bytes are released at 0."""
    alone: bool = False
    """One member, read by :meth:`Catalog.read_bytes` (verified, errors in context)."""
    future: Future[bytes] = field(default_factory=Future)


@dataclass
class _Pending:
    want: _Want
    span: _Span


def _spans(wants: Sequence[_Want], config: ReadAhead) -> list[tuple[int, int, list[_Want]]]:
    """``(start, end, members)`` runs of the wanted members of each shard: members at most
    ``max_gap`` apart, at most ``max_request`` bytes per run; ordered by the first sample
    each run serves (so the next sample's bytes come first)."""
    by_shard: dict[str, list[_Want]] = {}
    for w in wants:
        by_shard.setdefault(w.shard, []).append(w)
    runs: list[tuple[int, int, list[_Want]]] = []
    for members in by_shard.values():
        members.sort(key=lambda w: w.offset)
        start, end, run = members[0].offset, members[0].offset + members[0].size, [members[0]]
        for w in members[1:]:
            stop = max(end, w.offset + w.size)
            if w.offset - end <= config.max_gap and stop - start <= config.max_request:
                end = stop
                run.append(w)
                continue
            runs.append((start, end, run))
            start, end, run = w.offset, w.offset + w.size, [w]
        runs.append((start, end, run))
    runs.sort(key=lambda r: min(w.position for w in r[2]))
    return runs


class ReadAheadFiles:
    """The sample files of ``catalog`` (a :class:`~sparkle_data.sampling.SampleFiles`), with
    the members of ``ids`` fetched ahead. Call :meth:`advance` with the position of the
    sample about to be loaded; :meth:`close` when done (pending reads are cancelled)."""

    def __init__(
        self,
        catalog: Catalog,
        artifacts: Sequence[str],
        ids: Sequence[str],
        config: ReadAhead,
    ) -> None:
        self.catalog = catalog
        self.artifacts: tuple[str, ...] = tuple(a for a in artifacts if a in ARTIFACTS)
        self.ids = ids
        self.config = config
        self._pool = ThreadPoolExecutor(
            max_workers=config.threads, thread_name_prefix="sparkle-read-ahead"
        )
        self._lock = threading.Lock()
        self._pending: dict[tuple[str, str], _Pending] = {}
        self._next = 0
        self.held = 0
        """Bytes fetched or in flight now (gaps between coalesced members included)."""
        self.peak = 0
        """Most bytes ever fetched or in flight at once (never above ``max_bytes``)."""
        self.hits = 0
        self.misses = 0
        self.requests = 0
        """Ranged reads sent by the read-ahead (one per coalesced run)."""
        self.refetched = 0
        """Members read again alone (their coalesced read failed or did not match)."""

    # ------------------------------------------------------------------ scheduling
    def advance(self, position: int) -> None:
        """The sample at ``position`` is next: drop what earlier samples left unused and,
        when at most half of the window is ahead, fetch ahead up to ``position + samples``
        within the byte budget."""
        with self._lock:
            for key, p in list(self._pending.items()):
                if p.want.position < position:
                    del self._pending[key]
                    self._release(p.span, cancel=True)
            self._next = max(self._next, position)
            stop = min(len(self.ids), position + self.config.samples)
            if self._next - position > self.config.samples // 2 or self._next >= stop:
                return
            self._fill(stop)

    def _fill(self, stop: int) -> None:
        """Plan and submit the members of positions ``_next`` .. ``stop`` that fit."""
        chosen: list[_Want] = []
        runs: list[tuple[int, int, list[_Want]]] = []
        taken = set(self._pending)
        while self._next < stop:
            wants = [w for w in self._wants(self._next) if w.key not in taken]
            trial = _spans(chosen + wants, self.config) if wants else runs
            cost = sum(end - start for start, end, _ in trial)
            if self.held + cost > self.config.max_bytes:
                if chosen or self.held:
                    break  # wait until the worker has used what is held
                self._next += 1  # too large even alone: read on demand, go on
                continue
            chosen += wants
            taken.update(w.key for w in wants)
            runs = trial
            self._next += 1
        for start, end, members in runs:
            span = _Span(start, end - start, len(members), alone=len(members) == 1)
            if span.alone:
                span.future = self._pool.submit(self.catalog.read_bytes, *members[0].key)
            else:
                span.future = self._pool.submit(self._fetch, members[0].shard, start, end - start)
            self.requests += 1
            self.held += span.length
            for w in members:
                self._pending[w.key] = _Pending(w, span)
        self.peak = max(self.peak, self.held)

    def _wants(self, position: int) -> list[_Want]:
        """The shard members of the sample at ``position`` with their index entries."""
        sample_id = self.ids[position]
        out: list[_Want] = []
        for artifact in self.artifacts:
            try:
                loc = self.catalog.locate(sample_id, artifact)
            except Exception:  # noqa: S112 (the sample raises it when it is loaded)
                continue
            if loc.kind != "shard" or loc.size is None:
                continue
            index = self.catalog.indexes.get(loc.path)
            entry = index.get(sample_id) if index is not None else None
            if entry is None or entry.offset != loc.offset:
                continue  # the sample raises when it is loaded
            out.append(
                _Want((sample_id, artifact), position, loc.path, loc.offset, loc.size, entry.crc32)
            )
        return out

    def _fetch(self, shard: str, start: int, length: int) -> bytes:
        where = sfs.join(self.catalog.base, shard)
        overrides = policy_overrides(self.catalog.policy)
        return read_range(where, start, length, fs=self.catalog.fs, **overrides)

    def _release(self, span: _Span, *, cancel: bool = False) -> None:
        span.left -= 1
        if span.left == 0:
            self.held -= span.length
            if cancel:
                span.future.cancel()

    # ------------------------------------------------------------------ SampleFiles
    def open(self, sample_id: str, artifact: str) -> IO[bytes]:
        """The member from the read-ahead when it was fetched, else read now."""
        with self._lock:
            pending = self._pending.pop((sample_id, artifact), None)
            if pending is not None:
                self._release(pending.span)
        if pending is None:
            self.misses += 1
            return self.catalog.open(sample_id, artifact)
        if pending.span.alone:
            self.hits += 1
            return io.BytesIO(pending.span.future.result())  # raises what the read raised
        data = self._member(pending)
        if data is None:
            self.refetched += 1
            return io.BytesIO(self.catalog.read_bytes(sample_id, artifact))
        self.hits += 1
        return io.BytesIO(data)

    @staticmethod
    def _member(pending: _Pending) -> bytes | None:
        """The member's bytes cut from its span; ``None`` when the span's read failed or
        the bytes do not match the index's checksum."""
        try:
            block = pending.span.future.result()
        except Exception:
            return None
        w = pending.want
        at = w.offset - pending.span.start
        data = block if at == 0 and len(block) == w.size else block[at : at + w.size]
        if len(data) != w.size or (w.crc32 is not None and zlib.crc32(data) != w.crc32):
            return None
        return data

    def name_of(self, sample_id: str, artifact: str) -> str:
        return self.catalog.name_of(sample_id, artifact)

    def read_record_line(self, sample_id: str, record: str) -> tuple[bytes, str]:
        return self.catalog.read_record_line(sample_id, record)

    def close(self) -> None:
        with self._lock:
            for p in self._pending.values():
                p.span.future.cancel()
            self._pending.clear()
            self.held = 0
        self._pool.shutdown(wait=True, cancel_futures=True)


def open_read_ahead(
    catalog: Catalog,
    fields: Sequence[str],
    ids: Sequence[str],
    value: ReadAhead | bool | None,
) -> ReadAheadFiles | None:
    """A :class:`ReadAheadFiles` over ``ids`` when read-ahead is on (see
    :func:`read_ahead_for`) and a requested field is a shard artifact, else ``None``."""
    config = read_ahead_for(catalog, value)
    if config is None or not any(f in ARTIFACTS for f in fields) or not ids:
        return None
    return ReadAheadFiles(catalog, fields, ids, config)
