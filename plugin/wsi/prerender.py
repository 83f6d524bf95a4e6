"""Work done in the background, before anyone asks: pre-rendering stable series, warming instances' first frames.

Both run on one thread each, started on first use, and stop at Orthanc's shutdown (`stop`, called on
ORTHANC_STOPPED and again by Python's thread shutdown). Neither may take Orthanc down: every failure is logged
and the work moves on; their queues are bounded and a full queue refuses new work (logged).

- PreRenderer: once Orthanc reports a series stable (no new instance for StableAge seconds), every tile of its
  default plane that must be decoded and re-encoded (JPEG 2000, native, ...) is rendered into the disk cache,
  as lossless WebP (browsers) and PNG (other clients), smallest level first. It yields to interactive requests:
  it waits while any request is in flight or was answered in the last IDLE_SECONDS, and after each tile sleeps
  so that its own time stays within PreRenderCPUShare of one core.
  Progress is logged every tenth and shown by `progress()`.
- FrameWarmer: when a pyramid is asked for, frame 0 of each of its instances is read once (the instance of
  each level's first tile, smallest level first, then the others): Orthanc parses a whole instance (10 MB and
  more for a base level) on its first frame, and the viewer's first tile of that level no longer pays it.
  The same read checks the frame's JPEG header for the frame map, which the pyramid request decides from the
  tags alone (FrameSource.check_first_frame: an instance whose first frame fails leaves the map).
  It too waits for a quiet moment before each read: orthanc-python 4.0 holds the GIL during the read, so a
  parse would otherwise stall the viewer's first burst of top-level tiles.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator

from . import codec
from .errors import NotFound
from .series import SeriesModel

log = logging.getLogger(__name__)

IDLE_SECONDS = 0.05  # quiet time after the last request before pre-rendering resumes
_POLL_SECONDS = 0.01
_PROGRESS_KEPT = 256  # series whose pre-render progress is remembered
_WARMED_KEPT = 4096  # instance versions whose first frame has been read
_WARM_QUEUE = 256
# What /wsi/tiles sends for a tile that must be re-encoded: lossless WebP to browsers, PNG to other clients
# (accept.choose_tile_media_type). WebP first: the viewer's.
RENDERED = ("image/webp", "image/png")


class Activity:
    """Interactive requests in flight and when the last one ended (a lock is about 0.2 us a request)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._in_flight = 0
        self._last_end = 0.0

    def enter(self) -> None:
        with self._lock:
            self._in_flight += 1

    def leave(self) -> None:
        with self._lock:
            self._in_flight -= 1
            self._last_end = self._clock()

    def idle(self, quiet_seconds: float = IDLE_SECONDS) -> bool:
        return self._in_flight == 0 and self._clock() - self._last_end >= quiet_seconds


class _Worker:
    """One daemon thread taking items from a bounded queue until stopped."""

    name = "wsi-worker"

    def __init__(self, queue_size: int) -> None:
        self._queue: queue.Queue = queue.Queue(queue_size)
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def _offer(self, item: object) -> bool:
        if self._stopping.is_set():
            return False
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            return False
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
                self._thread.start()
        return True

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                item = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            try:
                self._work(item)
            except Exception:  # a worker that dies silently would leave its queue to fill up
                log.exception("%s: failed on %r", self.name, item)

    def _work(self, item: object) -> None:
        raise NotImplementedError

    def stop(self, timeout: float = 10.0) -> bool:
        """Stop taking work and wait for the current item; True when the thread has ended."""
        self._stopping.set()
        thread = self._thread
        if thread is None or thread is threading.current_thread():
            return True
        thread.join(timeout)
        return not thread.is_alive()


