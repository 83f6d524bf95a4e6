"""App: settings plus the service, built once by the entry script and handed to every handler."""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field
from typing import Any

from .annotations.access import AnnotationAccess
from .annotations.model import Limits
from .config import Settings
from .dicomize_jobs import DicomizeJobs
from .disk_cache import DiskCache
from .frame_source import FrameLimits
from .prerender import Activity, FrameWarmer, PreRenderer
from .render_gate import RenderGate
from .service import OrthancReader, SlideService

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class App:
    settings: Settings
    service: SlideService
    renders: RenderGate = field(default_factory=RenderGate)  # admission of large IIIF renders
    streams_answers: bool = False  # orthanc-python has streamed answers (5.0+) and StreamLargeAnswers is on
    # Slide exports running at once (export/route.py): each takes a core and disk; more wait, then 503.
    exports: threading.BoundedSemaphore = field(default_factory=lambda: threading.BoundedSemaphore(1))
    dicomize: DicomizeJobs | None = None  # conversion jobs (POST /wsi/dicomize), when the adapter can store
    activity: Activity = field(default_factory=Activity)  # interactive requests in flight (pre-render yields)
    prerender: PreRenderer | None = None  # WholeSlideImaging.PreRender
    warmer: FrameWarmer | None = None  # WholeSlideImaging.WarmFirstFrames
    annotations: Any = None  # AnnotationAccess: the annotation store, built on first use

    def stop(self) -> None:
        """Orthanc is stopping: background work ends before the SDK goes away."""
        if self.dicomize is not None:
            self.dicomize.stop()  # a running conversion is cancelled and undone before Orthanc goes
        for worker in (self.prerender, self.warmer):
            if worker is not None and not worker.stop():
                log.warning("%s did not stop within its timeout", worker.name)


def _disk_cache(settings: Settings) -> DiskCache | None:
    if not settings.derivative_cache_mb or not settings.derivative_cache_folder:
        return None  # off, or Settings built without a configuration (load_settings always names a folder)
    try:
        return DiskCache(settings.derivative_cache_folder, settings.derivative_cache_mb << 20)
    except OSError as error:  # the plugin still works, rendering each time
        log.error("derivative cache disabled: cannot use %s (%s)", settings.derivative_cache_folder, error)
        return None


def use_decode_threads(threads: int) -> None:
    """OpenJPEG reads OPJ_NUM_THREADS each time it creates a decoder (imagecodecs' `numthreads` argument had no
    effect, measured): 2 threads halve a 512x512 lossless frame's decode (58 -> 30 ms) for the same CPU time."""
    os.environ["OPJ_NUM_THREADS"] = str(threads)


def build_app(settings: Settings, orthanc: OrthancReader) -> App:
    use_decode_threads(settings.decode_threads)
    limits = FrameLimits(settings.max_frame_pixels, settings.max_whole_pixel_data_mb << 20)
    service = SlideService(orthanc, settings.cache_size_mb * 1024 * 1024, settings.series_check_seconds,
                           settings.jpeg_quality, settings.png_compression_level, limits=limits,
                           frame_cache_bytes=settings.frame_cache_size_mb << 20,
                           frame_builds=settings.iiif_max_concurrent_renders,
                           frame_build_wait_seconds=settings.iiif_render_queue_seconds,
                           disk=_disk_cache(settings))
    renders = RenderGate(settings.iiif_max_concurrent_renders, settings.iiif_render_queue_seconds,
                         settings.iiif_large_render_pixels, settings.iiif_render_timeout_seconds)
    can_stream = getattr(orthanc, "can_stream", None)
    streams = bool(can_stream and can_stream()) and settings.stream_large_answers
    jobs = (DicomizeJobs(orthanc, settings.dicomize_max_jobs, settings.dicomize_spool_folder)
            if hasattr(orthanc, "store_instance") else None)
    activity = Activity()
    prerender = PreRenderer(service, activity, settings.pre_render_cpu_share, settings.pre_render_queue) \
        if settings.pre_render else None
    warmer = FrameWarmer(service.frames, activity) if settings.warm_first_frames else None
    annotation_limits = Limits(settings.annotation_max_count, settings.annotation_max_points)
    annotations = AnnotationAccess(orthanc, service.series, settings.annotation_categories, annotation_limits,
                                   settings.annotation_max_body_mb << 20)
    return App(settings, service, renders, streams, dicomize=jobs, activity=activity, prerender=prerender,
               warmer=warmer, annotations=annotations)
