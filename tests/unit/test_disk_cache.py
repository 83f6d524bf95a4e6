import os
import threading
import time
from pathlib import Path

from wsi import disk_cache
from wsi.disk_cache import DiskCache
from wsi.prerender import Activity


def entry_paths(cache: DiskCache) -> list[str]:
    return sorted(str(p) for p in cache.folder.glob("*/*"))


def test_an_entry_survives_a_new_instance_and_keys_never_collide(tmp_path):
    first = DiskCache(tmp_path, 1 << 20)
    first.put(("tile", "i1", "v1", 0), b"old pixels")
    again = DiskCache(tmp_path, 1 << 20)  # another process, or after a restart
    assert again.get(("tile", "i1", "v1", 0)) == b"old pixels"
    assert again.get(("tile", "i1", "v2", 0)) is None  # the instance stored again: another key
    assert again.stats()["Hits"] == 1 and again.stats()["Misses"] == 1


def test_a_truncated_or_foreign_file_is_a_miss_and_removed(tmp_path):
    cache = DiskCache(tmp_path, 1 << 20)
    cache.put("a", b"x" * 1000)
    [path] = entry_paths(cache)
    data = Path(path).read_bytes()
    Path(path).write_bytes(data[:-1])
    assert cache.get("a") is None and not os.path.exists(path)
    cache.put("a", b"x" * 1000)
    os.replace(path, path + "-moved")
    cache.put("b", b"y")
    [b_path] = [p for p in entry_paths(cache) if not p.endswith("-moved")]
    os.replace(path + "-moved", b_path)  # the file of "a" under the name of "b"
    assert cache.get("b") is None


def test_eviction_drops_the_least_recently_used_down_to_the_low_water_mark(tmp_path):
    cache = DiskCache(tmp_path, 8000)
    for n in range(10):
        cache.put(("k", n), bytes(900))
        path = cache._path(disk_cache.key_text(("k", n)))
        os.utime(path, (time.time() - 1000 + n, time.time() - 1000 + n))  # older first
    assert cache.used_bytes <= 8000
    assert cache.get(("k", 0)) is None and cache.get(("k", 9)) == bytes(900)
    assert cache.evicted > 0


def test_eviction_tolerates_files_deleted_by_another_process(tmp_path, monkeypatch):
    cache = DiskCache(tmp_path, 4000)
    for n in range(3):
        cache.put(n, bytes(900))
    real_files = cache._files

    def files_then_someone_deletes_them():
        found = real_files()
        for _, _, path in found:
            os.unlink(path)
        return found

    monkeypatch.setattr(cache, "_files", files_then_someone_deletes_them)
    cache.put(3, bytes(900))
    cache.put(4, bytes(900))  # over budget: eviction finds every file gone, and says nothing
    assert cache.get(4) is None


def test_old_temporary_files_of_dead_writers_are_removed_at_start(tmp_path):
    cache = DiskCache(tmp_path, 1 << 20)
    shard = cache.folder / "ab"
    shard.mkdir()
    old, young = shard / ".x.1.2.tmp", shard / ".y.1.2.tmp"
    old.write_bytes(b"partial")
    young.write_bytes(b"being written")
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    DiskCache(tmp_path, 1 << 20)
    assert not old.exists() and young.exists()


def test_concurrent_writers_of_one_key_leave_one_whole_entry(tmp_path):
    cache = DiskCache(tmp_path, 1 << 20)
    body = os.urandom(50_000)
    threads = [threading.Thread(target=cache.put, args=("same", body)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert cache.get("same") == body and len(entry_paths(cache)) == 1


def test_a_value_over_an_eighth_of_the_budget_is_not_kept(tmp_path):
    cache = DiskCache(tmp_path, 8000)
    cache.put("big", bytes(2000))
    assert cache.get("big") is None


def test_activity_is_idle_only_after_a_quiet_time():
    now = [100.0]
    activity = Activity(lambda: now[0])
    assert activity.idle()
    activity.enter()
    assert not activity.idle()
    activity.leave()
    assert not activity.idle(0.05)
    now[0] += 0.06
    assert activity.idle(0.05)
