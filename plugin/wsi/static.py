"""Serves the viewer pages and the npm-installed browser libraries under /wsi/app/ from webassets/."""

from __future__ import annotations

import functools
import logging
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .http import TAIL, Request, Response, content_etag, etag_matches, text_response

if TYPE_CHECKING:
    from .app import App

log = logging.getLogger(__name__)

WEBASSETS_DIR = Path(__file__).resolve().parents[2] / "webassets"

# Only these file types are served; anything else (package.json, scripts, source maps) is 404.
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".ico": "image/x-icon",
    ".txt": "text/plain; charset=utf-8",
}

# Our own files change with the plugin and are not content-hashed: always revalidate (ETag makes it
# cheap). Vendor files change only when the npm packages are upgraded, so a day of caching is safe.
OWN_CACHE_CONTROL = "no-cache"
VENDOR_CACHE_CONTROL = "public, max-age=86400"

# Pages and libraries that exist only when a setting enables them (Settings field names).
_GATED_PREFIXES = (
    ("mirador.", "serve_mirador"),
    ("vendor/mirador/", "serve_mirador"),
    ("osd.", "serve_openseadragon"),
)

_SEGMENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
_MAX_PATH = 256


@dataclass(frozen=True)
class Asset:
    body: bytes
    content_type: str
    etag: str
    cache_control: str


class AssetStore:
    """Files under one root, each read once and kept in memory (they are small and never change)."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self._assets: dict[str, Asset | None] = {}
        self._lock = threading.Lock()

    def get(self, relative: str) -> Asset | None:
        """The asset at a validated relative path, or None when there is no such servable file."""
        with self._lock:
            if relative in self._assets:
                return self._assets[relative]
        asset = self._load(relative)
        with self._lock:
            self._assets[relative] = asset
        return asset

    def _load(self, relative: str) -> Asset | None:
        content_type = CONTENT_TYPES.get(os.path.splitext(relative)[1].lower())
        # node_modules/ holds far more than the browser needs; vendor/ has the copies we serve.
        if content_type is None or relative.split("/", 1)[0] == "node_modules":
            return None
        path = (self.root / relative).resolve()
        # Stops a request escaping webassets/, even through a symbolic link.
        if os.path.commonpath([self.root, path]) != str(self.root) or not path.is_file():
            return None
        body = path.read_bytes()
        vendor = relative.startswith("vendor/")
        return Asset(body, content_type, content_etag(body), VENDOR_CACHE_CONTROL if vendor else OWN_CACHE_CONTROL)


def safe_relative_path(raw: str) -> str | None:
    """The request path as a relative path made only of plain segments, or None if it is unsafe.

    Orthanc has already percent-decoded the URI, so a "%" left here means double encoding; it is refused
    together with "..", ".", hidden names, backslashes, drive letters, NUL and absolute paths.
    """
    if not raw or len(raw) > _MAX_PATH or raw.startswith("/"):
        return None
    segments = raw.split("/")
    if not all(_SEGMENT.fullmatch(s) and ".." not in s for s in segments):
        return None
    return "/".join(segments)


def _enabled(relative: str, settings: object) -> bool:
    for prefix, field in _GATED_PREFIXES:
        if relative.startswith(prefix) and not getattr(settings, field, False):
            return False
    return True


@functools.cache
def default_store() -> AssetStore:
    """The process-wide store over webassets/ (an App may carry its own as `app.assets`)."""
    if not (WEBASSETS_DIR / "vendor").is_dir():
        log.warning("%s/vendor is missing: run scripts/setup.sh (npm ci) so the viewer can load", WEBASSETS_DIR)
    return AssetStore(WEBASSETS_DIR)


def serve_asset(request: Request, app: App) -> Response:
    if request.method != "GET":
        return text_response(405, "only GET is allowed here", {"Allow": "GET"})
    raw = request.groups[0] if request.groups else ""
    relative = safe_relative_path(raw)
    if relative is None:
        return text_response(404 if raw == "" else 400, "invalid asset path")
    store: AssetStore = getattr(app, "assets", None) or default_store()
    asset = store.get(relative) if _enabled(relative, app.settings) else None
    if asset is None:
        return text_response(404, "no such file")
    headers = {"Cache-Control": asset.cache_control, "ETag": asset.etag, "X-Content-Type-Options": "nosniff"}
    if etag_matches(request.header("if-none-match"), asset.etag):
        return Response(304, b"", asset.content_type, headers)
    return Response(200, asset.body, asset.content_type, headers)


ROUTES = [
    (rf"/wsi/app/{TAIL}", serve_asset),
]
