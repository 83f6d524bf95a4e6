"""IIIF routes: Image API 3.0 services for whole-slide series and radiology frames, Presentation 3.0 manifests.

/wsi/iiif/tiles/{seriesId}[/info.json | /{region}/{size}/{rotation}/{quality}.{format}]
/wsi/iiif/frames/{seriesId or instanceId}/{index}[/info.json | /...]   (index across the ordered series,
                                                                         or the frame within the instance)
/wsi/iiif/series/{seriesId}/manifest.json

Each image route takes the whole tail of the path so that an unknown identifier answers 404 and a
malformed request for a known one answers 400, whatever the number of segments (Orthanc turns
backslashes into slashes before we see the path).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from functools import wraps
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from .errors import BadRequest, NotFound
from .http import SEGMENT, TAIL, Request, Response, content_etag, etag_matches, text_response
from .iiif_info import JSONLD_MEDIA_TYPE as IMAGE_JSONLD
from .iiif_info import PROFILE_URI, image_info
from .iiif_render import Limits, RenderPlan, TileReader, frame_pyramid, plan_render, render_image
from .iiif_request import parse_image_request
from .manifest import JSONLD_MEDIA_TYPE as PRESENTATION_JSONLD
from .manifest import ImageService, SeriesLinks, frames_manifest, whole_slide_manifest
from .pyramid import Pyramid
from .routes import error_response
from .series import SeriesModel
from .service import ORTHANC_ID

if TYPE_CHECKING:
    from .app import App
    from .cache import ByteBudgetLRU

logger = logging.getLogger(__name__)

CORS = {"Access-Control-Allow-Origin": "*"}
IMAGE_CACHE_CONTROL = "private, max-age=3600"  # private: Orthanc may sit behind authentication
INFO_CACHE_CONTROL = "private, max-age=60"  # a series can gain or lose instances
_INDEX_DIGITS = 9

Handler = Callable[[Request, "App"], Response]


def _with_cors(handler: Handler) -> Handler:
    """CORS on every IIIF answer, errors included (IIIF 3.0 section 7.1); errors mapped by routes.error_response."""

    @wraps(handler)
    def wrapped(request: Request, app: App) -> Response:
        if not app.settings.enable_iiif:
            return text_response(404, "IIIF is disabled (WholeSlideImaging.EnableIIIF)", dict(CORS))
        try:
            response = handler(request, app)
        except Exception as error:  # any failure still answers, with CORS
            return error_response(error, request, CORS)
        response.headers.update(CORS)
        return response

    return wrapped


# ---- helpers ---------------------------------------------------------------------------------------

def _orthanc_id(segment: str) -> str:
    # IIIF 3.0 section 7.3: an identifier that names no image is 404, whatever its shape.
    if not ORTHANC_ID.fullmatch(segment):
        raise NotFound(f"unknown image {segment[:60]!r}")
    return segment


def _limits(app: App) -> Limits:
    s = app.settings
    return Limits(s.iiif_max_width, s.iiif_max_height, s.iiif_max_area, s.iiif_max_upscale)


def _render_cache(app: App) -> ByteBudgetLRU:
    """Rendered images share the service's encoded-tile budget (keys start with the series id)."""
    return app.service.tiles


def _cached_answer(request: Request, body: bytes, media_type: str, headers: dict[str, str]) -> Response:
    etag = content_etag(body)
    headers = {**headers, "ETag": etag}
    if etag_matches(request.header("if-none-match"), etag):
        return Response(304, b"", media_type, headers)
    return Response(200, body, media_type, headers)


def _json_answer(request: Request, payload: dict, jsonld_type: str) -> Response:
    # JSON-LD unless the client asked for plain JSON only (IIIF 3.0 section 5.1).
    accept = request.header("accept").lower()
    plain = "application/json" in accept and "application/ld+json" not in accept
    body = json.dumps(payload, indent=2).encode()
    headers = {"Cache-Control": INFO_CACHE_CONTROL, "Link": f'<{PROFILE_URI}>;rel="profile"'}
    return _cached_answer(request, body, "application/json" if plain else jsonld_type, headers)


def _redirect(location: str) -> Response:
    # IIIF 3.0 section 2: the base URI redirects to info.json. 303, not Orthanc's `Redirect` (always 301,
    # and it drops the CORS header): the adapter sends Location with the generic status call.
    return text_response(303, f"see {location}", {"Location": location})


def _split_tail(tail: str) -> list[str]:
    return tail.split("/")


