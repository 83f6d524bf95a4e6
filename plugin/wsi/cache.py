"""Caches of the service layer: a thread-safe LRU bounded by the bytes it holds, single-flight, and `Memo`
(get-or-compute over both). Orthanc calls us from several HTTP threads at once (orthanc-python 5.0 with
AllowThreads even runs them truly in parallel).

Why not cachetools' LRUCache: on the warm tile path a lookup is most of what a request costs in Python, and
ours measured 0.53 us against 1.0 us for cachetools' `get` under the same lock (its LRU order lives in
Python-level bookkeeping on each hit); ours also takes an explicit size for values that are not plain
buffers, and refuses a value over a quarter of the budget rather than flushing everything for it.
"""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from .errors import Overloaded

T = TypeVar("T")

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
    def __init__(self, budget_bytes: int, sizer: Callable[[Any], int] = size_of, largest_share: int = 4) -> None:
        self.budget_bytes = max(0, budget_bytes)
        self.largest_bytes = self.budget_bytes // max(1, largest_share)  # a value over this is not kept
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
        if cost > self.largest_bytes:
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

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._used = 0

    @property
    def used_bytes(self) -> int:
        return self._used

    def __len__(self) -> int:
        return len(self._items)


# How long a request waits for another one computing the same thing before it gives up with 503: longer
# than a render may queue (IIIFRenderQueueSeconds) plus run (IIIFRenderTimeoutSeconds) at their defaults.
FLIGHT_WAIT_SECONDS = 60.0


class _Flight:
    """One computation under way: its owner thread, then its outcome; an Event only once someone waits."""

    __slots__ = ("done", "error", "owner", "value")

    def __init__(self, owner: int) -> None:
        self.owner = owner
        self.value: Any = None
        self.error: BaseException | None = None
        self.done: threading.Event | None = None


class SingleFlight:
    """Concurrent calls for one key compute it once: the first caller computes, the others wait for its result.

    An exception is given to every waiter and nothing is kept; the wait is bounded. Keys must be ordered so
    that a computation only waits for keys of a lower kind (answer -> render -> decoded tile -> raw frame ->
    series), never for its own: a thread asking again for a key it is computing gets an error, not a deadlock.
    A flight nobody waits for costs two lock round trips and no Event (a Future measured 15 calls a flight
    on the cold tile path, which has two flights per tile).
    """

    def __init__(self, wait_seconds: float = FLIGHT_WAIT_SECONDS) -> None:
        self.wait_seconds = wait_seconds
        self._flights: dict[Hashable, _Flight] = {}
        self._lock = threading.Lock()

    def run(self, key: Hashable, compute: Callable[[], T], lookup: Callable[[], T | None] | None = None,
            store: Callable[[T], None] | None = None) -> T:
        """compute() once for all concurrent callers; `lookup` is tried first by the one that computes (a flight
        may have ended, and stored its value, between the caller's own lookup and this call)."""
        me = threading.get_ident()
        with self._lock:
            flight = self._flights.get(key)
            if flight is None:
                mine = self._flights[key] = _Flight(me)
            elif flight.owner == me:
                raise RuntimeError(f"{key!r} asked for again while this thread computes it")
            elif flight.done is None:
                flight.done = threading.Event()
        if flight is not None:
            return self._wait(flight)
        try:
            value = lookup() if lookup else None
            if value is None:
                value = compute()
                if store:
                    store(value)  # before the flight ends: a later caller finds the value or the flight
        except BaseException as error:
            self._land(key, mine, None, error)
            raise
        self._land(key, mine, value, None)
        return value

    def _land(self, key: Hashable, flight: _Flight, value: Any, error: BaseException | None) -> None:
        with self._lock:  # the outcome is set before anyone can see the flight gone or its Event set
            del self._flights[key]
            flight.value, flight.error = value, error
            done = flight.done
        if done is not None:
            done.set()

    def _wait(self, flight: _Flight) -> Any:
        assert flight.done is not None
        if not flight.done.wait(self.wait_seconds):
            raise Overloaded(f"another request has been computing the same image for {self.wait_seconds:g} s",
                             retry_after=int(self.wait_seconds))
        if flight.error is not None:
            raise flight.error
        return flight.value

    def __len__(self) -> int:
        return len(self._flights)


class Memo:
    """Get-or-compute over a ByteBudgetLRU, single-flight: the one place a cached value is computed and stored."""

    def __init__(self, budget_bytes: int, wait_seconds: float = FLIGHT_WAIT_SECONDS, largest_share: int = 4) -> None:
        self._lru = ByteBudgetLRU(budget_bytes, largest_share=largest_share)
        self._flights = SingleFlight(wait_seconds)
        self.get = self._lru.get  # bound once: the warm tile path is a single lookup
        self.put = self._lru.put

    def get_or_compute(self, key: Hashable, compute: Callable[[], T], size: Callable[[T], int] | None = None,
                       valid: Callable[[T], bool] | None = None) -> T:
        """The cached value (if `valid`), else compute() once for all concurrent callers and keep it."""

        def lookup() -> T | None:
            value = self._lru.get(key)
            return value if value is not None and (valid is None or valid(value)) else None

        found = lookup()
        if found is not None:
            return found
        return self._flights.run(key, compute, lookup,
                                 lambda value: self._lru.put(key, value, size(value) if size else None))

    def clear(self) -> None:
        self._lru.clear()

    @property
    def used_bytes(self) -> int:
        return self._lru.used_bytes

    def __len__(self) -> int:
        return len(self._lru)
