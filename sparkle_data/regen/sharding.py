"""Which items this process runs under torchrun or SLURM, and which GPUs it sees.

Global rank and world size come from ``RANK``/``WORLD_SIZE`` (torchrun) or
``SLURM_PROCID``/``SLURM_NTASKS`` (srun), else ``0``/``1``. The *selected samples* (sorted by
id) are dealt round-robin: sample ``i`` goes to rank ``i % world``, and a rank runs the plan's
items for its samples. Dealing the selection rather than the plan's items keeps every sample
with exactly one owner whatever the order ranks start and plan in (a rank that plans after
another finished some samples sees fewer items, not a different dealing).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TypeVar

__all__ = ["detect_rank", "shard", "visible_gpus"]

_T = TypeVar("_T")


def _int_env(env: Mapping[str, str], name: str) -> int | None:
    value = env.get(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise ValueError(
            f"Invalid environment variable {name}={value!r}: must be an int."
        ) from None


def detect_rank(env: Mapping[str, str] | None = None) -> tuple[int, int]:
    """``(rank, world)`` from torchrun's or SLURM's environment (``(0, 1)`` alone)."""
    e = os.environ if env is None else env
    for r_name, w_name in (("RANK", "WORLD_SIZE"), ("SLURM_PROCID", "SLURM_NTASKS")):
        rank, world = _int_env(e, r_name), _int_env(e, w_name)
        if rank is not None and world is not None:
            if not 0 <= rank < world:
                raise ValueError(f"Invalid {r_name}={rank}: must be in [0, {w_name}={world}).")
            return rank, world
    return 0, 1


def shard(items: Sequence[_T], rank: int, world: int) -> list[_T]:
    """Items ``rank, rank + world, ...``."""
    if world < 1 or not 0 <= rank < world:
        raise ValueError(f"Invalid rank {rank} of world {world}: need 0 <= rank < world.")
    return list(items[rank::world])


def visible_gpus(env: Mapping[str, str] | None = None) -> list[str]:
    """GPU ids this process may use: ``CUDA_VISIBLE_DEVICES`` if set, else what torch sees."""
    e = os.environ if env is None else env
    value = e.get("CUDA_VISIBLE_DEVICES")
    if value is not None:
        return [v.strip() for v in value.split(",") if v.strip() and v.strip() != "-1"]
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a core dependency
        return []
    return [str(i) for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []
