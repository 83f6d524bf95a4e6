"""App: settings plus the service, built once by the entry script and handed to every handler."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from .config import Settings
from .dicomize_jobs import DicomizeJobs
from .frame_source import FrameLimits
from .render_gate import RenderGate
from .service import OrthancReader, SlideService


@dataclass(frozen=True)
class App:
    settings: Settings
    service: SlideService
    renders: RenderGate = field(default_factory=RenderGate)  # admission of large IIIF renders
    streams_answers: bool = False  # orthanc-python has streamed answers (5.0+) and StreamLargeAnswers is on
    # Slide exports running at once (export/route.py): each takes a core and disk; more wait, then 503.
    exports: threading.BoundedSemaphore = field(default_factory=lambda: threading.BoundedSemaphore(1))
    dicomize: DicomizeJobs | None = None  # conversion jobs (POST /wsi/dicomize), when the adapter can store


def build_app(settings: Settings, orthanc: OrthancReader) -> App:
    limits = FrameLimits(settings.max_frame_pixels, settings.max_whole_pixel_data_mb << 20)
    service = SlideService(orthanc, settings.cache_size_mb * 1024 * 1024, settings.series_check_seconds,
                           settings.jpeg_quality, settings.png_compression_level, limits=limits,
                           frame_cache_bytes=settings.frame_cache_size_mb << 20,
                           frame_builds=settings.iiif_max_concurrent_renders,
                           frame_build_wait_seconds=settings.iiif_render_queue_seconds)
    renders = RenderGate(settings.iiif_max_concurrent_renders, settings.iiif_render_queue_seconds,
                         settings.iiif_large_render_pixels, settings.iiif_render_timeout_seconds)
    can_stream = getattr(orthanc, "can_stream", None)
    streams = bool(can_stream and can_stream()) and settings.stream_large_answers
    jobs = (DicomizeJobs(orthanc, settings.dicomize_max_jobs, settings.dicomize_spool_folder)
            if hasattr(orthanc, "store_instance") else None)
    return App(settings, service, renders, streams, dicomize=jobs)
