"""App: settings plus the service, built once by the entry script and handed to every handler."""

from __future__ import annotations

from dataclasses import dataclass

from .config import Settings
from .service import OrthancReader, SlideService


@dataclass(frozen=True)
class App:
    settings: Settings
    service: SlideService


def build_app(settings: Settings, orthanc: OrthancReader) -> App:
    service = SlideService(orthanc, settings.cache_size_mb * 1024 * 1024, settings.series_check_seconds,
                           settings.jpeg_quality)
    return App(settings, service)
