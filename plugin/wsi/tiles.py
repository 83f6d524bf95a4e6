"""Routes of the whole-slide tile service: /wsi/pyramids, /wsi/tiles, /wsi/associated."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import numpy as np

from . import codec, encoders
from .accept import choose_media_type
from .errors import BadRequest
from .http import SEGMENT, Request, Response, json_response
from .series import SeriesModel
from .service import check_id

if TYPE_CHECKING:
    from .app import App

_INDEX = re.compile(r"[0-9]{1,9}")
TILE_CACHE_CONTROL = "private, max-age=3600"


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
    body = pyramid_json(app.service.wsi_model(series_id))
    body["Tags"] = app.service.series_tags(series_id)
    return json_response(body, headers={"Cache-Control": "no-cache"})


def _encode(app: App, model: SeriesModel, pixels: np.ndarray, media_type: str) -> bytes:
    icc = app.service.icc_profile(model)
    return encoders.encode(pixels, media_type, icc=icc, quality=app.settings.jpeg_quality,
                           png_level=app.settings.png_compression_level)


def _hot_key(uri: str, accept: str, query: dict[str, str]) -> tuple:
    return uri, accept, tuple(query.items())


def _fresh_answer(app: App, hot_key: tuple) -> Response | None:
    """The cached answer to exactly this request, while the series model it was built from is current."""
    hit = app.service.tiles.get(hot_key)
    return hit[1] if hit is not None and app.service.is_fresh(hit[0]) else None


def cached_tile(app: App, uri: str, request: dict) -> Response | None:
    """The answer to a repeated tile request, straight from Orthanc's request values (no Request built).

    One cache lookup and a freshness check of the series model: orthanc-python holds the GIL for the
    whole callback, so this is most of what a warm tile costs in Python.
    """
    if request.get("method") != "GET":
        return None
    return _fresh_answer(app, _hot_key(uri, (request.get("headers") or {}).get("accept", ""),
                                       request.get("get") or {}))


def get_tile(request: Request, app: App) -> Response:
    service = app.service
    hot_key = _hot_key(request.path, request.header("accept"), request.query)
    cached = _fresh_answer(app, hot_key)
    if cached is not None:
        return cached
    series_id = check_id(request.groups[0], "series id")
    z, x, y = (_index(v, n) for v, n in zip(request.groups[1:4], ("level", "x", "y"), strict=True))
    model = service.wsi_model(series_id)  # taken before rendering: the answer is cached under it
    level_model = service.level(model, z)
    path, plane = service.select(model, request.query.get("optical-path"), request.query.get("focal-plane"))
    ref = service.locate(model, level_model, x, y, path, plane)
    fmt = service.pixel_format(model, ref[0]) if ref else None
    # Stored JPEG goes out as stored; anything else is decoded and sent lossless unless asked otherwise.
    default = "image/jpeg" if fmt is not None and codec.can_pass_through_jpeg(fmt) else "image/png"
    media_type = choose_media_type(request.header("accept"), default)
    body = _render_tile(app, model, level_model, ref, media_type)
    # No Cache-Control here: each extra header costs orthanc-python 4.0 about a quarter of the
    # passthrough rate (docs/benchmark.md), and the C++ plugin sends none either.
    response = Response(200, body, media_type)
    service.tiles.put(hot_key, (model, response), len(body) + 256)
    return response


def _render_tile(app: App, model: SeriesModel, level_model, ref, media_type: str) -> bytes:
    service = app.service
    if ref is None:
        return _encode(app, model, service.background_tile(model, level_model), media_type)
    if media_type == "image/jpeg":
        stored = service.stored_jpeg(model, ref)
        if stored is not None:
            return stored
    return _encode(app, model, service.decode_tile(model, ref), media_type)


ASSOCIATED = ("label", "overview", "thumbnail")


def get_associated(request: Request, app: App) -> Response:
    series_id = check_id(request.groups[0], "series id")
    kind = request.groups[1].lower()
    if kind not in ASSOCIATED:
        raise BadRequest(f"associated image kind must be one of {', '.join(ASSOCIATED)}", "kind")
    model, level_model = app.service.associated_pixels(series_id, kind)
    media_type = choose_media_type(request.header("accept"), "image/png", ("image/png", "image/jpeg"))
    key = (series_id, "associated", kind, media_type, model.revision)  # a changed series: new key
    body = app.service.tiles.get(key)
    if body is None:
        body = encoders.encode(app.service.compose_level(model, level_model), media_type,
                               quality=app.settings.jpeg_quality, png_level=app.settings.png_compression_level)
        app.service.tiles.put(key, body)
    return Response(200, body, media_type, {"Cache-Control": TILE_CACHE_CONTROL})


# Handlers whose repeated requests may be answered before a Request is even built (see wsi_plugin).
FAST_PATHS = {get_tile: cached_tile}

ROUTES = [
    (rf"/wsi/pyramids/{SEGMENT}", get_pyramid),
    (rf"/wsi/tiles/{SEGMENT}/{SEGMENT}/{SEGMENT}/{SEGMENT}", get_tile),
    (rf"/wsi/associated/{SEGMENT}/{SEGMENT}", get_associated),
]
