import threading
import time

import numpy as np
import pytest
from wsi.cache import ENTRY_OVERHEAD, ByteBudgetLRU, Memo, SingleFlight, size_of
from wsi.errors import NotFound, Overloaded

OVERHEAD = ENTRY_OVERHEAD


def test_evicts_least_recently_used_within_budget():
    cache = ByteBudgetLRU(4 * (100 + OVERHEAD))
    for key in "abc":
        cache.put(key, b"x" * 100)
    assert cache.get("a") == b"x" * 100  # a is now the most recent
    cache.put("d", b"y" * 100)
    cache.put("e", b"z" * 100)
    assert cache.get("b") is None and cache.get("a") is not None
    assert cache.used_bytes <= 4 * (100 + OVERHEAD)


def test_huge_value_is_not_cached():
    cache = ByteBudgetLRU(4000)
    cache.put("small", b"s")
    cache.put("big", b"b" * 2000)  # over a quarter of the budget: would flush everything else
    cache.put("bigger than the budget", b"b" * 5000)
    assert cache.get("big") is None and cache.get("bigger than the budget") is None
    assert cache.get("small") == b"s" and len(cache) == 1


def test_arrays_cost_their_bytes():
    cache = ByteBudgetLRU(10_000)
    cache.put(("s1", 1), np.zeros((10, 10, 3), np.uint8))
    cache.put(("s2", 1), np.zeros((10, 10, 3), np.uint8))
    assert cache.used_bytes == 2 * (300 + OVERHEAD) and len(cache) == 2


def test_a_view_costs_the_whole_array_it_keeps_alive():
    big = np.zeros((100, 100, 3), np.uint8)
    assert size_of(big[:10, :10]) == big.nbytes  # a cached crop holds all of `big`
    assert size_of(np.frombuffer(b"x" * 1000, np.uint8)[:10]) == 1000
    assert size_of(memoryview(b"y" * 500)[:5]) == 500
    assert size_of(np.ascontiguousarray(big[:10, :10])) == 300


def test_budget_counts_what_is_really_held():
    cache = ByteBudgetLRU(200_000)
    frame = np.zeros((100, 100, 3), np.uint8)  # 30 kB
    cache.put("a", frame[:10])  # 3 kB view of 30 kB
    assert cache.used_bytes == frame.nbytes + OVERHEAD


def test_concurrent_puts_keep_accounting_exact():
    cache = ByteBudgetLRU(50 * (10 + OVERHEAD))

    def work(n):
        for i in range(500):
            cache.put((n, i % 50), b"x" * 10)
            cache.get((n, (i * 7) % 50))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert cache.used_bytes == (10 + OVERHEAD) * len(cache) <= 50 * (10 + OVERHEAD)


# ---- single-flight --------------------------------------------------------------------------------------------

def run_together(n: int, work) -> list:
    """Start n threads on work() at once; their results or exceptions, in order."""
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def one(i: int) -> None:
        barrier.wait()
        try:
            results[i] = work()
        except BaseException as error:  # the test looks at what each thread got
            results[i] = error

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert not any(t.is_alive() for t in threads)
    return results


def slow(value, calls: list, seconds: float = 0.2):
    def compute():
        calls.append(threading.get_ident())
        time.sleep(seconds)  # long enough for every thread to arrive while it runs
        if isinstance(value, BaseException):
            raise value
        return value
    return compute


def test_concurrent_cold_requests_compute_once_and_share_the_value():
    memo, calls = Memo(1 << 20), []
    results = run_together(16, lambda: memo.get_or_compute("k", slow(b"v" * 10, calls)))
    assert len(calls) == 1 and all(r == b"v" * 10 for r in results)
    assert memo.get_or_compute("k", slow(b"other", calls)) == b"v" * 10 and len(calls) == 1  # kept


def test_an_error_is_given_to_every_waiter_and_nothing_is_kept():
    memo, calls = Memo(1 << 20), []
    results = run_together(8, lambda: memo.get_or_compute("k", slow(NotFound("gone"), calls)))
    assert len(calls) == 1 and all(isinstance(r, NotFound) and str(r) == "gone" for r in results)
    assert len(memo) == 0 and len(memo._flights) == 0
    assert memo.get_or_compute("k", lambda: b"back") == b"back"  # the next request computes again


def test_different_keys_do_not_wait_for_each_other():
    flights, calls = SingleFlight(), []
    started = time.monotonic()
    results = run_together(4, lambda: flights.run(threading.get_ident(), slow(1, calls)))
    assert results == [1] * 4 and len(calls) == 4 and time.monotonic() - started < 0.7


def test_waiting_is_bounded():
    flights, calls = SingleFlight(wait_seconds=0.05), []
    results = run_together(2, lambda: flights.run("k", slow(1, calls, seconds=0.5)))
    assert sorted(type(r).__name__ for r in results) == ["Overloaded", "int"]
    assert any(isinstance(r, Overloaded) and "computing the same" in str(r) for r in results)


def test_asking_again_for_a_key_being_computed_by_the_same_thread_fails_instead_of_hanging():
    flights = SingleFlight()
    with pytest.raises(RuntimeError, match="asked for again"):
        flights.run("k", lambda: flights.run("k", lambda: 1))
    assert len(flights) == 0


def test_an_invalid_cached_value_is_computed_again():
    memo = Memo(1 << 20)
    memo.get_or_compute("k", lambda: ("old", 1))
    assert memo.get_or_compute("k", lambda: ("new", 2), valid=lambda v: v[0] == "new") == ("new", 2)