def _serve_image_service(request: Request, app: App, base: str, rest: list[str], pyramid: Pyramid,
                         cache_key: tuple, reader: TileReader, icc: bytes | None = None,
                         stored: Callable[[RenderPlan], bytes | None] | None = None) -> Response:
    """info.json or an image request of one image service, whose base URI is `base`.

    `stored` may answer a plan with stored bytes as they are (a whole stored JPEG tile). Renders go
    through the app's RenderGate: a busy server or a render over its time budget raises Overloaded
    (503 with Retry-After, from the one error mapper).
    """
    if rest == ["info.json"]:
        info = image_info(base, pyramid, _limits(app), app.settings.force_powers_of_two)
        return _json_answer(request, info, IMAGE_JSONLD)
    plan = plan_render(parse_image_request(*rest), pyramid, _limits(app))
    cache = _render_cache(app)
    key = (*cache_key, plan.canonical)
    body = cached = cache.get(key)
    if body is None:
        body = stored(plan) if stored else None
    if body is None:
        with app.renders.admit(plan.output_pixels, plan.source_pixels) as deadline:
            body = render_image(plan, pyramid, reader, icc, app.settings.jpeg_quality,
                                app.settings.png_compression_level, deadline.check)
    if cached is None:
        cache.put(key, body)
    return _cached_answer(request, body, plan.media_type, _image_headers(base, plan))


def _image_headers(base: str, plan: RenderPlan) -> dict[str, str]:
    links = f'<{base}/{plan.canonical}>;rel="canonical", <{PROFILE_URI}>;rel="profile"'
    return {"Cache-Control": IMAGE_CACHE_CONTROL, "Link": links}


def _check_shape(rest: list[str]) -> None:
    if rest != ["info.json"] and len(rest) != 4:
        raise BadRequest("expected info.json or {region}/{size}/{rotation}/{quality}.{format}", "path")


# ---- whole-slide series ----------------------------------------------------------------------------

@_with_cors
def get_tiles(request: Request, app: App) -> Response:
    segments = _split_tail(request.groups[0])
    series_id = _orthanc_id(segments[0])
    base = f"{app.settings.public_url}wsi/iiif/tiles/{series_id}"
    rest = segments[1:]
    if rest in ([], [""]):
        return _redirect(base + "/info.json")  # baseUriRedirect
    _check_shape(rest)
    service = app.service
    model = service.wsi_model(series_id)

    def read_tile(level: int, tx: int, ty: int) -> np.ndarray:
        return service.read_tile_rgb(model, level, tx, ty)  # the model of the key, taken before rendering

    # The series' revision (its instances and their stored files) in the key: a changed series, even
    # stored again with the same UIDs, never answers from a stale rendering.
    key = (series_id, "iiif", model.revision)
    return _serve_image_service(request, app, base, rest, model.pyramid, key, read_tile,
                                service.icc_profile(model), lambda plan: stored_jpeg_tile(app, model, plan))


def aligned_tile(plan: RenderPlan, pyramid: Pyramid) -> tuple[int, int] | None:
    """(column, row) when the plan is exactly one whole stored tile of its level, at its stored size."""
    if plan.rotation or plan.mirror or plan.quality not in ("default", "color") or plan.format != "jpg":
        return None
    level = pyramid.levels[plan.level]
    dx, dy = pyramid.downsample_xy(plan.level)
    x, y, w, h = plan.region
    lx, ly, lw, lh = round(x / dx), round(y / dy), round(w / dx), round(h / dy)
    whole = (lw, lh) == (level.tile_width, level.tile_height) == plan.size
    aligned = lx % level.tile_width == 0 and ly % level.tile_height == 0
    inside = lx + lw <= level.width and ly + lh <= level.height  # edge tiles need cropping
    exact = abs(lx * dx - x) < 1 and abs(ly * dy - y) < 1 and abs(lw * dx - w) < dx and abs(lh * dy - h) < dy
    return (lx // level.tile_width, ly // level.tile_height) if whole and aligned and inside and exact else None


def stored_jpeg_tile(app: App, model: SeriesModel, plan: RenderPlan) -> bytes | None:
    """The stored JPEG frame (with the series' ICC profile) when it is exactly what the plan asks."""
    found = aligned_tile(plan, model.pyramid)
    if found is None:
        return None
    service = app.service
    ref = service.locate(model, service.level(model, plan.level), found[0], found[1],
                         model.default_optical_path, model.default_focal_plane)
    return None if ref is None else service.stored_jpeg(model, ref)


# ---- frames of other series ------------------------------------------------------------------------

def locate_frame(app: App, resource_id: str, index: int) -> tuple[str, int, int, int]:
    """(instance id, frame, rows, columns) of frame `index` of a series (ordered) or of an instance."""
    service = app.service
    if service.resource_kind(resource_id) == "series":
        if service.series_model(resource_id) is not None:
            raise NotFound(f"series {resource_id} is whole-slide: see /wsi/iiif/tiles/{resource_id}")
        frames = service.ordered_frames(resource_id)
        if index >= len(frames):
            raise NotFound(f"series {resource_id} has {len(frames)} frames")
        found = frames[index]
        instance_id, frame, rows, columns = found.instance_id, found.frame, found.rows, found.columns
    else:
        if index >= service.instance_frame_count(resource_id):
            raise NotFound(f"instance {resource_id} has no frame {index}")
        tags = service.instance_tags(resource_id)
        instance_id, frame = resource_id, index
        rows, columns = int(tags.get("0028,0010", 0) or 0), int(tags.get("0028,0011", 0) or 0)
    if rows <= 0 or columns <= 0:
        raise NotFound(f"frame {index} of {resource_id} has no pixels")
    return instance_id, frame, rows, columns


def frame_reader(app: App, instance_id: str, frame: int, pyramid: Pyramid) -> TileReader:
    """Tiles of a frame's virtual pyramid: slices of the decoded frame, or of a cached downscale."""
    service = app.service
    version = service.instance_version(instance_id)  # a frame stored again under the same UIDs: new keys

    def level_pixels(level: int) -> np.ndarray:
        full = service.read_frame_display(instance_id, frame)  # decoded and cached by the service
        if level == 0:
            return full
        key = ("iiif-frame-level", instance_id, version, frame, level)
        pixels = service.decoded.get(key)
        if pixels is None:
            size = (pyramid.levels[level].width, pyramid.levels[level].height)
            pixels = np.asarray(Image.fromarray(full).resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0))
            service.decoded.put(key, pixels)
        return pixels

    def read_tile(level: int, tx: int, ty: int) -> np.ndarray:
        lv = pyramid.levels[level]
        pixels = level_pixels(level)
        return pixels[ty * lv.tile_height:(ty + 1) * lv.tile_height, tx * lv.tile_width:(tx + 1) * lv.tile_width]

    return read_tile


