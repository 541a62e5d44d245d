"""Recycled shared-memory buffers for tensors that DataLoader workers send to the main process.

A 720p pair is about 450 MB of ``uint8``. PyTorch hands a worker's tensor to the main process
through shared memory: a fresh ``/dev/shm`` buffer per tensor, which the kernel must allocate,
zero and map in the worker, then unmap and free in the main process. On a small machine that
costs about as much CPU as decoding the frames. This module keeps a small pool of shared
buffers per worker instead and reuses each one once the main process is done with it:

* :func:`shared_empty` (in a worker process) returns a tensor backed by a free pool slot: an
  anonymous ``memfd`` whose pages were populated once, when the slot was created.
* Pickling such a tensor (what the DataLoader's result queue does) sends the slot's file
  descriptor plus a random token instead of the bytes and marks the slot *held* in its
  header, in the shared memory itself.
* The receiving process maps each slot once (cached by token) and builds the tensor on that
  mapping; when the last tensor built on it is freed, a finalizer clears the *held* mark.
* The worker reuses a slot only when its own references are gone *and* the mark is clear, so
  a tensor the training loop still holds is never overwritten. When every slot is busy (the
  loop keeps tensors around) it falls back to PyTorch's fresh shared memory, as before.

Tensors that do not live in a pool slot are pickled by PyTorch's own reducer, unchanged.
Outside Linux, outside DataLoader workers, or with ``SPARKLE_DATA_SHM_POOL=0``,
:func:`shared_empty` is PyTorch's ``_new_shared`` allocation. The pool size is
``SPARKLE_DATA_SHM_POOL`` slots per worker (default 12) and at most
``SPARKLE_DATA_SHM_POOL_MB`` MiB per worker (default 6144).
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import math
import mmap
import os
import secrets
import sys
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

import numpy as np

if TYPE_CHECKING:
    import torch

__all__ = ["pool_stats", "shared_empty"]

_HEADER: Final = 4096
"""Bytes before a slot's data: byte 0 is the *held* mark, byte 1 the *retired* mark (the
sender closed the slot), bytes 8..24 the slot's random token."""
_HELD: Final = 0
_RETIRED: Final = 1
_TOKEN: Final = slice(8, 24)
_ROUND: Final = 8 << 20
"""Slot capacities are rounded up to 8 MiB so that clips of slightly different length share."""
_MADV_POPULATE_WRITE: Final = 23
"""Linux >= 5.14: fault a whole range in writable in one call."""
_RECEIVER_CACHE: Final = 256
"""Mappings the receiving process keeps for slots it may see again. A live sender's slot
costs no memory here (the pages are the sender's); exited and retired senders' mappings are
dropped anyway, so this only bounds the bookkeeping (16 workers x 12 slots fit)."""


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"Invalid {name}={raw!r}: expected a whole number (0 disables).") from None
    if value < 0:
        raise ValueError(f"Invalid {name}={raw!r}: expected a whole number >= 0 (0 disables).")
    return value