class PreRenderer(_Worker):
    name = "wsi-prerender"

    def __init__(self, service, activity: Activity, cpu_share: float = 0.25, queue_size: int = 16) -> None:
        super().__init__(queue_size)
        self._service = service
        self._activity = activity
        self._cpu_share = cpu_share
        self._progress: OrderedDict[str, dict] = OrderedDict()

    def submit(self, series_id: str) -> bool:
        """Queue a series (Orthanc said it is stable); False when the queue is full or we are stopping."""
        with self._lock:
            known = self._progress.get(series_id)
            if known is not None and known["State"] in ("queued", "running"):
                return True
        # Marked before it is queued: the worker may take it at once, and its progress must not be overwritten.
        self._set(series_id, State="queued", Done=0, Total=None)
        if not self._offer(series_id):
            self._set(series_id, State="refused")
            if not self._stopping.is_set():
                log.warning("pre-render queue full (PreRenderQueueSize): series %s not pre-rendered", series_id)
            return False
        return True

    def progress(self, series_id: str) -> dict | None:
        with self._lock:
            found = self._progress.get(series_id)
            return dict(found) if found is not None else None

    def _set(self, series_id: str, **values: object) -> None:
        with self._lock:
            entry = self._progress.pop(series_id, {})
            entry.update(values)
            self._progress[series_id] = entry
            while len(self._progress) > _PROGRESS_KEPT:
                self._progress.popitem(last=False)

    def _work(self, series_id: str) -> None:
        try:
            model = self._service.series.wsi_model(series_id)
        except NotFound:
            self._set(series_id, State="skipped", Total=0)  # not a whole-slide series (or deleted meanwhile)
            return
        positions = list(_positions(model))
        self._set(series_id, State="running", Total=len(positions))
        log.info("pre-render of series %s: %d tiles", series_id, len(positions))
        started, rendered, failed = time.monotonic(), 0, 0
        for done, (level, tx, ty) in enumerate(positions, 1):
            if not self._wait_until_idle():
                self._set(series_id, State="stopped", Done=done - 1)
                log.warning("pre-render of series %s stopped at %d of %d tiles", series_id, done - 1, len(positions))
                return
            began = time.process_time()
            try:
                rendered += self._render(model, level, tx, ty)
            except Exception as error:  # a damaged frame must not stop the rest
                failed += 1
                if failed == 1:
                    log.warning("pre-render of series %s: tile %d/%d/%d failed: %s", series_id, level, tx, ty, error)
            self._set(series_id, Done=done, Rendered=rendered, Failed=failed)
            if done * 10 // len(positions) != (done - 1) * 10 // len(positions):
                log.info("pre-render of series %s: %d of %d tiles (%d rendered)", series_id, done, len(positions),
                         rendered)
            # Our time stays within cpu_share of one core: sleep (1 - share) / share of the CPU time the tile took.
            # The process's CPU time: a frame decodes on several threads (DecodeThreads), and nothing else runs
            # meanwhile (we only start when no request is in flight).
            self._stopping.wait((time.process_time() - began) * (1 - self._cpu_share) / self._cpu_share)
        self._set(series_id, State="done")
        log.info("pre-render of series %s done: %d tiles rendered, %d failed, in %.1f s", series_id, rendered,
                 failed, time.monotonic() - started)

    def _wait_until_idle(self) -> bool:
        """Wait while interactive requests run; False when stopping."""
        while not self._activity.idle():
            if self._stopping.wait(_POLL_SECONDS):
                return False
        return not self._stopping.is_set()

    def _render(self, model: SeriesModel, level: int, tx: int, ty: int) -> int:
        """Render one tile into the disk cache, in each format a client may be sent (RENDERED), unless it goes
        out as stored or is there already; 1 if rendered. The frame is decoded once (the service's pixel cache)."""
        frames = self._service.frames
        tile = frames.tile(model, level, tx, ty)
        if tile.ref is None or frames.stored_media_type(tile) == "image/jpeg":
            return 0
        missing = [m for m in RENDERED if not self._service.has_derivative(tile, m)]
        for media_type in missing:
            self._service.tile_bytes(tile, media_type)
        return int(bool(missing))


def _positions(model: SeriesModel) -> Iterator[tuple[int, int, int]]:
    """Every tile of the default plane, smallest level first (what a viewer shows first)."""
    for level in reversed(range(len(model.levels))):
        lv = model.levels[level].level
        for ty in range(lv.tiles_y):
            for tx in range(lv.tiles_x):
                yield level, tx, ty


class FrameWarmer(_Worker):
    name = "wsi-warm-frames"

    def __init__(self, frames, activity: Activity) -> None:
        super().__init__(_WARM_QUEUE)
        self._frames = frames
        self._activity = activity
        self._warmed: OrderedDict[tuple[str, str], None] = OrderedDict()

    def warm(self, model: SeriesModel) -> None:
        """Queue frame 0 of each of the slide's instances not warmed yet, smallest level first."""
        order = []
        for level_model in reversed(model.levels):
            ref = level_model.frames.lookup((0, 0, model.default_optical_path, model.default_focal_plane))
            if ref is not None:
                order.append(ref[0])
        order = list(dict.fromkeys(order)) + sorted(set(model.versions) - set(order))
        for instance_id in order:
            key = (instance_id, model.versions.get(instance_id, ""))
            with self._lock:
                if key in self._warmed:
                    continue
                self._warmed[key] = None
                while len(self._warmed) > _WARMED_KEPT:
                    self._warmed.popitem(last=False)
            if not self._offer((model, instance_id)):
                with self._lock:
                    self._warmed.pop(key, None)  # try again on the next pyramid request
                return

    def _work(self, item: tuple[SeriesModel, str]) -> None:
        model, instance_id = item
        if instance_id not in model.pixel_tags:
            return  # not an image of the pyramid
        fmt = self._frames.slide_format(model, instance_id)
        if codec.orthanc_cannot_split(fmt):
            return  # read whole for each tile anyway (frame_source._cut_native_frame)
        while not self._activity.idle():
            if self._stopping.wait(_POLL_SECONDS):
                return
        try:
            self._frames.check_first_frame(model, instance_id)
        except Exception as error:  # the tile request will say what is wrong
            log.debug("warming frame 0 of instance %s: %s", instance_id, error)
