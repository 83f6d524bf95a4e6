import threading

import numpy as np
from wsi.cache import ByteBudgetLRU


def test_evicts_least_recently_used_within_budget():
    cache = ByteBudgetLRU(400)
    for key in "abc":
        cache.put(key, b"x" * 100)
    assert cache.get("a") == b"x" * 100  # a is now the most recent
    cache.put("d", b"y" * 100)
    cache.put("e", b"z" * 100)
    assert cache.get("b") is None and cache.get("a") is not None
    assert cache.used_bytes <= 400


def test_huge_value_is_not_cached():
    cache = ByteBudgetLRU(1000)
    cache.put("small", b"s")
    cache.put("big", b"b" * 600)
    assert cache.get("big") is None and cache.get("small") == b"s"


def test_arrays_cost_their_bytes_and_discard_by_predicate():
    cache = ByteBudgetLRU(10_000)
    cache.put(("s1", 1), np.zeros((10, 10, 3), np.uint8))
    cache.put(("s2", 1), np.zeros((10, 10, 3), np.uint8))
    assert cache.used_bytes == 600
    cache.discard(lambda key: key[0] == "s1")
    assert cache.get(("s1", 1)) is None and len(cache) == 1 and cache.used_bytes == 300


def test_concurrent_puts_keep_accounting_exact():
    cache = ByteBudgetLRU(5000)

    def work(n):
        for i in range(500):
            cache.put((n, i % 50), b"x" * 10)
            cache.get((n, (i * 7) % 50))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert cache.used_bytes == 10 * len(cache) <= 5000
