"""The JavaScript given to orthanc.ExtendOrthancExplorer: webassets/explorer.js plus the enabled buttons."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

from .static import WEBASSETS_DIR

PLACEHOLDER = "/*WSI_OPTIONS*/{}"

# A made-up Orthanc identifier used to ask whether a route pattern would answer a button's target URL.
_SAMPLE_ID = "0123abcd-4567ef01-89abcdef-01234567-89abcdef"


class ExplorerSettings(Protocol):
    @property
    def enable_iiif(self) -> bool: ...
    @property
    def serve_mirador(self) -> bool: ...
    @property
    def serve_openseadragon(self) -> bool: ...


def _targets(settings: ExplorerSettings) -> dict[str, tuple[bool, tuple[str, ...]]]:
    """Each button: whether the settings want it, and the URI paths it needs answered."""
    sid = _SAMPLE_ID
    manifest = f"/wsi/iiif/series/{sid}/manifest.json"
    return {
        "viewer": (True, ("/wsi/app/viewer.html", f"/wsi/pyramids/{sid}", f"/wsi/tiles/{sid}/0/0/0")),
        # The deep-zoom viewer asks whether a series is whole-slide first, then for its frames.
        "deepZoom": (True, ("/wsi/app/viewer.html", f"/wsi/pyramids/{sid}", f"/wsi/series-frames/{sid}",
                            f"/wsi/frames-pyramids/{sid}/0", f"/wsi/frames-tiles/{sid}/0/0/0/0")),
        "exportTiff": (True, (f"/wsi/pyramids/{sid}", f"/wsi/export/{sid}")),
        "copyManifest": (settings.enable_iiif, (manifest,)),
        "openSeadragon": (settings.enable_iiif and settings.serve_openseadragon,
                          ("/wsi/app/osd.html", f"/wsi/iiif/tiles/{sid}/info.json", f"/wsi/pyramids/{sid}")),
        "mirador": (settings.enable_iiif and settings.serve_mirador, ("/wsi/app/mirador.html", manifest)),
        "importSlide": (True, ("/wsi/dicomize", f"/wsi/jobs/{'0' * 32}", f"/wsi/jobs/{'0' * 32}/cancel")),
    }


def button_options(settings: ExplorerSettings, route_patterns: Iterable[str]) -> dict[str, bool]:
    """Which buttons to show: a button never appears while a route it leads to is not registered."""
    compiled = [re.compile(pattern) for pattern in route_patterns]

    def routed(path: str) -> bool:
        # Orthanc anchors the regular expressions of RegisterRestCallback at both ends.
        return any(pattern.fullmatch(path) for pattern in compiled)

    return {name: wanted and all(routed(p) for p in paths)
            for name, (wanted, paths) in _targets(settings).items()}


def explorer_js(settings: ExplorerSettings, route_patterns: Iterable[str],
                source: Path = WEBASSETS_DIR / "explorer.js") -> str:
    """The extension script, with the options literal set from the settings and the registered routes."""
    script = source.read_text(encoding="utf-8")
    if script.count(PLACEHOLDER) != 1:
        raise ValueError(f"{source} must contain {PLACEHOLDER!r} exactly once")
    options = json.dumps(button_options(settings, route_patterns), sort_keys=True)
    return script.replace(PLACEHOLDER, options)
