"""Deterministic, resumable sample order: epochs, shuffling, rank/worker partitioning.

The order of an epoch is a pure function of ``(groups, seed, epoch)``:

1. samples are grouped by locality (the shard holding their first video field), and the
   group order is permuted with a generator seeded by ``(seed, epoch)``;
2. the concatenated sequence is cut into blocks of ``buffer_size`` and each block is
   shuffled on its own (a bounded-buffer shuffle that keeps reads local to a few shards);
3. position ``p`` of that global sequence belongs to rank ``p % world_size`` (like
   ``DistributedSampler``), and within a rank its positions go round-robin to the workers:
   position ``p`` is read by slot ``p % (world_size * num_workers)``, slot
   ``worker * world_size + rank``. Work is split by sample, so more workers than shards all
   do useful work and no rank reads everything; what a rank reads does not depend on its
   number of workers, so ``balance="pad"`` gives every rank the same count whatever the
   worker count.

Because the order is recomputable, resuming never replays anything: a slot that has yielded
``n`` samples restarts at its ``n``-th position. When the world size or the number of workers
changes, :func:`merge_states` turns the saved per-slot states into the longest prefix of the
global order that every slot had consumed; the new slots skip that prefix, so no sample is
lost and at most ``world_size * num_workers - 1`` samples per slot are seen twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

import numpy as np

from sparkle_data.errors import ResumeStateError

__all__ = [
    "STATE_VERSION",
    "RankBalance",
    "ResumeStateError",
    "Slot",
    "epoch_order",
    "merge_states",
    "slot_positions",
    "slot_states",
    "stable_seed",
]

STATE_VERSION: Final = 2
"""Version 1 (sparkle-data 0.1 before the rank-first split) numbered slots
``rank * num_workers + worker``; its slot states are still accepted by :func:`merge_states`."""
_READABLE_VERSIONS: Final = (1, 2)
RankBalance = Literal["pad", "drop", "none"]


def stable_seed(*parts: object) -> int:
    """A 64-bit seed from any printable parts (stable across processes and Python runs)."""
    text = "\x1f".join(str(p) for p in parts).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little")


def epoch_order(
    groups: Sequence[Sequence[str]],
    *,
    seed: int,
    epoch: int,
    shuffle: bool,
    buffer_size: int = 256,
) -> list[str]:
    """The global sample order of one epoch (see the module docstring)."""
    if buffer_size < 1:
        raise ValueError(f"Invalid buffer_size {buffer_size!r}: must be >= 1.")
    if not shuffle:
        return [s for g in groups for s in g]
    rng = np.random.default_rng(stable_seed("groups", seed, epoch))
    order = [s for i in rng.permutation(len(groups)) for s in groups[int(i)]]
    out: list[str] = []
    for b, start in enumerate(range(0, len(order), buffer_size)):
        block = order[start : start + buffer_size]
        perm = np.random.default_rng(stable_seed("block", seed, epoch, b)).permutation(len(block))
        out.extend(block[int(i)] for i in perm)
    return out


@dataclass(frozen=True, slots=True)
class Slot:
    """One reader of the global order: a (rank, worker) pair."""

    rank: int
    world_size: int
    worker: int
    num_workers: int

    def __post_init__(self) -> None:
        if not (0 <= self.rank < self.world_size and 0 <= self.worker < self.num_workers):
            raise ValueError(
                f"Invalid slot rank={self.rank}/{self.world_size}, "
                f"worker={self.worker}/{self.num_workers}."
            )

    @property
    def index(self) -> int:
        return self.worker * self.world_size + self.rank

    @property
    def total(self) -> int:
        return self.world_size * self.num_workers


def slot_positions(
    n: int, slot: Slot, *, balance: RankBalance = "pad", skip_prefix: int = 0
) -> list[int]:
    """Positions of the global order (length ``n``) that ``slot`` reads, in order.

    ``balance`` makes every rank see the same number of samples (needed by DDP, where a rank
    that stops early hangs the others): ``"pad"`` wraps around to the start like
    ``DistributedSampler``, ``"drop"`` drops the tail, ``"none"`` keeps the exact split.
    Positions below ``skip_prefix`` (already consumed, see :func:`merge_states`) are left out.
    """
    per_rank = n // slot.world_size
    if balance == "drop":
        limit = per_rank * slot.world_size
    elif balance == "pad":
        limit = -(-n // slot.world_size) * slot.world_size if n else 0
    elif balance == "none":
        limit = n
    else:
        raise ValueError(f"Invalid balance {balance!r}: must be 'pad', 'drop' or 'none'.")
    positions = range(slot.index, limit, slot.total)
    return [p % n for p in positions if p >= skip_prefix]


def slot_states(state: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The dataset slot states held in ``state``.

    ``state`` is either a dataset state itself, or a
    ``torchdata.stateful_dataloader.StatefulDataLoader`` ``state_dict()``. For a loader
    state, that is its dataset's state without workers, or one state per worker.
    """
    if "kind" in state:
        return [dict(state)]
    if isinstance(state.get("dataset_state"), Mapping):  # StatefulDataLoader, no workers
        return slot_states(state["dataset_state"])
    snapshot = state.get("_snapshot")
    if isinstance(snapshot, Mapping) and isinstance(snapshot.get("_worker_snapshots"), Mapping):
        out: list[dict[str, Any]] = []
        for name, worker in sorted(snapshot["_worker_snapshots"].items()):
            inner = worker.get("dataset_state") if isinstance(worker, Mapping) else None
            if not isinstance(inner, Mapping):
                raise ResumeStateError(
                    f"Invalid resume state: the loader state's {name} has no dataset state "
                    "(was the loader's iterator started before state_dict()?)."
                )
            out.extend(slot_states(inner))
        return out
    raise ResumeStateError(
        f"Invalid resume state with keys {sorted(state)[:8]}: neither a dataset state nor a "
        "StatefulDataLoader state_dict()."
    )


