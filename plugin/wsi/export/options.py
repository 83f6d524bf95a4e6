"""What an export is asked for: optical path, focal plane, JPEG quality of re-encoded tiles (validated)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import BadRequest

QUERY_KEYS = ("optical-path", "focal-plane", "quality")
_QUALITY = re.compile(r"[0-9]{1,3}")
_PRINTABLE = re.compile(r"[ -~]{1,64}")


@dataclass(frozen=True)
class ExportOptions:
    optical_path: str | None = None  # None: the series' first optical path
    focal_plane: int | None = None  # None: the plane nearest the middle of the stack
    quality: int = 90  # JPEG quality of tiles the export encodes itself; stored JPEG is never re-encoded

    @classmethod
    def from_query(cls, query: dict[str, str], default_quality: int) -> ExportOptions:
        """Options from a request's query; BadRequest naming the parameter for anything else.

        The optical path and focal plane are checked against the series later (FrameSource.select).
        """
        unknown = sorted(set(query) - set(QUERY_KEYS))
        if unknown:
            raise BadRequest(f"unknown parameter {unknown[0][:40]!r} (known: {', '.join(QUERY_KEYS)})", unknown[0][:40])
        path = query.get("optical-path") or None
        if path is not None and not _PRINTABLE.fullmatch(path):
            raise BadRequest("optical-path must be 1 to 64 printable ASCII characters", "optical-path")
        plane = query.get("focal-plane") or None
        if plane is not None and not _QUALITY.fullmatch(plane):
            raise BadRequest("focal-plane must be a non-negative index", "focal-plane")
        quality = query.get("quality") or None
        if quality is not None and not (_QUALITY.fullmatch(quality) and 1 <= int(quality) <= 100):
            raise BadRequest("quality must be a whole number from 1 to 100", "quality")
        return cls(path, None if plane is None else int(plane),
                   default_quality if quality is None else int(quality))
