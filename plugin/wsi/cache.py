"""A thread-safe LRU bounded by the bytes it holds (Orthanc calls us from several HTTP threads)."""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

# What an entry costs beyond its value: the key tuple, the OrderedDict node and object headers.
ENTRY_OVERHEAD = 256


def _buffer_bytes(value: Any) -> int | None:
    """Bytes of the memory a buffer keeps alive: a numpy view keeps its whole base array."""
    while getattr(value, "base", None) is not None:  # numpy views, down to the array owning the memory
        value = value.base
    if isinstance(value, memoryview):
        value = value.obj if value.obj is not None else value
    if isinstance(value, bytes | bytearray):
        return len(value)
    nbytes = getattr(value, "nbytes", None)
    return nbytes if isinstance(nbytes, int) else None


def size_of(value: Any) -> int:
    """Bytes a cached value costs: buffers and arrays by the memory they keep alive, anything else roughly."""
    held = _buffer_bytes(value)
    if held is not None:
        own = getattr(value, "nbytes", held)
        return max(held, own if isinstance(own, int) else held)
    if isinstance(value, tuple):
        return sum(size_of(v) for v in value) + 64
    return sys.getsizeof(value)


class ByteBudgetLRU:
    def __init__(self, budget_bytes: int, sizer: Callable[[Any], int] = size_of) -> None:
        self.budget_bytes = max(0, budget_bytes)
        self._sizer = sizer
        self._items: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._used = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Any | None:
        with self._lock:
            found = self._items.get(key)
            if found is None:
                return None
            self._items.move_to_end(key)
            return found[0]

    def put(self, key: Hashable, value: Any, size: int | None = None) -> None:
        cost = (self._sizer(value) if size is None else size) + ENTRY_OVERHEAD
        if cost > self.budget_bytes // 4:
            return  # one huge value must not flush everything else
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._used -= old[1]
            self._items[key] = (value, cost)
            self._used += cost
            while self._used > self.budget_bytes and self._items:
                _, (_, freed) = self._items.popitem(last=False)
                self._used -= freed

    def discard(self, predicate: Callable[[Hashable], bool]) -> None:
        with self._lock:
            for key in [k for k in self._items if predicate(k)]:
                self._used -= self._items.pop(key)[1]

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._used = 0

    @property
    def used_bytes(self) -> int:
        return self._used

    def __len__(self) -> int:
        return len(self._items)
