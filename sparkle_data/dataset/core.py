"""``SparkleDataset`` (iterable, sharded, resumable) and ``SparkleMapDataset`` (random access)."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import torch
import torch.distributed as dist
from torch.utils.data import Dataset, IterableDataset, get_worker_info

from sparkle_data.catalog.groups import group_ids
from sparkle_data.catalog.model import Catalog, build_catalog
from sparkle_data.dataset.args import SampleArgs, SampleKeywords
from sparkle_data.dataset.order import (
    STATE_VERSION,
    RankBalance,
    ResumeStateError,
    Slot,
    check_state,
    epoch_order,
    slot_positions,
)
from sparkle_data.dataset.readahead import ReadAhead, open_read_ahead
from sparkle_data.dataset.skips import SharedSkips
from sparkle_data.errors import SparkleError
from sparkle_data.io.retry import RetryPolicy
from sparkle_data.policy import SkipReport
from sparkle_data.sampling import SampleFiles

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["SparkleDataset", "SparkleMapDataset"]


def _process_group() -> tuple[int, int] | None:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return None


def _distributed(inherited: tuple[int, int] | None = None) -> tuple[int, int]:
    """Rank and world size: this process's ``torch.distributed`` group, else the group of the
    process that pickled the dataset (``inherited``: a ``spawn``/``forkserver`` DataLoader
    worker has no group of its own), else ``RANK``/``WORLD_SIZE``."""
    group = _process_group()
    if group is not None:
        return group
    if inherited is not None:
        return inherited
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


class _Base:
    def __init__(
        self,
        source: str | os.PathLike[str] | Catalog,
        args: SampleArgs,
        *,
        index_file: str | None,
        retry: RetryPolicy | None,
    ) -> None:
        self.fields = args.checked_fields
        report = args.skip_report()
        catalog = (
            source
            if isinstance(source, Catalog)
            else build_catalog(
                source,
                edit_types=args.edit_types,
                artifacts=args.artifacts(),
                index_file=index_file,
                report=report,
                retry=retry,
            )
        )
        self.catalog = catalog
        self.ids = args.select(catalog, stacklevel=3)  # the line that built the dataset
        self.loader = args.loader(catalog, self.ids)
        self.options = self.loader.options
        """The decoding arguments (``frames``, ``resize``, ...), validated once."""
        self.report = report
        # The epoch lives in shared memory, so that set_epoch() in the training process also
        # reaches persistent DataLoader workers (they keep their copy of the dataset).
        self._epoch_shared = torch.zeros((), dtype=torch.int64).share_memory_()  # type: ignore[no-untyped-call]

    @property
    def epoch(self) -> int:
        """The epoch whose order and random frame windows are produced (see ``set_epoch``)."""
        return int(self._epoch_shared)

    @epoch.setter
    def epoch(self, value: int) -> None:
        self._epoch_shared.fill_(int(value))

    def _load(
        self, sample_id: str, epoch: int, files: SampleFiles | None = None
    ) -> dict[str, Any] | None:
        try:
            return self.loader.load(sample_id, epoch=epoch, files=files)
        except SparkleError as e:
            if e.sample_id is None:
                e.sample_id = sample_id
            self.report.handle(e)
            return None


class SparkleDataset(_Base, IterableDataset[dict[str, Any]]):
    """Stream Sparkle pairs for training, sharded over ranks and DataLoader workers.

    ``source`` is a dataset root (local, extracted, ``hf://datasets/...``, ``https://``) or a
    :class:`~sparkle_data.catalog.Catalog`. Samples are the corpus ids that pass
    ``edit_types`` / ``ids`` / ``where`` (evaluated on the catalog, before any video byte is
    read). Every requested field is located by sample id (pairs span independently cut
    shards) and decoded through one plan: the same frames (``frames``) and the same
    resize/crop (``resize``) for every video, the mask, the frame-0 images and the boxes.

    Work is split per sample across ``torch.distributed`` ranks (or ``RANK``/``WORLD_SIZE``)
    and DataLoader workers. ``shuffle`` permutes shards then shuffles within blocks of
    ``buffer_size`` samples, seeded by ``(seed, epoch)``; call :meth:`set_epoch` each epoch.
    :meth:`state_dict` / :meth:`load_state_dict` (JSON-safe) resume exactly, with
    ``torchdata.stateful_dataloader.StatefulDataLoader`` or without workers.

    A sample whose field is missing or corrupt raises; with ``on_error="skip"`` it is
    skipped and counted. :attr:`report` in the main process (and ``state_dict()["skips"]``)
    merges the reports of every DataLoader worker (``dataset/skips.py``). Two budgets warn
    (:class:`~sparkle_data.errors.SkipBudgetWarning`) and go on: ``max_worker_skips``, the
    skips of one worker, and ``max_total_skips``, those of all workers together; a worker
    whose whole pass was skipped warns too. ``max_skips`` is the hard limit: one skip more
    than it, in one worker, raises the error that caused it. The same
    policy and report apply while the catalog of a root is built: a bad record line, CSV row
    or damaged shard then costs only the samples it holds (``docs/reliability.md``).
    ``max_decoded_bytes`` bounds what one field of one sample may decode to (default 1 GiB).
    ``retry`` (:class:`~sparkle_data.io.remote.RetryPolicy`) sets the retries and timeouts of
    remote reads; only the shards of the requested fields are listed and indexed.

    ``read_ahead`` fetches the members of each worker's next samples in a few threads
    while the current one decodes (bounded bytes; :class:`~sparkle_data.dataset.ReadAhead`):
    ``None`` turns it on for remote roots only, ``True``/``False`` force it.

    The selection, decoding and error keywords (``fields``, ``edit_types``, ``ids``,
    ``where``, ``frames``, ``resize``, ``frame_mismatch``, ``box_frames``, ``output``,
    ``max_decoded_bytes``, ``on_error``, ``max_skips``) are shared by every Sparkle dataset:
    :class:`~sparkle_data.dataset.args.SampleKeywords`, defaults in
    :class:`~sparkle_data.dataset.args.SampleArgs`.
    """

    def __init__(
        self,
        source: str | os.PathLike[str] | Catalog,
        *,
        shuffle: bool = False,
        seed: int = 0,
        buffer_size: int = 256,
        balance: RankBalance = "pad",
        index_file: str | None = None,
        read_ahead: ReadAhead | bool | None = None,
        retry: RetryPolicy | None = None,
        max_total_skips: int | None = None,
        max_worker_skips: int | None = None,
        **sample: Unpack[SampleKeywords],
    ) -> None:
        self._skips = SharedSkips(
            max_total_skips=max_total_skips, max_worker_skips=max_worker_skips
        )
        args = SampleArgs.of("SparkleDataset", sample)
        super().__init__(source, args, index_file=index_file, retry=retry)
        self.read_ahead = read_ahead
        self.shuffle = shuffle
        self.seed = int(seed)
        self.buffer_size = buffer_size
        self.balance: RankBalance = balance
        self._group: tuple[int, int] | None = None
        self.epoch = 0
        self._groups = list(group_ids(self.catalog, self.ids, self.fields).values())
        self._slot: Slot | None = None
        self._yielded = 0
        self._resume: dict[str, Any] | None = None

    def __getstate__(self) -> dict[str, Any]:
        # Pickled into a spawn/forkserver DataLoader worker: carry this process's rank, which
        # the worker (outside the process group) could not find otherwise.
        state = self.__dict__.copy()
        state["_group"] = _process_group() or self._group
        return state

    @property
    def report(self) -> SkipReport:
        """Skipped samples: this process's, merged with every DataLoader worker's (in the
        main process; a worker sees its own)."""
        own: SkipReport = self.__dict__["_own_report"]
        skips: SharedSkips | None = self.__dict__.get("_skips")
        if skips is None or get_worker_info() is not None:
            return own
        return skips.merged(own)

    @report.setter
    def report(self, value: SkipReport) -> None:
        self.__dict__["_own_report"] = value

    def _publish_skips(self, slot: Slot) -> None:
        own: SkipReport = self.__dict__["_own_report"]
        if get_worker_info() is not None:
            self._skips.publish(own, slot=f"rank{slot.rank}-worker{slot.worker}")
        else:
            self._skips.check_worker(own, slot="the main process")

    def __len__(self) -> int:
        """Samples this rank sees per epoch (all workers together)."""
        rank, world = _distributed(self._group)
        return len(slot_positions(len(self.ids), Slot(rank, world, 0, 1), balance=self.balance))

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose order to produce (resets the resume position)."""
        self.epoch = int(epoch)
        self._yielded = 0

    def order(self, epoch: int | None = None) -> list[str]:
        """The global sample order of an epoch (before the split over ranks and workers)."""
        return epoch_order(
            self._groups,
            seed=self.seed,
            epoch=self.epoch if epoch is None else epoch,
            shuffle=self.shuffle,
            buffer_size=self.buffer_size,
        )

    def _current_slot(self) -> Slot:
        rank, world = _distributed(self._group)
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        return Slot(rank, world, worker, workers)

    def _positions(self, slot: Slot, n: int) -> list[int]:
        resume, self._resume = self._resume, None
        skip_prefix = 0
        self._yielded = 0
        if resume is not None:
            if (resume["seed"], resume["epoch"]) != (self.seed, self.epoch):
                raise ResumeStateError(
                    f"Invalid resume state: it is for seed {resume['seed']} epoch "
                    f"{resume['epoch']}, the dataset is at seed {self.seed} epoch {self.epoch}. "
                    "Call set_epoch() before load_state_dict()."
                )
            if resume["kind"] == "global":
                skip_prefix = int(resume["consumed_prefix"])
            else:
                layout = tuple(resume[k] for k in ("rank", "world_size", "worker", "num_workers"))
                if layout != (slot.rank, slot.world_size, slot.worker, slot.num_workers):
                    raise ResumeStateError(
                        f"Invalid resume state: saved by rank {layout[0]}/{layout[1]} worker "
                        f"{layout[2]}/{layout[3]}, loaded into rank {slot.rank}/"
                        f"{slot.world_size} worker {slot.worker}/{slot.num_workers}. To change "
                        "the world size or worker count, combine every slot's state with "
                        "sparkle_data.dataset.merge_states() and load that."
                    )
                self._yielded = int(resume["yielded"])
        positions = slot_positions(n, slot, balance=self.balance, skip_prefix=skip_prefix)
        return positions[self._yielded :]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        slot = self._current_slot()
        self._slot = slot
        order = self.order()
        ids = [order[pos] for pos in self._positions(slot, len(order))]
        files = open_read_ahead(self.catalog, self.fields, ids, self.read_ahead)
        loaded = skipped = 0
        try:
            for i, sample_id in enumerate(ids):
                if files is not None:
                    files.advance(i)
                sample = self._load(sample_id, self.epoch, files)
                self._yielded += 1
                if sample is not None:
                    loaded += 1
                    yield sample
                else:
                    skipped += 1
                    self._publish_skips(slot)
        finally:
            if files is not None:
                files.close()
        SharedSkips.end_of_pass(
            self.__dict__["_own_report"],
            skipped=skipped,
            loaded=loaded,
            slot=f"rank {slot.rank} worker {slot.worker}",
        )

    # ------------------------------------------------------------------ resume
    def state_dict(self) -> dict[str, Any]:
        """JSON-safe position of this reader (one slot: rank x worker)."""
        slot = self._slot or self._current_slot()
        return {
            "version": STATE_VERSION,
            "kind": "slot",
            "seed": self.seed,
            "epoch": self.epoch,
            "rank": slot.rank,
            "world_size": slot.world_size,
            "worker": slot.worker,
            "num_workers": slot.num_workers,
            "yielded": self._yielded,
            "skips": self.report.to_dict(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Resume at the next sample of a saved position (applied on the next ``iter``).

        A ``"slot"`` state must come from the same rank/worker layout; a ``"global"`` state
        (from :func:`~sparkle_data.dataset.merge_states`) resumes under any layout.
        """
        check_state(state)
        self.epoch = int(state["epoch"])
        if int(state["seed"]) != self.seed:
            raise ResumeStateError(
                f"Invalid resume state seed {state['seed']}: the dataset uses seed {self.seed}."
            )
        self._resume = dict(state)


class SparkleMapDataset(_Base, Dataset[dict[str, Any]]):
    """Random access to Sparkle samples: ``ds[i]`` loads the ``i``-th selected id.

    Same keywords as :class:`SparkleDataset` for selection, decoding and errors
    (:class:`~sparkle_data.dataset.args.SampleKeywords`), and ``index_file``/``retry``; use a
    sampler
    (``DistributedSampler``, ``BucketBatchSampler``) for order and sharding. ``epoch`` (for
    random frame windows) is set with :meth:`set_epoch`.
    """

    def __init__(
        self,
        source: str | os.PathLike[str] | Catalog,
        *,
        index_file: str | None = None,
        retry: RetryPolicy | None = None,
        **sample: Unpack[SampleKeywords],
    ) -> None:
        args = SampleArgs.of("SparkleMapDataset", sample)
        super().__init__(source, args, index_file=index_file, retry=retry)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> dict[str, Any]:
        sample = self._load(self.ids[index], self.epoch)
        if sample is None:
            # Map-style datasets cannot drop an index: the skip is counted, then reported.
            raise SparkleError(
                f"Sample {self.ids[index]} was skipped ({self.report}); a map-style dataset "
                "cannot return nothing. Filter it out with ids=/where= or use SparkleDataset.",
                sample_id=self.ids[index],
            )
        return sample
