"""IIIF routes: Image API 3.0 services for whole-slide series and radiology frames, Presentation 3.0 manifests.

/wsi/iiif/tiles/{seriesId}[/info.json | /{region}/{size}/{rotation}/{quality}.{format}]
/wsi/iiif/frames/{seriesId or instanceId}/{index}[/info.json | /...]   (index across the ordered series,
                                                                         or the frame within the instance)
/wsi/iiif/frames-pyramids/{instanceId}/{frame}[/info.json | /manifest.json | /...]   (the C++ plugin 3.x's form)
/wsi/iiif/series/{seriesId}/manifest.json

Each image route takes the whole tail of the path so that an unknown identifier answers 404 and a
malformed request for a known one answers 400, whatever the number of segments (Orthanc turns
backslashes into slashes before we see the path).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import wraps
from typing import TYPE_CHECKING

from .errors import BadRequest, NotFound
from .http import SEGMENT, TAIL, Request, Response, content_etag, etag_matches, immutable_cache_control, text_response
from .iiif_info import JSONLD_MEDIA_TYPE as IMAGE_JSONLD
from .iiif_info import PROFILE_URI, image_info
from .iiif_render import Limits, RenderPlan, plan_render
from .iiif_request import parse_image_request
from .manifest import JSONLD_MEDIA_TYPE as PRESENTATION_JSONLD
from .manifest import ImageService, SeriesLinks, frames_manifest, whole_slide_manifest
from .routes import error_response
from .service import ORTHANC_ID, ImageSource

if TYPE_CHECKING:
    from .app import App


CORS = {"Access-Control-Allow-Origin": "*"}
IMAGE_CACHE_CONTROL = "private, max-age=3600"  # private: Orthanc may sit behind authentication
INFO_CACHE_CONTROL = "private, max-age=60"  # a series can gain or lose instances
VERSION_MARK = "@"  # image identifier "{series}@{version}": that version of the slide (the pyramid's "Version")
_INDEX_DIGITS = 9

Handler = Callable[[Request, "App"], Response]


def with_cors(handler: Handler) -> Handler:
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

def orthanc_id(segment: str) -> str:
    # IIIF 3.0 section 7.3: an identifier that names no image is 404, whatever its shape.
    if not ORTHANC_ID.fullmatch(segment):
        raise NotFound(f"unknown image {segment[:60]!r}")
    return segment


def _limits(app: App) -> Limits:
    s = app.settings
    return Limits(s.iiif_max_width, s.iiif_max_height, s.iiif_max_area, s.iiif_max_upscale)




def _cached_answer(request: Request, body: bytes, media_type: str, headers: dict[str, str],
                   stream: bool = False) -> Response:
    etag = content_etag(body)
    headers = {**headers, "ETag": etag}
    if etag_matches(request.header("if-none-match"), etag):
        return Response(304, b"", media_type, headers)
    return Response(200, body, media_type, headers, stream=stream)


def json_answer(request: Request, payload: dict, jsonld_type: str) -> Response:
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


def _serve_image_service(request: Request, app: App, base: str, rest: list[str], image: ImageSource,
                         cache_control: str | None = None) -> Response:
    """info.json or an image request of one image service, whose base URI is `base`; `cache_control` replaces the
    default Cache-Control of its answers (a versioned image never changes).

    Renders go through the app's RenderGate: a busy server or a render over its time budget raises
    Overloaded (503 with Retry-After, from the one error mapper).
    """
    if rest == ["info.json"]:
        info = image_info(base, image.pyramid, _limits(app), app.settings.force_powers_of_two)
        answer = json_answer(request, info, IMAGE_JSONLD)
    else:
        plan = plan_render(parse_image_request(*rest), image.pyramid, _limits(app))
        body = app.service.rendered(image, plan, app.renders)  # whole: a failure still gets its own status
        # Renders reach IIIFMaxArea pixels (tens of MB as PNG or TIFF): streamed where the SDK can (adapter.answer).
        answer = _cached_answer(request, body, plan.media_type, _image_headers(base, plan),
                                stream=app.settings.stream_large_answers)
    if cache_control:
        answer.headers["Cache-Control"] = cache_control
    return answer


def _image_headers(base: str, plan: RenderPlan) -> dict[str, str]:
    links = f'<{base}/{plan.canonical}>;rel="canonical", <{PROFILE_URI}>;rel="profile"'
    return {"Cache-Control": IMAGE_CACHE_CONTROL, "Link": links}


def _check_shape(rest: list[str]) -> None:
    if rest != ["info.json"] and len(rest) != 4:
        raise BadRequest("expected info.json or {region}/{size}/{rotation}/{quality}.{format}", "path")


# ---- whole-slide series ----------------------------------------------------------------------------

@with_cors
def get_tiles(request: Request, app: App) -> Response:
    segments = _split_tail(request.groups[0])
    # "{series}@{version}" (what our manifests name) is one version of the slide: immutable; a stale one is 404.
    series_id, versioned, version = segments[0].partition(VERSION_MARK)
    series_id = orthanc_id(series_id)
    base = f"{app.settings.public_url}wsi/iiif/tiles/{segments[0]}"
    rest = segments[1:]
    if rest in ([], [""]):
        return _redirect(base + "/info.json")  # baseUriRedirect
    _check_shape(rest)
    # The model (its revision: instances and their stored files) is taken before rendering and keys the
    # renders: a changed series, even stored again with the same UIDs, never answers from a stale one.
    model = app.service.series.wsi_model(series_id)
    if versioned and version != model.version:
        raise NotFound(f"image {segments[0][:80]!r} has changed (now version {model.version}): read the manifest again")
    return _serve_image_service(request, app, base, rest, app.service.slide_image(model),
                                immutable_cache_control(app.settings.authenticated) if versioned else None)


# ---- frames of other series ------------------------------------------------------------------------

def _frame_service(request: Request, app: App, route: str, form: str) -> tuple[str, int, str, list[str]]:
    """(Orthanc id, frame number, service base URI, the rest of the path) of /wsi/iiif/{route}/{id}/{n}/..."""
    segments = _split_tail(request.groups[0])
    resource_id = orthanc_id(segments[0])
    if len(segments) < 2 or not segments[1].isdigit() or len(segments[1]) > _INDEX_DIGITS:
        raise NotFound(f"expected /wsi/iiif/{route}/{form}")
    number = int(segments[1])
    return resource_id, number, f"{app.settings.public_url}wsi/iiif/{route}/{resource_id}/{number}", segments[2:]


@with_cors
def get_frames(request: Request, app: App) -> Response:
    resource_id, index, base, rest = _frame_service(request, app, "frames", "{id}/{frameIndex}")
    if rest in ([], [""]):
        return _redirect(base + "/info.json")
    _check_shape(rest)
    return _serve_image_service(request, app, base, rest, app.service.frame_image(resource_id, index))


@with_cors
def get_frame_pyramids(request: Request, app: App) -> Response:
    """/wsi/iiif/frames-pyramids/{instance}/{frame}: the C++ plugin 3.x's IIIF form of a frame's pyramid (512-px
    tiles, levels halving), as a level-2 service, and its manifest."""
    instance_id, frame, base, rest = _frame_service(request, app, "frames-pyramids", "{instance}/{frame}")
    if rest in ([], [""]):
        return _redirect(base + "/info.json")
    image = app.service.frame_pyramid_image(instance_id, frame)  # NotFound: no such instance or frame
    if rest == ["manifest.json"]:
        series_id = app.service.radiology.parent_series(instance_id)
        tags = app.service.series.series_tags(series_id)
        links = SeriesLinks(manifest_id=f"{base}/manifest.json", orthanc_series_url=f"{app.settings.public_url}"
                            f"series/{series_id}", explorer_url=f"{app.settings.public_url}app/explorer.html"
                            f"#instance?uuid={instance_id}")
        service = ImageService(base, image.pyramid.width, image.pyramid.height)
        return json_answer(request, frames_manifest(links, tags, [service], _limits(app)), PRESENTATION_JSONLD)
    _check_shape(rest)
    return _serve_image_service(request, app, base, rest, image)


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


@with_cors
def get_manifest(request: Request, app: App) -> Response:
    series_id = orthanc_id(request.groups[0])
    service, public, limits = app.service, app.settings.public_url, _limits(app)
    tags = service.series.series_tags(series_id)  # NotFound when there is no such series
    model = service.series.series_model(series_id)
    if model is not None and model.levels:
        pyramid = model.pyramid
        image = ImageService(f"{public}wsi/iiif/tiles/{series_id}{VERSION_MARK}{model.version}", pyramid.width,
                             pyramid.height)
        manifest = whole_slide_manifest(_links(app, series_id), tags, image, len(pyramid.levels), limits,
                                        _associated_thumbnail(app, series_id, model))
    else:
        frames = service.radiology.ordered_frames(series_id)
        images = [ImageService(f"{public}wsi/iiif/frames/{series_id}/{i}", f.columns, f.rows)
                  for i, f in enumerate(frames) if f.rows > 0 and f.columns > 0]
        if not images:
            raise NotFound(f"series {series_id} has no image frames")
        manifest = frames_manifest(_links(app, series_id), tags, images, limits)
    # The study's collection (iiif_collection_routes), so that a client can browse up from a manifest.
    manifest["partOf"] = [{"id": f"{public}wsi/iiif/studies/{tags['OrthancStudyID']}/collection.json",
                           "type": "Collection"}]
    return json_answer(request, manifest, PRESENTATION_JSONLD)


ROUTES: list[tuple[str, Handler]] = [
    (rf"/wsi/iiif/series/{SEGMENT}/manifest\.json", get_manifest),
    (rf"/wsi/iiif/tiles/{TAIL}", get_tiles),
    (rf"/wsi/iiif/frames/{TAIL}", get_frames),
    (rf"/wsi/iiif/frames-pyramids/{TAIL}", get_frame_pyramids),
]


def only_with_iiif(settings: object, routes: list[tuple[str, Handler]]) -> list[tuple[str, Handler]]:
    """No IIIF route at all unless WholeSlideImaging.EnableIIIF."""
    return routes if getattr(settings, "enable_iiif", False) else []


def routes_for(settings: object) -> list[tuple[str, Handler]]:
    return only_with_iiif(settings, ROUTES)
