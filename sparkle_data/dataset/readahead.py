"""Read-ahead of the next samples' members inside each DataLoader worker (remote roots).

At tens of milliseconds of latency a sample costs one round trip per member before it can be
decoded. A worker knows which samples it reads next (its slice of the epoch order), so
:class:`ReadAheadFiles` fetches the shard members of the next :attr:`ReadAhead.samples`
samples in a small thread pool while the current one decodes:

* **bounded**: members fetched or in flight never exceed :attr:`ReadAhead.max_bytes` (sizes
  come from the index before any byte is read); a member that does not fit is read when it
  is needed, as without read-ahead;
* **same bytes, same errors**: members are read by :meth:`Catalog.read_bytes` (one ranged
  read, verified against the index's checksum when it has one); a failed read raises when
  the sample asks for that member, exactly where it would have raised without read-ahead;
* **off for local roots** (``read_ahead=None`` picks: on for remote roots, off for local
  ones, where a ``pread`` is cheaper than a thread hop).

Members of samples that were skipped are dropped when the worker moves past them.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import IO, Final

from fsspec.spec import AbstractFileSystem

from sparkle_data.catalog.model import Catalog
from sparkle_data.layout import ARTIFACTS

__all__ = ["DEFAULT_READ_AHEAD", "ReadAhead", "ReadAheadFiles", "open_read_ahead"]


@dataclass(frozen=True)
class ReadAhead:
    """How far a worker reads ahead: samples, bytes held at most, fetching threads."""

    samples: int = 16
    """Upcoming samples whose members are fetched ahead."""
    max_bytes: int = 256 << 20
    """Bytes of members fetched or in flight at most (per worker)."""
    threads: int = 8
    """Concurrent ranged reads (per worker)."""

    def __post_init__(self) -> None:
        for name in ("samples", "max_bytes", "threads"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(
                    f"Invalid read_ahead {name} {value!r}: must be an integer >= 1. "
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


@dataclass
class _Pending:
    position: int
    size: int
    future: Future[bytes]


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
        """Bytes fetched or in flight now."""
        self.peak = 0
        """Most bytes ever fetched or in flight at once (never above ``max_bytes``)."""
        self.hits = 0
        self.misses = 0

    # ------------------------------------------------------------------ scheduling
    def advance(self, position: int) -> None:
        """The sample at ``position`` is next: drop what earlier samples left unused and
        fetch ahead up to ``position + samples`` within the byte budget."""
        with self._lock:
            for key, p in list(self._pending.items()):
                if p.position < position:
                    del self._pending[key]
                    p.future.cancel()
                    self.held -= p.size
            self._next = max(self._next, position)
            stop = min(len(self.ids), position + self.config.samples)
            while self._next < stop:
                if not self._schedule(self._next):
                    break
                self._next += 1

    def _schedule(self, position: int) -> bool:
        """Submit the members of one sample; ``False`` when the budget is full."""
        sample_id = self.ids[position]
        wanted: list[tuple[str, int]] = []
        for artifact in self.artifacts:
            if (sample_id, artifact) in self._pending:
                continue
            try:
                loc = self.catalog.locate(sample_id, artifact)
            except Exception:  # noqa: S112 (the sample raises it when it is loaded)
                continue
            if loc.kind != "shard" or loc.size is None:
                continue
            wanted.append((artifact, loc.size))
        total = sum(size for _, size in wanted)
        if wanted and self.held + total > self.config.max_bytes:
            # Too large even for an empty budget: read on demand, go on with the next one.
            # Otherwise wait until the worker has used what is held.
            return self.held == 0
        for name, size in wanted:
            future = self._pool.submit(self.catalog.read_bytes, sample_id, name)
            self._pending[(sample_id, name)] = _Pending(position, size, future)
            self.held += size
        self.peak = max(self.peak, self.held)
        return True

    # ------------------------------------------------------------------ SampleFiles
    def open(self, sample_id: str, artifact: str) -> IO[bytes]:
        """The member from the read-ahead when it was fetched, else read now."""
        with self._lock:
            pending = self._pending.pop((sample_id, artifact), None)
            if pending is not None:
                self.held -= pending.size
        if pending is None:
            self.misses += 1
            return self.catalog.open(sample_id, artifact)
        self.hits += 1
        return io.BytesIO(pending.future.result())  # raises what the read raised

    def name_of(self, sample_id: str, artifact: str) -> str:
        return self.catalog.name_of(sample_id, artifact)

    def read_record_line(self, sample_id: str, record: str) -> tuple[bytes, str]:
        return self.catalog.read_record_line(sample_id, record)

    def close(self) -> None:
        with self._lock:
            for p in self._pending.values():
                p.future.cancel()
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
