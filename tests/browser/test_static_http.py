"""/wsi/app/ through a real Orthanc: types, cache headers, 304, and no way out of webassets/.

Paths are sent exactly as written (OrthancServer.get does no client-side normalisation of dots or escapes).
"""

from __future__ import annotations

import pytest
from wsi.static import WEBASSETS_DIR

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(("path", "content_type", "cache"), [
    ("viewer.html", "text/html; charset=utf-8", "no-cache"),
    ("viewer.js", "text/javascript; charset=utf-8", "no-cache"),
    ("viewer.css", "text/css; charset=utf-8", "no-cache"),
    ("vendor/openseadragon/openseadragon.min.js", "text/javascript; charset=utf-8", "public, max-age=86400"),
    ("vendor/openseadragon/images/zoomin_rest.png", "image/png", "public, max-age=86400"),
    ("vendor/mirador/mirador.min.js", "text/javascript; charset=utf-8", "public, max-age=86400"),
])
def test_assets_are_served_with_type_and_cache_headers(orthanc, path, content_type, cache):
    status, headers, body = orthanc.server.get(f"/wsi/app/{path}")
    assert status == 200
    assert headers["content-type"] == content_type
    assert headers["cache-control"] == cache
    assert body == (WEBASSETS_DIR / path).read_bytes()
    again, _, empty = orthanc.server.get(f"/wsi/app/{path}", {"If-None-Match": headers["etag"]})
    assert (again, empty) == (304, b"")


@pytest.mark.parametrize("path", [
    "../../etc/passwd", "..%2f..%2fetc%2fpasswd", "%2e%2e/%2e%2e/etc/passwd", "%2E%2E%2F%2E%2E%2Fetc%2Fpasswd",
    "vendor/../../README.md", "vendor%5c..%5c..%5cREADME.md", "vendor\\..\\..\\README.md", "%2fetc%2fpasswd",
    "%00/../README.md", "%252e%252e/README.md", ".%2e/README.md", "package.json", "copy-vendor.mjs",
    "node_modules/openseadragon/package.json", "vendor/mirador/mirador.min.js.map", "",
])
def test_nothing_outside_the_served_files(orthanc, path):
    status, _, body = orthanc.server.get(f"/wsi/app/{path}")
    assert status in (400, 404), (path, status)
    assert b"root:" not in body


def test_nul_ends_the_path_inside_orthanc(orthanc):
    """Orthanc 1.10 cuts a decoded URI at NUL, so "viewer.js%00.html" is just viewer.js: still inside."""
    status, headers, body = orthanc.server.get("/wsi/app/viewer.js%00.html")
    assert status in (200, 400, 404)
    if status == 200:
        assert body == (WEBASSETS_DIR / "viewer.js").read_bytes()
        assert headers["content-type"] == "text/javascript; charset=utf-8"
