"""A small thread-safe LRU of rendered bytes (thumbnails, mask overlays, transcodes)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable

__all__ = ["ByteCache"]


class ByteCache:
    """Keeps at most ``max_bytes`` of values; the least recently used go first.

    ``get_or_make(key, make)`` renders a missing value once per key even when requests race:
    a per-key lock serializes the makers of one key, other keys render in parallel.
    """

    def __init__(self, max_bytes: int = 256 << 20) -> None:
        if max_bytes <= 0:
            raise ValueError(f"Invalid max_bytes {max_bytes!r}: must be > 0.")
        self.max_bytes = max_bytes
        self._items: OrderedDict[Hashable, bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()
        self._key_locks: dict[Hashable, threading.Lock] = {}
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"ByteCache({len(self._items)} items, {self._size}/{self.max_bytes} bytes)"

    def get(self, key: Hashable) -> bytes | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: Hashable, value: bytes) -> None:
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._size -= len(old)
            if len(value) > self.max_bytes:
                return
            self._items[key] = value
            self._size += len(value)
            while self._size > self.max_bytes:
                _, dropped = self._items.popitem(last=False)
                self._size -= len(dropped)

    def get_or_make(self, key: Hashable, make: Callable[[], bytes]) -> bytes:
        value = self.get(key)
        if value is not None:
            self.hits += 1
            return value
        with self._lock:
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            value = self.get(key)
            if value is None:
                self.misses += 1
                value = make()
                self.put(key, value)
            else:
                self.hits += 1
        with self._lock:
            self._key_locks.pop(key, None)
        return value
