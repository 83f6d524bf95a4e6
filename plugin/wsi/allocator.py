"""glibc's malloc inside Orthanc: where freed memory goes (docs/limits.md, "Memory over time").

Measured in the soak (docs/soak.md): glibc raises its mmap threshold each time a large block is freed (up to 32
MB), after which tiles, answers and renders of 0.1 to 10 MB come from the arenas' heaps, where the holes they
leave behind are rarely given back: the arenas held 170 MB free after 3 minutes, and grew. With the threshold
fixed (mallopt M_MMAP_THRESHOLD, which also stops the dynamic adjustment), each such block is its own mapping,
returned to the system when freed. The number of arenas is Orthanc's own option `MallocArenaMax` (mallopt
M_ARENA_MAX, 5 by default since Orthanc 1.8.2; 5 arenas measured in the soak with 48 HTTP threads), so the
plugin leaves it alone. `release_memory` (malloc_trim) gives back free pages after large renders.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

M_MMAP_THRESHOLD = -3  # glibc malloc.h


def _load_libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        libc.malloc_trim  # noqa: B018  glibc only: musl and others have no malloc_trim nor these mallopt options
        libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    except (OSError, AttributeError):
        return None
    return libc


_LIBC = _load_libc()


def release_memory() -> None:
    """Give the pages freed by a large render back to the system (glibc `malloc_trim`, every arena).

    ctypes releases the GIL during the call, so other requests go on meanwhile.
    """
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def configure_malloc(mmap_threshold_kb: int) -> str:
    """Apply the setting (0: leave glibc's moving threshold); returns what was done, for the start-up log."""
    if _LIBC is None:
        return "not glibc: malloc settings left alone"
    if mmap_threshold_kb <= 0:
        return "mmap threshold glibc's own (moving)"
    value = mmap_threshold_kb * 1024
    if _LIBC.mallopt(M_MMAP_THRESHOLD, value) != 1:
        return f"mmap threshold {value} bytes REFUSED by glibc"
    return f"mmap threshold {value} bytes"
