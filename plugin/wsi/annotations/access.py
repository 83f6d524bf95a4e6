"""The annotation store, built on first use: pydicom and highdicom cost about half a second to import, which
an Orthanc start should not pay for slides nobody annotates."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from .categories import Category
from .model import Limits

if TYPE_CHECKING:
    from ..series_repository import SeriesRepository
    from .store import AnnotationStore


class AnnotationAccess:
    def __init__(self, orthanc: Any, series: SeriesRepository, categories: tuple[Category, ...], limits: Limits,
                 max_body_bytes: int) -> None:
        self._args = (orthanc, series, categories, limits, max_body_bytes)
        self.max_body_bytes = max_body_bytes
        self.categories = categories
        self._store: AnnotationStore | None = None
        self._lock = threading.Lock()

    def store(self) -> AnnotationStore:
        with self._lock:
            if self._store is None:
                from .store import AnnotationStore

                self._store = AnnotationStore(*self._args)
            return self._store