@_with_cors
def get_frames(request: Request, app: App) -> Response:
    segments = _split_tail(request.groups[0])
    resource_id = _orthanc_id(segments[0])
    if len(segments) < 2 or not segments[1].isdigit() or len(segments[1]) > _INDEX_DIGITS:
        raise NotFound("expected /wsi/iiif/frames/{id}/{frameIndex}")
    index = int(segments[1])
    base = f"{app.settings.public_url}wsi/iiif/frames/{resource_id}/{index}"
    rest = segments[2:]
    if rest in ([], [""]):
        return _redirect(base + "/info.json")
    _check_shape(rest)
    instance_id, frame, rows, columns = locate_frame(app, resource_id, index)
    pyramid = frame_pyramid(columns, rows)
    key = (instance_id, "iiif", app.service.instance_version(instance_id), frame)
    return _serve_image_service(request, app, base, rest, pyramid, key,
                                frame_reader(app, instance_id, frame, pyramid))


# ---- manifests -------------------------------------------------------------------------------------

def _links(app: App, series_id: str) -> SeriesLinks:
    public = app.settings.public_url
    return SeriesLinks(manifest_id=f"{public}wsi/iiif/series/{series_id}/manifest.json",
                       orthanc_series_url=f"{public}series/{series_id}",
                       explorer_url=f"{public}app/explorer.html#series?uuid={series_id}")


def _associated_thumbnail(app: App, series_id: str, model: object) -> dict | None:
    found = getattr(model, "associated", {}).get("thumbnail")
    if found is None:
        return None
    level = found.level
    return {"id": f"{app.settings.public_url}wsi/associated/{series_id}/thumbnail", "type": "Image",
            "format": "image/png", "width": level.width, "height": level.height}


@_with_cors
def get_manifest(request: Request, app: App) -> Response:
    series_id = _orthanc_id(request.groups[0])
    service, public, limits = app.service, app.settings.public_url, _limits(app)
    tags = service.series_tags(series_id)  # NotFound when there is no such series
    model = service.series_model(series_id)
    if model is not None and model.levels:
        pyramid = model.pyramid
        image = ImageService(f"{public}wsi/iiif/tiles/{series_id}", pyramid.width, pyramid.height)
        manifest = whole_slide_manifest(_links(app, series_id), tags, image, len(pyramid.levels), limits,
                                        _associated_thumbnail(app, series_id, model))
    else:
        frames = service.ordered_frames(series_id)
        images = [ImageService(f"{public}wsi/iiif/frames/{series_id}/{i}", f.columns, f.rows)
                  for i, f in enumerate(frames) if f.rows > 0 and f.columns > 0]
        if not images:
            raise NotFound(f"series {series_id} has no image frames")
        manifest = frames_manifest(_links(app, series_id), tags, images, limits)
    return _json_answer(request, manifest, PRESENTATION_JSONLD)


ROUTES: list[tuple[str, Handler]] = [
    (rf"/wsi/iiif/series/{SEGMENT}/manifest\.json", get_manifest),
    (rf"/wsi/iiif/tiles/{TAIL}", get_tiles),
    (rf"/wsi/iiif/frames/{TAIL}", get_frames),
]


def routes_for(settings: object) -> list[tuple[str, Handler]]:
    """No IIIF route at all unless WholeSlideImaging.EnableIIIF."""
    return ROUTES if getattr(settings, "enable_iiif", False) else []
