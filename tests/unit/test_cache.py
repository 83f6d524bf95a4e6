import threading

import numpy as np
from wsi.cache import ENTRY_OVERHEAD, ByteBudgetLRU, size_of

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


def test_arrays_cost_their_bytes_and_discard_by_predicate():
    cache = ByteBudgetLRU(10_000)
    cache.put(("s1", 1), np.zeros((10, 10, 3), np.uint8))
    cache.put(("s2", 1), np.zeros((10, 10, 3), np.uint8))
    assert cache.used_bytes == 2 * (300 + OVERHEAD)
    cache.discard(lambda key: key[0] == "s1")
    assert cache.get(("s1", 1)) is None and len(cache) == 1 and cache.used_bytes == 300 + OVERHEAD


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