@functools.cache
def _madvise() -> Callable[[int, int, int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        fn = ctypes.CDLL(None, use_errno=True).madvise
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    fn.restype = ctypes.c_int
    return fn


def populate(address: int, nbytes: int) -> None:
    """Map a fresh shared buffer's pages in one ``madvise`` call instead of one page fault per
    4 KiB as they are first written. Best effort: nothing happens where it is not supported."""
    madvise = _madvise()
    if madvise is None or nbytes <= 0:
        return
    start = address - address % mmap.PAGESIZE
    madvise(start, nbytes + address - start, _MADV_POPULATE_WRITE)  # errors are ignored


def _torch_shared_empty(nbytes: int) -> torch.Tensor:
    import torch

    storage = torch.UntypedStorage._new_shared(nbytes)  # type: ignore[no-untyped-call]
    populate(storage.data_ptr(), nbytes)
    return torch.empty(0, dtype=torch.uint8).set_(storage)


def _in_worker() -> bool:
    from torch.utils.data import get_worker_info

    return get_worker_info() is not None


def shared_empty(shape: tuple[int, ...], dtype: torch.dtype | None = None) -> torch.Tensor:
    """An uninitialised tensor of ``shape`` (``uint8`` unless ``dtype``) in shared memory.

    In a DataLoader worker on Linux it lives in a recycled pool slot (see the module's
    docstring); elsewhere it is PyTorch's fresh shared memory, as ``default_collate`` uses.
    """
    import torch

    dtype = torch.uint8 if dtype is None else dtype
    nbytes = math.prod(shape) * dtype.itemsize
    pool = _worker_pool() if nbytes > 0 and _in_worker() else None
    flat = pool.take(nbytes) if pool is not None else None
    if flat is None:
        flat = _torch_shared_empty(nbytes)
    return flat.view(dtype).view(shape)


# --------------------------------------------------------------------------- sending side
class _Slot:
    """One shared buffer: an anonymous memfd mapped in this process."""

    __slots__ = ("address", "capacity", "fd", "generation", "mm", "token", "with_us")

    def __init__(self, capacity: int) -> None:
        self.fd = os.memfd_create("sparkle-data-shm", os.MFD_CLOEXEC)  # type: ignore[attr-defined,unused-ignore]
        try:
            os.ftruncate(self.fd, _HEADER + capacity)
            self.mm = mmap.mmap(self.fd, _HEADER + capacity, flags=mmap.MAP_SHARED)
        except BaseException:
            os.close(self.fd)
            raise
        self.capacity = capacity
        self.token = secrets.token_bytes(16)
        self.mm[_TOKEN] = self.token
        view = np.frombuffer(self.mm, dtype=np.uint8, count=1)
        self.address = int(view.ctypes.data)
        del view
        populate(self.address + _HEADER, capacity)
        self.generation = 0
        self.with_us = False
        """True while a tensor of this process still uses the slot."""

    @property
    def free(self) -> bool:
        return not self.with_us and self.mm[_HELD] == 0

    def close(self) -> None:
        self.mm[_RETIRED] = 1  # a receiver that still maps it drops its mapping
        with contextlib.suppress(BufferError):  # an array still uses it: unmapped with it
            self.mm.close()
        os.close(self.fd)


class _Pool:
    """The slots of one worker process."""

    def __init__(self, max_slots: int, max_bytes: int) -> None:
        self.max_slots = max_slots
        self.max_bytes = max_bytes
        self.slots: list[_Slot] = []
        self.by_address: dict[int, _Slot] = {}
        self.lock = threading.Lock()
        self.reused = 0
        self.created = 0
        self.fallbacks = 0

    def _bytes(self) -> int:
        return sum(s.capacity for s in self.slots)

    def _pick(self, nbytes: int) -> _Slot | None:
        free = [s for s in self.slots if s.free]
        fitting = [s for s in free if s.capacity >= nbytes]
        if fitting:
            self.reused += 1
            return min(fitting, key=lambda s: s.capacity)
        capacity = -(-nbytes // _ROUND) * _ROUND
        while free and (
            len(self.slots) >= self.max_slots or self._bytes() + capacity > self.max_bytes
        ):
            self._drop(free.pop())
        if len(self.slots) >= self.max_slots or self._bytes() + capacity > self.max_bytes:
            self.fallbacks += 1
            return None
        try:
            slot = _Slot(capacity)
        except OSError:
            self.fallbacks += 1
            return None
        self.slots.append(slot)
        self.by_address[slot.address + _HEADER] = slot
        self.created += 1
        return slot

    def _drop(self, slot: _Slot) -> None:
        self.slots.remove(slot)
        del self.by_address[slot.address + _HEADER]
        slot.close()

    def take(self, nbytes: int) -> torch.Tensor | None:
        import torch

        with self.lock:
            slot = self._pick(nbytes)
            if slot is None:
                return None
            slot.with_us = True
            slot.generation += 1
        array = np.frombuffer(slot.mm, dtype=np.uint8, count=nbytes, offset=_HEADER)
        weakref.finalize(array, _left_us, slot)
        return torch.from_numpy(array)

    def owner(self, address: int, nbytes: int) -> _Slot | None:
        slot = self.by_address.get(address)
        return slot if slot is not None and nbytes <= slot.capacity else None


def _left_us(slot: _Slot) -> None:
    slot.with_us = False


_POOL: _Pool | None = None
_POOL_PID = 0
_POOL_LOCK = threading.Lock()


def _worker_pool() -> _Pool | None:
    """This worker's pool (created on first use, with the reducer that sends its slots)."""
    global _POOL, _POOL_PID
    if not hasattr(os, "memfd_create") or not sys.platform.startswith("linux"):
        return None
    with _POOL_LOCK:
        if _POOL is None or os.getpid() != _POOL_PID:
            slots = _env_int("SPARKLE_DATA_SHM_POOL", 12)
            megabytes = _env_int("SPARKLE_DATA_SHM_POOL_MB", 6144)
            if slots == 0 or megabytes == 0:
                return None
            _POOL = _Pool(slots, megabytes << 20)
            _POOL_PID = os.getpid()
            _install_reducer()
        return _POOL


def pool_stats() -> dict[str, int]:
    """This process's pool counters: slots ``created``, ``reused``, ``fallbacks`` to fresh
    shared memory, current ``slots`` and their ``bytes`` (all zero outside workers)."""
    pool = _POOL if os.getpid() == _POOL_PID else None
    if pool is None:
        return {"created": 0, "reused": 0, "fallbacks": 0, "slots": 0, "bytes": 0}
    with pool.lock:
        return {
            "created": pool.created,
            "reused": pool.reused,
            "fallbacks": pool.fallbacks,
            "slots": len(pool.slots),
            "bytes": pool._bytes(),
        }


def _install_reducer() -> None:
    from multiprocessing.reduction import ForkingPickler

    import torch
    from torch.multiprocessing.reductions import reduce_tensor

    ForkingPickler.register(torch.Tensor, functools.partial(_reduce_tensor, reduce_tensor))


def _reduce_tensor(fallback: Callable[[Any], Any], tensor: torch.Tensor) -> Any:
    import torch

    pool = _POOL
    if (
        pool is None
        or tensor.device.type != "cpu"
        or tensor.layout != torch.strided
        or tensor.requires_grad
    ):
        return fallback(tensor)
    storage = tensor.untyped_storage()
    slot = pool.owner(storage.data_ptr(), storage.nbytes())
    if slot is None:
        return fallback(tensor)
    from multiprocessing.reduction import DupFd

    slot.mm[_HELD] = 1  # held by the receiver from now on; it clears the mark when done
    return (
        _rebuild_tensor,
        (
            DupFd(slot.fd),
            os.getpid(),
            slot.token,
            slot.generation,
            slot.capacity,
            storage.nbytes(),
            str(tensor.dtype).removeprefix("torch."),
            tuple(tensor.size()),
            tuple(tensor.stride()),
            tensor.storage_offset(),
        ),
    )


# ------------------------------------------------------------------------- receiving side
class _Receiver:
    """Mappings of the slots this process has received, and the arrays built on them.

    A mapping is kept (so that a recycled slot costs no new ``mmap``) while its sender lives
    and has not retired the slot, up to ``_RECEIVER_CACHE`` of them; dropping one unmaps it as
    soon as no array uses it, which frees the memory of a slot whose sender is gone.
    """

    def __init__(self) -> None:
        self.maps: OrderedDict[bytes, tuple[int, mmap.mmap]] = OrderedDict()
        self.live: dict[bytes, tuple[int, weakref.ref[np.ndarray[Any, Any]]]] = {}
        self.lock = threading.RLock()

    def sweep(self) -> None:
        """Drop the mappings of retired slots and of senders that have exited."""
        alive: dict[int, bool] = {}
        for token, (pid, mm) in list(self.maps.items()):
            if pid not in alive:
                alive[pid] = _alive(pid)
            if not alive[pid] or mm[_RETIRED]:
                del self.maps[token]

    def mapping(self, pid: int, token: bytes, fd: int, capacity: int) -> mmap.mmap:
        self.sweep()
        held = self.maps.get(token)
        if held is not None:
            self.maps.move_to_end(token)
            return held[1]
        flags = mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0)
        mm = mmap.mmap(fd, _HEADER + capacity, flags=flags)
        if mm[_TOKEN] != token:
            mm.close()
            raise ValueError(
                f"Invalid shared tensor from process {pid}: the buffer's token does not match "
                "the message (the sender reused or closed it). This is a bug: please report it."
            )
        self.maps[token] = (pid, mm)
        while len(self.maps) > _RECEIVER_CACHE:
            self.maps.popitem(last=False)  # unmapped once no array uses it
        return mm

    def array(self, token: bytes, generation: int, mm: mmap.mmap, nbytes: int) -> Any:
        held = self.live.get(token)
        if held is not None and held[0] == generation:
            array = held[1]()
            if array is not None and array.size >= nbytes:
                return array
        array = np.frombuffer(mm, dtype=np.uint8, count=nbytes, offset=_HEADER)
        self.live[token] = (generation, weakref.ref(array))
        weakref.finalize(array, _release, self, token, generation, mm, os.getpid())
        return array

    def forget(self) -> None:
        """In a forked child: drop the inherited cache (the parent owns those buffers)."""
        self.lock = threading.RLock()
        self.maps.clear()
        self.live.clear()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _release(receiver: _Receiver, token: bytes, generation: int, mm: mmap.mmap, owner: int) -> None:
    if os.getpid() != owner:
        return  # a forked child dropping its inherited copy: the parent still holds the buffer
    with receiver.lock:
        held = receiver.live.get(token)
        if held is not None and held[0] == generation:
            del receiver.live[token]
    if not mm.closed:
        mm[_HELD] = 0  # the sender may reuse the slot now


_RECEIVER = _Receiver()


def _before_fork() -> None:
    # New workers are about to start: let the mappings of exited ones go first, so that no
    # child keeps their memory alive through an inherited mapping.
    with _RECEIVER.lock:
        _RECEIVER.sweep()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork, after_in_child=_RECEIVER.forget)


def _rebuild_tensor(
    dup: Any,
    pid: int,
    token: bytes,
    generation: int,
    capacity: int,
    nbytes: int,
    dtype: str,
    size: tuple[int, ...],
    stride: tuple[int, ...],
    offset: int,
) -> torch.Tensor:
    import torch

    fd = dup.detach()
    try:
        with _RECEIVER.lock:
            mm = _RECEIVER.mapping(pid, token, fd, capacity)
            array = _RECEIVER.array(token, generation, mm, nbytes)
    finally:
        os.close(fd)
    storage = torch.from_numpy(array).untyped_storage()
    return torch.empty(0, dtype=getattr(torch, dtype)).set_(storage, offset, size, stride)
