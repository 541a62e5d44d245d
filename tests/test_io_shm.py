"""Recycled shared-memory buffers between DataLoader workers and the main process."""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Iterator
from multiprocessing.reduction import ForkingPickler
from typing import Any

import pytest
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from sparkle_data.io import shm
from sparkle_data.sampling import collate_pad

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the pool needs Linux (memfd_create)"
)

SHAPE = (3, 3, 32, 48)


class Pooled(IterableDataset[dict[str, Any]]):
    """Yields ``n`` samples whose tensors come from the worker's pool, filled with ``i``."""

    def __init__(self, n: int, extra: bool = False) -> None:
        self.n = n
        self.extra = extra

    def __iter__(self) -> Iterator[dict[str, Any]]:
        info = get_worker_info()
        start, step = (info.id, info.num_workers) if info is not None else (0, 1)
        for i in range(start, self.n, step):
            video = shm.shared_empty(SHAPE)
            video.fill_(i % 251)
            video[-1, -1, -1, -1] = (i + 1) % 251
            sample: dict[str, Any] = {
                "i": i,
                "pid": os.getpid(),
                "video": video,
                "crop": video[:, 1:, 4:20, 8:40],
            }
            if self.extra:
                floats = shm.shared_empty((5, 7), dtype=torch.float32)
                floats.copy_(torch.arange(35, dtype=torch.float32).view(5, 7) + i)
                sample["floats"] = floats
                sample["plain"] = torch.full((4,), i, dtype=torch.int64)  # not pooled
                sample["sparse"] = (torch.eye(3) * i).to_sparse()  # PyTorch's own reducer
            sample["stats"] = shm.pool_stats()
            sample["inherited"] = len(shm._RECEIVER.maps)
            yield sample


def _check(sample: dict[str, Any]) -> None:
    i, video = sample["i"], sample["video"]
    assert video.shape == SHAPE
    assert video.dtype == torch.uint8
    assert int(video[0, 0, 0, 0]) == i % 251
    assert int(video[-1, -1, -1, -1]) == (i + 1) % 251
    assert torch.equal(sample["crop"], video[:, 1:, 4:20, 8:40])


@pytest.mark.filterwarnings("ignore:Sparse invariant checks:UserWarning")
def test_round_trip_views_dtypes_and_reuse() -> None:
    last: dict[int, dict[str, int]] = {}
    seen = []
    for sample in DataLoader(Pooled(40, extra=True), batch_size=None, num_workers=2):
        _check(sample)
        # a view arrives as a view of the same buffer, not as a copy
        assert sample["crop"].untyped_storage().data_ptr() == (
            sample["video"].untyped_storage().data_ptr()
        )
        assert torch.equal(
            sample["floats"], torch.arange(35, dtype=torch.float32).view(5, 7) + sample["i"]
        )
        assert sample["plain"].tolist() == [sample["i"]] * 4
        assert torch.equal(sample["sparse"].to_dense(), torch.eye(3) * sample["i"])
        last[sample["pid"]] = sample["stats"]
        seen.append(sample["i"])
    assert sorted(seen) == list(range(40))
    assert len(last) == 2
    for stats in last.values():
        # 20 samples x 2 pooled tensors each, from a handful of buffers
        assert stats["reused"] > stats["created"] > 0
        assert stats["created"] <= 8
        assert stats["fallbacks"] == 0


