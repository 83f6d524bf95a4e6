"""RenderGate: a bounded number of IIIF renders at once, each within a time budget, memory handed back.

Orthanc runs every REST callback on one of its HTTP threads (50 by default). Without a gate each thread
may render a maxArea image at once, and the process's memory is that many renders. Large renders (more
output or decoding than `large_pixels`) take one of `slots` places, small ones (a viewer's IIIF tiles,
thumbnails) one of SMALL_SLOTS_PER_SLOT x `slots` places of their own, so small renders never wait
behind large ones. A request that finds no place within `queue_seconds` is refused with `Overloaded`
(503 + Retry-After) instead of queueing without bound. Every render gets a `Deadline` checked between
tiles and bands. Memory held by renders is therefore at most
slots x (large render + SMALL_SLOTS_PER_SLOT x small render) (docs/limits.md).

glibc serves each thread from its own malloc arena and keeps freed memory there: after a handful of
large renders on different threads the process stayed near 3.8 GB though everything was freed
(docs/limits.md). After each large render `release_memory` asks glibc to give free pages back.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from .allocator import release_memory
from .errors import Overloaded

log = logging.getLogger(__name__)

# Decoding a tile costs about as much as a quarter of an output pixel's share of a render: a render is
# large when its output or a quarter of the source pixels it decodes is over the threshold.
SOURCE_WEIGHT = 4
SMALL_SLOTS_PER_SLOT = 4


class Deadline:
    """A request's time budget; `check()` raises Overloaded once it is spent."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self._end = clock() + seconds

    def check(self) -> None:
        if self._clock() > self._end:
            raise Overloaded(f"the image took longer than {self.seconds:g} s to render "
                             "(WholeSlideImaging.IIIFRenderTimeoutSeconds); ask for a smaller size",
                             retry_after=math.ceil(self.seconds))


class RenderGate:
    """Admission of IIIF renders; one per App, shared by every HTTP thread."""

    def __init__(self, slots: int = 2, queue_seconds: float = 10.0, large_pixels: int = 1 << 20,
                 timeout_seconds: float = 30.0, release: Callable[[], None] = release_memory,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.slots = slots
        self.queue_seconds = queue_seconds
        self.large_pixels = large_pixels
        self.timeout_seconds = timeout_seconds
        self._large = threading.BoundedSemaphore(slots)
        self._small = threading.BoundedSemaphore(slots * SMALL_SLOTS_PER_SLOT)
        self._release = release
        self._clock = clock

    def is_large(self, output_pixels: int, source_pixels: int) -> bool:
        return max(output_pixels, source_pixels // SOURCE_WEIGHT) > self.large_pixels

    @contextmanager
    def admit(self, output_pixels: int, source_pixels: int) -> Iterator[Deadline]:
        """Run one render: waits for a place (at most queue_seconds), yields its Deadline."""
        large = self.is_large(output_pixels, source_pixels)
        places = self._large if large else self._small
        # Waiting releases the GIL: the other threads go on rendering meanwhile.
        if not places.acquire(timeout=self.queue_seconds):
            kind = "large" if large else "small"
            raise Overloaded(f"every place for {kind} images was taken for {self.queue_seconds:g} s "
                             "(WholeSlideImaging.IIIFMaxConcurrentRenders); retry later",
                             retry_after=max(1, math.ceil(self.queue_seconds)))
        try:
            yield Deadline(self.timeout_seconds, self._clock)
        finally:
            places.release()
            if large:
                self._release()
