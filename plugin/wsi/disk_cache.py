"""DiskCache: encoded derivatives (tiles decoded and re-encoded, IIIF renders) kept on disk under a byte budget,
and the instance tags a slide's model is built from (SeriesRepository._model_tags: dear for Orthanc to make).

Shared safely by several Orthancs (one host, or a folder all mount) and across restarts:
- an entry's file name is the SHA-256 of its key, and every key carries the version (FileUuid) of what it was
  made from: a changed instance gets new names, never an old file;
- a file is written under a temporary name and renamed (atomic on POSIX): a reader sees a whole file or none,
  even when the writer is killed; temporary files left by a killed writer are removed at start once old;
- each file starts with its key and its body's length, checked on read: a truncated or foreign file is a miss;
- LRU by modification time (touched on a hit at most once a minute); eviction deletes the oldest files until
  the folder is under 90% of the budget, tolerating files another process deleted first. Each process re-counts
  the folder when its own count passes the budget and at least every RECOUNT_SECONDS while it writes, so
  several writers overshoot by at most what they write in that time.

Why not diskcache (PyPI): its LRU policy writes to its SQLite index on every read (a write transaction, and
a lock shared by every Orthanc on the folder, on the path of each request); its files are written in place, so
a killed writer leaves a partial file that only its `check()` finds. Here a read is one open() and no lock.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import struct
import threading
import time
from collections.abc import Hashable
from pathlib import Path

log = logging.getLogger(__name__)

_MAGIC = b"WSIDC1\n"
_HEAD = struct.Struct("<IQ")  # key length, body length
RECOUNT_SECONDS = 30.0
TOUCH_SECONDS = 60.0
STALE_TEMP_SECONDS = 600.0  # a temporary file this old belongs to a writer that died
_LOW_WATER = 0.9


def key_text(key: Hashable) -> bytes:
    """The key as stored and hashed: repr of tuples of str and int is stable across processes and versions."""
    return repr(key).encode()


class DiskCache:
    def __init__(self, folder: Path | str, budget_bytes: int) -> None:
        self.folder = Path(folder) / "v1"
        self.budget_bytes = budget_bytes
        self.folder.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._evicting = threading.Lock()
        self._used = 0
        self._counted_at = 0.0  # monotonic time of the last count (0: never)
        self.hits = self.misses = self.writes = self.evicted = 0
        self._count(remove_stale_temp=True)

    def _path(self, text: bytes) -> Path:
        digest = hashlib.sha256(text).hexdigest()
        return self.folder / digest[:2] / digest[2:]

    # ---- reading ----------------------------------------------------------------------------------
    def get(self, key: Hashable) -> bytes | None:
        text = key_text(key)
        path = self._path(text)
        try:
            # Unbuffered, head then body: the body is read straight into the bytes we answer with (a buffered
            # read of the whole file, then a slice, copied a 350 kB tile once more: about 0.4 ms of 1.2).
            with open(path, "rb", buffering=0) as file:
                status = os.fstat(file.fileno())
                head = file.read(_head_length(text))
                body = file.read(max(0, status.st_size - len(head)))
                modified = status.st_mtime
        except OSError:
            self.misses += 1
            return None
        body = _unpack(head, body, text)
        if body is None:
            log.warning("derivative cache: %s is not a whole entry for its key: removed", path.name)
            with contextlib.suppress(OSError):
                path.unlink()
            self.misses += 1
            return None
        if time.time() - modified > TOUCH_SECONDS:  # LRU by mtime, without a write on every hit
            with contextlib.suppress(OSError):
                os.utime(path)
        self.hits += 1
        return body

    # ---- writing ----------------------------------------------------------------------------------
    def put(self, key: Hashable, body: bytes) -> None:
        """Store an entry (best effort: a full disk or a read-only folder is logged, never raised)."""
        text = key_text(key)
        size = len(_MAGIC) + _HEAD.size + len(text) + len(body)
        if size > self.budget_bytes // 8:
            return  # one huge render must not flush the cache
        path = self._path(text)
        temp = path.parent / f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp"
        try:
            path.parent.mkdir(exist_ok=True)
            with open(temp, "wb") as file:
                file.write(_MAGIC + _HEAD.pack(len(text), len(body)) + text)
                file.write(body)
            os.replace(temp, path)
        except OSError as error:
            log.warning("derivative cache: could not write an entry (%s)", error)
            with contextlib.suppress(OSError):
                temp.unlink()
            return
        with self._lock:
            self._used += size
            self.writes += 1
            over = self._used > self.budget_bytes or time.monotonic() - self._counted_at > RECOUNT_SECONDS
        if over:
            self._evict()

    # ---- budget -----------------------------------------------------------------------------------
    def _files(self) -> list[tuple[float, int, str]]:
        """(mtime, size, path) of every entry; files deleted meanwhile by another process are skipped."""
        found = []
        with contextlib.suppress(FileNotFoundError), os.scandir(self.folder) as shards:
            for shard in shards:
                if not shard.is_dir(follow_symlinks=False):
                    continue
                with contextlib.suppress(FileNotFoundError), os.scandir(shard.path) as entries:
                    for entry in entries:
                        with contextlib.suppress(FileNotFoundError):
                            stat = entry.stat(follow_symlinks=False)
                            found.append((stat.st_mtime, stat.st_size, entry.path))
        return found

    def _count(self, remove_stale_temp: bool = False) -> list[tuple[float, int, str]]:
        files = self._files()
        if remove_stale_temp:
            old = time.time() - STALE_TEMP_SECONDS
            for mtime, _, path in files:
                if os.path.basename(path).startswith(".") and mtime < old:
                    with contextlib.suppress(OSError):
                        os.unlink(path)
        with self._lock:
            self._used = sum(size for _, size, _ in files)
            self._counted_at = time.monotonic()
        return files

    def _evict(self) -> None:
        """Delete the least recently used files until under the low-water mark (one evicting thread at a time)."""
        if not self._evicting.acquire(blocking=False):
            return
        try:
            files = self._count()
            used, target = self._used, int(self.budget_bytes * _LOW_WATER)
            if used <= self.budget_bytes:
                return
            removed = 0
            for _, size, path in sorted(files):
                if used <= target:
                    break
                if os.path.basename(path).startswith("."):
                    continue  # another writer's file being written
                with contextlib.suppress(FileNotFoundError):  # another Orthanc may have deleted it first
                    os.unlink(path)
                    removed += 1
                used -= size
            with self._lock:
                self._used = used
                self.evicted += removed
            log.info("derivative cache: %d files evicted, %.1f of %.1f MB used", removed, used / 1e6,
                     self.budget_bytes / 1e6)
        finally:
            self._evicting.release()

    @property
    def used_bytes(self) -> int:
        return self._used

    def stats(self) -> dict[str, int]:
        return {"Hits": self.hits, "Misses": self.misses, "Writes": self.writes, "Evicted": self.evicted,
                "UsedBytes": self._used, "BudgetBytes": self.budget_bytes}


def _head_length(text: bytes) -> int:
    return len(_MAGIC) + _HEAD.size + len(text)


def _unpack(head: bytes, body: bytes, text: bytes) -> bytes | None:
    """`body` if the entry read as `head` (magic, lengths, key) and `body` is whole and for this key; else None."""
    start = len(_MAGIC) + _HEAD.size
    if len(head) != _head_length(text) or not head.startswith(_MAGIC):
        return None
    key_length, body_length = _HEAD.unpack_from(head, len(_MAGIC))
    if key_length != len(text) or head[start:] != text or len(body) != body_length:
        return None
    return body
