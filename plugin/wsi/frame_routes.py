"""Routes of on-the-fly frame pyramids, as the C++ WSI plugin 3.x names them, plus what our viewer needs.

/wsi/frames-pyramids/{instance}/{frame}            pyramid JSON of one frame (3.x keys, plus Grey/Window/Presets)
/wsi/frames-tiles/{instance}/{frame}/{z}/{x}/{y}   one 512 x 512 tile; ?window=CENTER,WIDTH for grey frames
/wsi/series-frames/{series}                        the frames of a series in IIIF order (the viewer's slider)

Frames count from 0 within the instance, as in 3.x. The IIIF forms are in iiif_routes.py.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING

from .accept import choose_tile_media_type
from .display import Window
from .errors import BadRequest, NotFound
from .frame_levels import FrameLevels
from .http import SEGMENT, VARY_ACCEPT, Request, Response, json_response
from .service import check_id

if TYPE_CHECKING:
    from .app import App

_INDEX = re.compile(r"[0-9]{1,9}")
_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]{1,3})?")
# 3.x answers PNG, or JPEG when asked, and 406 for anything else; we also answer lossless WebP (accept.py).
TILE_TYPES = ("image/png", "image/jpeg", "image/webp")


def _index(value: str, name: str) -> int:
    if not _INDEX.fullmatch(value):
        raise BadRequest(f"{name} must be a non-negative integer, got {value[:20]!r}", name)
    return int(value)


def parse_window(value: str | None) -> Window | None:
    """`CENTER,WIDTH` in modality units (e.g. `40,400`, `-600,1500`); width must be positive."""
    if value is None:
        return None
    parts = value.split(",")
    if len(value) > 64 or len(parts) != 2 or not all(_NUMBER.fullmatch(p.strip()) for p in parts):
        raise BadRequest(f"expected window=CENTER,WIDTH (two numbers), got {value[:40]!r}", "window")
    center, width = (float(p) for p in parts)
    if not (math.isfinite(center) and math.isfinite(width)) or width <= 0:
        raise BadRequest("the window's width must be positive and both numbers finite", "window")
    return Window(center, width)


def pyramid_json(instance_id: str, frame: int, levels: FrameLevels) -> dict:
    """The C++ plugin 3.x's keys and values, with the frame's true size (3.x pads to multiples of 64)."""
    pyramid = levels.pyramid
    body: dict = {
        "BackgroundColor": pyramid.background_hex,
        "FrameNumber": frame,
        "ID": instance_id,
        "Resolutions": [float(1 << z) for z in range(len(pyramid.levels))],
        "Sizes": [[lv.width, lv.height] for lv in pyramid.levels],
        "TilesCount": [[lv.tiles_x, lv.tiles_y] for lv in pyramid.levels],
        "TilesSizes": [[lv.tile_width, lv.tile_height] for lv in pyramid.levels],
        "TotalHeight": pyramid.height,
        "TotalWidth": pyramid.width,
        "Grey": levels.grey is not None,
    }
    if levels.grey is not None:
        default = levels.grey.window
        body["Window"] = {"Center": default.center, "Width": default.width}
        body["Presets"] = [{"Name": p.name, "Center": p.center, "Width": p.width} for p in levels.grey.presets]
    return body


def get_frame_pyramid(request: Request, app: App) -> Response:
    instance_id = check_id(request.groups[0], "instance id")
    frame = _index(request.groups[1], "frame")
    levels = app.service.radiology.frame_levels(instance_id, frame)
    return json_response(pyramid_json(instance_id, frame, levels), headers={"Cache-Control": "no-cache"})


def get_frame_tile(request: Request, app: App) -> Response:
    instance_id = check_id(request.groups[0], "instance id")
    frame = _index(request.groups[1], "frame")
    z, x, y = (_index(v, n) for v, n in zip(request.groups[2:5], ("level", "x", "y"), strict=True))
    chosen = parse_window(request.query.get("window"))
    media_type = choose_tile_media_type(request.header("accept"), "image/png", TILE_TYPES)
    body = app.service.frame_tile(instance_id, frame, z, x, y, media_type, chosen)
    return Response(200, body, media_type, VARY_ACCEPT)


def get_series_frames(request: Request, app: App) -> Response:
    series_id = check_id(request.groups[0], "series id")
    frames = app.service.radiology.series_frames(series_id)
    if not frames:
        raise NotFound(f"series {series_id} has no image frames")
    return json_response({"Frames": [{"Instance": f.instance_id, "Frame": f.frame} for f in frames]},
                         headers={"Cache-Control": "no-cache"})


ROUTES = [
    (rf"/wsi/frames-pyramids/{SEGMENT}/{SEGMENT}", get_frame_pyramid),
    (rf"/wsi/frames-tiles/{SEGMENT}/{SEGMENT}/{SEGMENT}/{SEGMENT}/{SEGMENT}", get_frame_tile),
    (rf"/wsi/series-frames/{SEGMENT}", get_series_frames),
]
