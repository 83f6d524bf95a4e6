"""App: settings plus the service, built once by the entry script and handed to every handler."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from .config import Settings
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
    activity: Activity = field(default_factory=Activity)  # interactive requests in flight (pre-render yields)
    prerender: PreRenderer | None = None  # WholeSlideImaging.PreRender
    warmer: FrameWarmer | None = None  # WholeSlideImaging.WarmFirstFrames

    def stop(self) -> None:
        """Orthanc is stopping: background work ends before the SDK goes away."""
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


def build_app(settings: Settings, orthanc: OrthancReader) -> App:
    limits = FrameLimits(settings.max_frame_pixels, settings.max_whole_pixel_data_mb << 20)
    service = SlideService(orthanc, settings.cache_size_mb * 1024 * 1024, settings.series_check_seconds,
                           settings.jpeg_quality, settings.png_compression_level, limits=limits,
                           disk=_disk_cache(settings))
    renders = RenderGate(settings.iiif_max_concurrent_renders, settings.iiif_render_queue_seconds,
                         settings.iiif_large_render_pixels, settings.iiif_render_timeout_seconds)
    activity = Activity()
    prerender = PreRenderer(service, activity, settings.pre_render_cpu_share, settings.pre_render_queue) \
        if settings.pre_render else None
    warmer = FrameWarmer(service.frames, activity) if settings.warm_first_frames else None
    return App(settings, service, renders, activity, prerender, warmer)
