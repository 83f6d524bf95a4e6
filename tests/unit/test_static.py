"""Static serving under /wsi/app/ and the Orthanc Explorer extension script."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest
from wsi.config import Settings
from wsi.explorer import PLACEHOLDER, button_options, explorer_js
from wsi.http import Request
from wsi.static import ROUTES, WEBASSETS_DIR, AssetStore, safe_relative_path, serve_asset


@pytest.fixture
def root(tmp_path: Path) -> Path:
    assets = tmp_path / "webassets"
    (assets / "vendor" / "openseadragon" / "images").mkdir(parents=True)
    (assets / "vendor" / "mirador").mkdir(parents=True)
    (assets / "node_modules" / "x").mkdir(parents=True)
    (assets / "viewer.html").write_text("<!doctype html><title>v</title>")
    (assets / "viewer.js").write_text("console.log('v');")
    (assets / "mirador.html").write_text("<!doctype html><title>m</title>")
    (assets / "package.json").write_text("{}")
    (assets / ".hidden.js").write_text("secret")
    (assets / "vendor" / "openseadragon" / "openseadragon.min.js").write_text("var OpenSeadragon;")
    (assets / "vendor" / "openseadragon" / "images" / "home_rest.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (assets / "vendor" / "mirador" / "mirador.min.js").write_text("var Mirador;")
    (assets / "node_modules" / "x" / "index.js").write_text("module.exports = 1;")
    (tmp_path / "outside.js").write_text("outside")
    (assets / "link.js").symlink_to(tmp_path / "outside.js")
    return assets


def _app(root: Path, **settings: bool) -> SimpleNamespace:
    return SimpleNamespace(settings=Settings(**settings), assets=AssetStore(root))


def _get(app: SimpleNamespace, path: str, headers: dict[str, str] | None = None, method: str = "GET"):
    match = re.fullmatch(ROUTES[0][0], "/wsi/app/" + path)
    if match is None:  # no route: Orthanc itself answers 404
        return SimpleNamespace(status=404, headers={}, body=b"")
    request = Request(method, "/wsi/app/" + path, match.groups(), {}, headers or {})
    return serve_asset(request, app)


@pytest.mark.parametrize(("path", "content_type", "cache"), [
    ("viewer.html", "text/html; charset=utf-8", "no-cache"),
    ("viewer.js", "text/javascript; charset=utf-8", "no-cache"),
    ("vendor/openseadragon/openseadragon.min.js", "text/javascript; charset=utf-8", "public, max-age=86400"),
    ("vendor/openseadragon/images/home_rest.png", "image/png", "public, max-age=86400"),
])
def test_serves_files_with_type_and_cache_headers(root: Path, path: str, content_type: str, cache: str) -> None:
    response = _get(_app(root), path)
    assert response.status == 200
    assert response.body == (root / path).read_bytes()
    assert response.content_type == content_type
    assert response.headers["Cache-Control"] == cache
    assert response.headers["ETag"].startswith('"')


def test_files_are_read_once(root: Path) -> None:
    app = _app(root)
    first = _get(app, "viewer.js").body
    (root / "viewer.js").write_text("changed")
    assert _get(app, "viewer.js").body == first


def test_if_none_match_gives_304(root: Path) -> None:
    app = _app(root)
    etag = _get(app, "viewer.js").headers["ETag"]
    assert _get(app, "viewer.js", {"if-none-match": f'"other", W/{etag}'}).status == 304
    assert _get(app, "viewer.js", {"if-none-match": '"other"'}).status == 200


@pytest.mark.parametrize("path", [
    "../outside.js", "..", "./viewer.js", "vendor/../viewer.js", "vendor/../../outside.js",
    "%2e%2e/outside.js", "%2E%2E%2Foutside.js", "..%2foutside.js", "vendor\\..\\..\\outside.js",
    "/etc/passwd", "//etc/passwd", "viewer.js\x00.html", "C:/Windows/win.ini", "vendor//viewer.js",
    ".hidden.js", "vendor/.", "a" * 300 + ".js",
])
def test_traversal_and_odd_paths_are_refused(root: Path, path: str) -> None:
    assert _get(_app(root), path).status in (400, 404)


@pytest.mark.parametrize("path", [
    "", "missing.js", "package.json", "node_modules/x/index.js", "vendor", "vendor/openseadragon",
    "link.js",  # a symbolic link pointing outside webassets/
])
def test_not_servable_is_404(root: Path, path: str) -> None:
    assert _get(_app(root), path).status == 404


def test_only_get(root: Path) -> None:
    assert _get(_app(root), "viewer.js", method="POST").status == 405


@pytest.mark.parametrize(("path", "flag"), [
    ("mirador.html", "serve_mirador"), ("vendor/mirador/mirador.min.js", "serve_mirador"),
])
def test_optional_pages_follow_settings(root: Path, path: str, flag: str) -> None:
    assert _get(_app(root, **{flag: False}), path).status == 404
    assert _get(_app(root, **{flag: True}), path).status == 200


def test_safe_relative_path_keeps_plain_paths() -> None:
    assert safe_relative_path("vendor/openseadragon/images/zoomin_rest.png") == \
        "vendor/openseadragon/images/zoomin_rest.png"
    assert safe_relative_path("vendor/../x.js") is None


def test_real_webassets_has_viewer_pages() -> None:
    store = AssetStore(WEBASSETS_DIR)
    for page in ("viewer.html", "viewer.js", "viewer.css", "mirador.html", "osd.html"):
        asset = store.get(page)
        assert asset is not None, page
    html = store.get("viewer.html")
    assert html is not None
    # Every local script and stylesheet the viewer page names exists (vendor/ once set-up has run).
    for ref in re.findall(r'(?:src|href)="([^":#?]+)"', html.body.decode()):
        if not ref.startswith("vendor/") or (WEBASSETS_DIR / "vendor").is_dir():
            assert store.get(ref) is not None, ref


# --- Orthanc Explorer extension -------------------------------------------------------------------

ALL_ROUTES = [
    r"/wsi/app/(.*)", r"/wsi/pyramids/([^/]*)", r"/wsi/tiles/([^/]*)/([^/]*)/([^/]*)/([^/]*)",
    r"/wsi/iiif/series/([^/]*)/manifest.json", r"/wsi/iiif/tiles/([^/]*)/info.json",
    r"/wsi/series-frames/([^/]*)", r"/wsi/frames-pyramids/([^/]*)/([^/]*)",
    r"/wsi/frames-tiles/([^/]*)/([^/]*)/([^/]*)/([^/]*)/([^/]*)",
    r"/wsi/export/([^/]*)", r"/wsi/dicomize", r"/wsi/jobs/([^/]*)", r"/wsi/jobs/([^/]*)/cancel",
]


def _options(script: str) -> dict[str, bool]:
    match = re.search(r"\}\)\((\{.*\})\);\s*$", script)
    assert match is not None
    return json.loads(match.group(1))


def test_explorer_js_enables_every_button_when_routes_and_settings_allow() -> None:
    settings = Settings(enable_iiif=True, serve_mirador=True, serve_openseadragon=True)
    script = explorer_js(settings, ALL_ROUTES)
    assert PLACEHOLDER not in script
    assert _options(script) == {"viewer": True, "deepZoom": True, "exportTiff": True, "copyManifest": True,
                                "openSeadragon": True, "mirador": True, "importSlide": True}


@pytest.mark.parametrize(("settings", "expected_off"), [
    (Settings(enable_iiif=False, serve_mirador=True, serve_openseadragon=True),
     {"copyManifest", "openSeadragon", "mirador"}),
    (Settings(enable_iiif=True, serve_mirador=False, serve_openseadragon=True), {"mirador"}),
    (Settings(enable_iiif=True, serve_mirador=True, serve_openseadragon=False), {"openSeadragon"}),
])
def test_settings_turn_buttons_off(settings: Settings, expected_off: set[str]) -> None:
    options = button_options(settings, ALL_ROUTES)
    assert {name for name, on in options.items() if not on} == expected_off


@pytest.mark.parametrize(("missing", "expected_off"), [
    (r"/wsi/iiif/series/([^/]*)/manifest.json", {"copyManifest", "mirador"}),
    (r"/wsi/iiif/tiles/([^/]*)/info.json", {"openSeadragon"}),
    (r"/wsi/pyramids/([^/]*)", {"viewer", "deepZoom", "exportTiff", "openSeadragon"}),
    (r"/wsi/export/([^/]*)", {"exportTiff"}),
    (r"/wsi/app/(.*)", {"viewer", "deepZoom", "openSeadragon", "mirador"}),
    (r"/wsi/series-frames/([^/]*)", {"deepZoom"}),
    (r"/wsi/frames-pyramids/([^/]*)/([^/]*)", {"deepZoom"}),
    (r"/wsi/frames-tiles/([^/]*)/([^/]*)/([^/]*)/([^/]*)/([^/]*)", {"deepZoom"}),
    (r"/wsi/dicomize", {"importSlide"}),
    (r"/wsi/jobs/([^/]*)/cancel", {"importSlide"}),
])
def test_button_needs_its_routes(missing: str, expected_off: set[str]) -> None:
    settings = Settings(enable_iiif=True, serve_mirador=True, serve_openseadragon=True)
    options = button_options(settings, [r for r in ALL_ROUTES if r != missing])
    assert {name for name, on in options.items() if not on} == expected_off


def test_explorer_js_refuses_a_template_without_placeholder(tmp_path: Path) -> None:
    source = tmp_path / "explorer.js"
    source.write_text("(function (options) {})({});")
    with pytest.raises(ValueError, match="WSI_OPTIONS"):
        explorer_js(Settings(), ALL_ROUTES, source)


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_explorer_js_is_valid_javascript(tmp_path: Path) -> None:
    script = tmp_path / "explorer.js"
    script.write_text(explorer_js(Settings(serve_mirador=True), ALL_ROUTES))
    subprocess.run(["node", "--check", str(script)], check=True)