def merge_states(states: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Combine the per-slot states of *all* slots of a run into one global state.

    The result resumes under any world size and worker count: it records the longest prefix
    of the epoch's global order that every slot had consumed. ``states`` may be dataset
    states or ``StatefulDataLoader.state_dict()`` results (one per rank), or a mix.
    """
    states = [s for state in states for s in slot_states(state)]
    if not states:
        raise ResumeStateError("Invalid resume state []: no slot states to merge.")
    first = states[0]
    for st in states:
        check_state(st, old_slots=True)
        if st["kind"] != "slot":
            raise ResumeStateError(
                f"Invalid resume state kind {st['kind']!r} in merge_states: it merges the "
                "'slot' states of every rank and worker (a 'global' state is already merged)."
            )
    total = int(first["world_size"]) * int(first["num_workers"])
    seen = {}
    for st in states:
        if st["version"] != first["version"]:
            raise ResumeStateError(
                f"Invalid resume states: versions differ ({st['version']} vs "
                f"{first['version']}); pass the states saved by one run."
            )
        if (st["epoch"], st["seed"]) != (first["epoch"], first["seed"]):
            raise ResumeStateError(
                f"Invalid resume states: epochs/seeds differ ({st['epoch']}, {st['seed']}) vs "
                f"({first['epoch']}, {first['seed']})."
            )
        rank, worker = int(st["rank"]), int(st["worker"])
        if st["version"] == 1:  # the old numbering (see STATE_VERSION)
            slot = rank * int(st["num_workers"]) + worker
        else:
            slot = worker * int(st["world_size"]) + rank
        seen[slot] = int(st["yielded"])
    if len(seen) != total:
        missing = sorted(set(range(total)) - set(seen))
        raise ResumeStateError(
            f"Invalid resume states: slots {missing} of {total} are missing; pass the states "
            "of every rank and worker."
        )
    # Slot s has consumed positions s, s+total, ..., s+(y-1)*total: the first position it
    # has NOT consumed is s + y*total. The common prefix ends at the smallest of those.
    prefix = min(s + y * total for s, y in seen.items())
    return {
        "version": STATE_VERSION,
        "kind": "global",
        "seed": first["seed"],
        "epoch": first["epoch"],
        "consumed_prefix": prefix,
    }


def check_state(state: Mapping[str, Any], *, old_slots: bool = False) -> None:
    """Validate a state dict's version and keys (clear errors for hand-edited JSON).

    A version-1 ``"slot"`` state is accepted only with ``old_slots`` (by :func:`merge_states`,
    which knows its slot numbering); a version-1 ``"global"`` state means the same as now.
    """
    version = state.get("version")
    if version not in _READABLE_VERSIONS:
        raise ResumeStateError(
            f"Invalid resume state version {version!r}: this sparkle-data writes version "
            f"{STATE_VERSION} and reads versions {list(_READABLE_VERSIONS)}."
        )
    kind = state.get("kind")
    if version == 1 and kind == "slot" and not old_slots:
        raise ResumeStateError(
            "Invalid resume state: a version-1 slot state numbers ranks and workers the way "
            "sparkle-data did before version 2, so it cannot resume one reader directly. "
            "Hint: combine the states of every rank and worker with merge_states(states) and "
            "load that global state instead (nothing is lost)."
        )
    need = {
        "slot": ("seed", "epoch", "rank", "world_size", "worker", "num_workers", "yielded"),
        "global": ("seed", "epoch", "consumed_prefix"),
    }.get(str(kind))
    if need is None:
        raise ResumeStateError(f"Invalid resume state kind {kind!r}: must be 'slot' or 'global'.")
    missing = [k for k in need if k not in state]
    if missing:
        raise ResumeStateError(f"Invalid resume state: missing keys {missing}.")
