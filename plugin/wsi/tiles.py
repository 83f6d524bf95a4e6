"""Routes of the whole-slide tile service: /wsi/pyramids, /wsi/tiles, /wsi/associated."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from .accept import choose_media_type, choose_tile_media_type
from .errors import BadRequest, NotFound
from .http import (
    SEGMENT,
    VARY_ACCEPT,
    Request,
    Response,
    content_etag,
    etag_matches,
    immutable_cache_control,
    json_response,
)
from .series import SeriesModel
from .service import check_id

if TYPE_CHECKING:
    from .app import App

_INDEX = re.compile(r"[0-9]{1,9}")
TILE_CACHE_CONTROL = "private, max-age=3600"
# A tile URL naming the series' version ("?version=", the pyramid's "Version") never changes its answer: a stale
# version is 404, never old pixels.
VERSION_PARAMETER = "version"


def _index(value: str, name: str) -> int:
    if not _INDEX.fullmatch(value):
        raise BadRequest(f"{name} must be a non-negative integer, got {value[:20]!r}", name)
    return int(value)


def pyramid_json(model: SeriesModel) -> dict:
    pyramid = model.pyramid
    levels = pyramid.levels
    body: dict = {
        "ID": model.series_id,
        "Resolutions": [pyramid.downsample(i) for i in range(len(levels))],
        "Sizes": [[lv.width, lv.height] for lv in levels],
        "TilesCount": [[lv.tiles_x, lv.tiles_y] for lv in levels],
        "TilesSizes": [[lv.tile_width, lv.tile_height] for lv in levels],
        "TotalWidth": pyramid.width,
        "TotalHeight": pyramid.height,
        "TileWidth": levels[0].tile_width,
        "TileHeight": levels[0].tile_height,
        "BackgroundColor": pyramid.background_hex,
        "PixelSpacings": [list(lv.pixel_spacing_mm) if lv.pixel_spacing_mm else None for lv in levels],
        "OpticalPaths": [{"ID": p.identifier, "Description": p.description} for p in model.optical_paths],
        "DefaultOpticalPath": model.default_optical_path,
        "FocalPlanes": model.focal_planes_um,
        "DefaultFocalPlane": model.default_focal_plane,
        "AssociatedImages": sorted(model.associated),
    }
    if pyramid.imaged_volume_mm:
        body["ImagedVolumeWidth"], body["ImagedVolumeHeight"] = pyramid.imaged_volume_mm
    if model.objective_power:
        body["ObjectivePower"] = model.objective_power
    return body


def get_pyramid(request: Request, app: App) -> Response:
    series_id = check_id(request.groups[0], "series id")
    series = app.service.series
    model = series.wsi_model(series_id)
    body = pyramid_json(model)
    body["Version"] = model.version
    body["FrameMap"] = app.service.frame_map(model)
    body["Tags"] = series.series_tags(series_id)
    if app.warmer is not None:  # Orthanc parses each instance on its first frame: before the viewer asks
        app.warmer.warm(model)
    if app.prerender is not None:
        body["PreRender"] = app.prerender.progress(series_id) or {"State": "none"}
    return json_response(body, headers={"Cache-Control": "no-cache"}, indent=None)  # the frame map can be long


def cached_tile(app: App, uri: str, request: dict) -> Response | None:
    """The answer to a repeated tile request, straight from Orthanc's request values (no Request built).

    One cache lookup and a freshness check of the series model: orthanc-python holds the GIL for the
    whole callback, so this is most of what a warm tile costs in Python.
    """
    if request.get("method") != "GET":
        return None
    headers = request.get("headers") or {}
    found = app.service.fresh_answer(uri, headers.get("accept", ""), request.get("get") or {})
    return found and _not_modified(found, headers.get("if-none-match"))


def get_tile(request: Request, app: App) -> Response:
    accept = request.header("accept")
    found = app.service.answer(request.path, accept, request.query, lambda: _build_tile(request, app, accept))
    return _not_modified(found, request.headers.get("if-none-match"))


def _not_modified(response: Response, if_none_match: str | None) -> Response:
    """304 when the client holds this very answer (an unversioned URL's ETag)."""
    etag = response.headers.get("ETag")
    if if_none_match and etag and etag_matches(if_none_match, etag):
        return Response(304, headers={"ETag": etag, **VARY_ACCEPT})
    return response


def _build_tile(request: Request, app: App, accept: str) -> tuple[SeriesModel, Response]:
    service = app.service
    series_id = check_id(request.groups[0], "series id")
    z, x, y = (_index(v, n) for v, n in zip(request.groups[1:4], ("level", "x", "y"), strict=True))
    model = service.series.wsi_model(series_id)  # taken before rendering: the answer is cached under it
    headers = _cache_headers(request, app, model)
    tile = service.frames.tile(model, z, x, y, request.query.get("optical-path"), request.query.get("focal-plane"))
    # Stored JPEG goes out as stored; anything else is decoded and sent lossless unless asked otherwise.
    media_type = choose_tile_media_type(accept, service.frames.stored_media_type(tile))
    body = service.tile_bytes(tile, media_type)
    return model, Response(200, body, media_type, {**(headers or {"ETag": content_etag(body)}), **VARY_ACCEPT})


def _cache_headers(request: Request, app: App, model: SeriesModel) -> dict[str, str]:
    """One header per answer (docs/benchmark.md "Cache headers" measures its cost): a versioned URL is immutable
    (a stale version: 404); an unversioned one gets an ETag (empty here: it is the body's digest) for 304s."""
    version = request.query.get(VERSION_PARAMETER)
    if version is None:
        return {}
    if version != model.version:
        raise NotFound(f"series {model.series_id} has changed since version {version[:20]!r} (now "
                       f"{model.version}): read its pyramid again")
    return {"Cache-Control": immutable_cache_control(app.settings.authenticated)}


ASSOCIATED = ("label", "overview", "thumbnail")


def get_associated(request: Request, app: App) -> Response:
    series_id = check_id(request.groups[0], "series id")
    kind = request.groups[1].lower()
    if kind not in ASSOCIATED:
        raise BadRequest(f"associated image kind must be one of {', '.join(ASSOCIATED)}", "kind")
    media_type = choose_media_type(request.header("accept"), "image/png", ("image/png", "image/jpeg"))
    body = app.service.associated_image(series_id, kind, media_type)
    # An overview (macro) image can be several MB as PNG: streamed where the SDK can (adapter.answer).
    return Response(200, body, media_type, {"Cache-Control": TILE_CACHE_CONTROL, **VARY_ACCEPT},
                    stream=app.settings.stream_large_answers)


# Handlers whose repeated requests may be answered before a Request is even built (see wsi_plugin).
FAST_PATHS = {get_tile: cached_tile}

ROUTES = [
    (rf"/wsi/pyramids/{SEGMENT}", get_pyramid),
    (rf"/wsi/tiles/{SEGMENT}/{SEGMENT}/{SEGMENT}/{SEGMENT}", get_tile),
    (rf"/wsi/associated/{SEGMENT}/{SEGMENT}", get_associated),
]