def test_buffers_held_by_the_loop_are_never_overwritten(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPARKLE_DATA_SHM_POOL", "3")  # the forked workers inherit it
    held = list(DataLoader(Pooled(24), batch_size=None, num_workers=2))
    gc.collect()
    for sample in held:  # everything kept: later samples must not have reused these buffers
        _check(sample)
    final = {s["pid"]: s["stats"] for s in held}
    assert all(st["slots"] <= 3 for st in final.values())
    assert all(st["fallbacks"] > 0 for st in final.values())


def test_released_buffers_after_some_are_held(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPARKLE_DATA_SHM_POOL", "6")
    kept = []
    for sample in DataLoader(Pooled(60), batch_size=None, num_workers=2):
        _check(sample)
        if sample["i"] % 10 == 0:
            kept.append(sample)
    gc.collect()
    for sample in kept:
        _check(sample)


def test_pool_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPARKLE_DATA_SHM_POOL", "0")
    for sample in DataLoader(Pooled(6), batch_size=None, num_workers=2):
        _check(sample)
        assert sample["stats"]["created"] == 0


@pytest.mark.parametrize("value", ["many", "-1", "1.5"])
def test_invalid_pool_setting(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("SPARKLE_DATA_SHM_POOL", value)
    with pytest.raises(ValueError, match=r"SPARKLE_DATA_SHM_POOL=.*whole number"):
        shm._env_int("SPARKLE_DATA_SHM_POOL", 12)


def test_collate_pad_batches_come_from_the_pool() -> None:
    loader = DataLoader(Pooled(12), batch_size=3, num_workers=2, collate_fn=collate_pad)
    n = 0
    for batch in loader:
        assert batch["video"].shape == (3, *SHAPE)
        for k, i in enumerate(batch["i"]):
            assert int(batch["video"][k, 0, 0, 0, 0]) == i % 251
        n += 1
        stats = batch["stats"][-1]
    assert n == 4
    assert stats["created"] > 0


def test_outside_a_worker_it_is_plain_shared_memory() -> None:
    t = shm.shared_empty((2, 3), dtype=torch.int16)
    assert t.shape == (2, 3)
    assert t.dtype == torch.int16
    assert t.is_shared()
    assert shm.pool_stats()["created"] == 0


def test_receiver_drops_the_mappings_of_exited_workers() -> None:
    for _ in DataLoader(Pooled(8), batch_size=None, num_workers=2, multiprocessing_context="fork"):
        pass
    first = {pid for pid, _ in shm._RECEIVER.maps.values()}
    assert first  # mapped once, kept for reuse while the workers lived
    # Forking new workers lets the exited ones' buffers go *before* the fork, so that no new
    # worker inherits (and keeps alive) a mapping of them.
    it = iter(DataLoader(Pooled(8), batch_size=None, num_workers=2, multiprocessing_context="fork"))
    assert not {pid for pid, _ in shm._RECEIVER.maps.values()} & first
    pids = set()
    for sample in it:
        pids.add(sample["pid"])
        assert sample["inherited"] == 0  # a worker does not keep its parent's mappings
    del sample
    assert {pid for pid, _ in shm._RECEIVER.maps.values()} <= pids


@pytest.mark.slow
def test_spawned_workers() -> None:
    loader = DataLoader(Pooled(10), batch_size=None, num_workers=2, multiprocessing_context="spawn")
    seen = []
    for sample in loader:
        _check(sample)
        seen.append(sample["i"])
    assert sorted(seen) == list(range(10))


# ------------------------------------------------------------------ in one process


@pytest.fixture
def pool_here(monkeypatch: pytest.MonkeyPatch) -> Iterator[shm._Pool]:
    """This process acts as a worker: a pool, and the reducer that sends its buffers."""
    from torch.multiprocessing.reductions import reduce_tensor

    saved = ForkingPickler._extra_reducers.get(torch.Tensor)  # type: ignore[attr-defined]
    monkeypatch.setattr(shm, "_in_worker", lambda: True)
    monkeypatch.setattr(shm, "_POOL", None)
    monkeypatch.setattr(shm, "_POOL_PID", 0)
    pool = shm._worker_pool()
    assert pool is not None
    yield pool
    ForkingPickler.register(torch.Tensor, saved or reduce_tensor)
    gc.collect()
    for slot in list(pool.slots):
        pool._drop(slot)


def test_slot_is_free_only_when_both_sides_let_go(pool_here: shm._Pool) -> None:
    t = shm.shared_empty((4, 4))
    t.fill_(7)
    (slot,) = pool_here.slots
    assert not slot.free  # this process still uses it
    payload = ForkingPickler.dumps(t)
    del t
    gc.collect()
    assert not slot.free  # sent: held by the receiver until it lets go
    received = ForkingPickler.loads(payload)
    assert received.tolist() == [[7] * 4] * 4
    other = shm.shared_empty((4, 4))  # cannot reuse the held slot
    assert len(pool_here.slots) == 2
    del other
    del received
    gc.collect()
    assert slot.free
    again = shm.shared_empty((2, 2))
    assert pool_here.reused >= 1
    assert len(pool_here.slots) == 2
    assert again.untyped_storage().data_ptr() in pool_here.by_address


def test_the_same_buffer_sent_twice_is_released_once(pool_here: shm._Pool) -> None:
    t = shm.shared_empty((8,))
    t.copy_(torch.arange(8, dtype=torch.uint8))
    (slot,) = pool_here.slots
    a = ForkingPickler.loads(ForkingPickler.dumps(t))
    b = ForkingPickler.loads(ForkingPickler.dumps(t[2:5]))
    del t
    assert b.tolist() == [2, 3, 4]
    del a
    gc.collect()
    assert not slot.free  # b still uses the buffer
    assert b.tolist() == [2, 3, 4]
    del b
    gc.collect()
    assert slot.free


def test_a_full_pool_falls_back(monkeypatch: pytest.MonkeyPatch, pool_here: shm._Pool) -> None:
    monkeypatch.setattr(pool_here, "max_slots", 1)
    a = shm.shared_empty((16,))
    b = shm.shared_empty((16,))  # the only slot is taken: fresh shared memory
    assert b.is_shared()
    assert b.untyped_storage().data_ptr() not in pool_here.by_address
    assert pool_here.fallbacks == 1
    del a, b


def test_a_bigger_request_replaces_a_free_small_slot(
    monkeypatch: pytest.MonkeyPatch, pool_here: shm._Pool
) -> None:
    monkeypatch.setattr(pool_here, "max_slots", 1)
    small = shm.shared_empty((16,))
    old = pool_here.slots[0]
    del small
    gc.collect()
    big = shm.shared_empty((old.capacity + 1,))
    assert len(pool_here.slots) == 1
    assert pool_here.slots[0] is not old
    assert pool_here.slots[0].capacity > old.capacity
    assert old.mm.closed
    del big


def test_a_token_mismatch_is_refused(pool_here: shm._Pool) -> None:
    t = shm.shared_empty((4,))
    (slot,) = pool_here.slots
    with pytest.raises(ValueError, match="token does not match"):
        shm._Receiver().mapping(os.getpid(), b"\0" * 16, slot.fd, slot.capacity)
    del t
