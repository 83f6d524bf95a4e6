"""App: settings plus the service, built once by the entry script and handed to every handler."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .annotations.access import AnnotationAccess
from .annotations.model import Limits
from .config import Settings
from .frame_source import FrameLimits
from .render_gate import RenderGate
from .service import OrthancReader, SlideService


@dataclass(frozen=True)
class App:
    settings: Settings
    service: SlideService
    renders: RenderGate = field(default_factory=RenderGate)  # admission of large IIIF renders
    annotations: Any = None  # AnnotationAccess: the annotation store, built on first use


def build_app(settings: Settings, orthanc: OrthancReader) -> App:
    limits = FrameLimits(settings.max_frame_pixels, settings.max_whole_pixel_data_mb << 20)
    service = SlideService(orthanc, settings.cache_size_mb * 1024 * 1024, settings.series_check_seconds,
                           settings.jpeg_quality, settings.png_compression_level, limits=limits)
    renders = RenderGate(settings.iiif_max_concurrent_renders, settings.iiif_render_queue_seconds,
                         settings.iiif_large_render_pixels, settings.iiif_render_timeout_seconds)
    limits = Limits(settings.annotation_max_count, settings.annotation_max_points)
    annotations = AnnotationAccess(orthanc, service.series, settings.annotation_categories, limits,
                                   settings.annotation_max_body_mb << 20)
    return App(settings, service, renders, annotations)
