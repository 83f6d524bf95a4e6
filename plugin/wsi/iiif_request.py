"""IIIF Image API 3.0 request syntax: path parameters -> frozen `ImageRequest`.

Only the specification's syntax is checked here; nothing depends on an actual image
(clipping, limits and upscaling rules live in `iiif_render`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import BadRequest

# IIIF 3.0 section 4.5: every format the specification names, with its media type.
FORMAT_MEDIA_TYPES: dict[str, str] = {
    "jpg": "image/jpeg",
    "png": "image/png",
    "tif": "image/tiff",
    "gif": "image/gif",
    "jp2": "image/jp2",
    "pdf": "application/pdf",
    "webp": "image/webp",
}
QUALITIES = ("default", "color", "gray", "bitonal")

# Section 4.7: floats are decimal digits and "." only (no sign, exponent, nan or inf). Digits are
# bounded too, so that no number can overflow the arithmetic that follows: 9 digits are far more than
# any slide's pixels or any sensible percentage, and the size limits refuse what is too large anyway.
_MAX_DIGITS = 9
_MAX_DECIMALS = 10
_FLOAT = re.compile(rf"(?:[0-9]{{1,{_MAX_DIGITS}}}(?:\.[0-9]{{0,{_MAX_DECIMALS}}})?|\.[0-9]{{1,{_MAX_DECIMALS}}})")
_INT = re.compile(rf"[0-9]{{1,{_MAX_DIGITS}}}")


@dataclass(frozen=True)
class Region:
    kind: str  # "full", "square", "pixels" or "percent"
    x: float = 0.0
    y: float = 0.0
    w: float = 0.0
    h: float = 0.0


@dataclass(frozen=True)
class Size:
    kind: str  # "max", "w", "h", "wh", "confined" (!w,h) or "pct"
    upscale: bool = False  # "^" prefix
    w: int = 0
    h: int = 0
    pct: float = 0.0


@dataclass(frozen=True)
class Rotation:
    degrees: float = 0.0
    mirror: bool = False


@dataclass(frozen=True)
class ImageRequest:
    region: Region
    size: Size
    rotation: Rotation
    quality: str
    format: str


def _float(text: str, parameter: str) -> float:
    if not _FLOAT.fullmatch(text):
        raise BadRequest(f"invalid number {_shown(text)} in {parameter} (at most {_MAX_DIGITS} digits before "
                         f"the point and {_MAX_DECIMALS} after)", parameter)
    return float(text)


def _int(text: str, parameter: str) -> int:
    if not _INT.fullmatch(text):
        raise BadRequest(f"invalid integer {_shown(text)} in {parameter} (at most {_MAX_DIGITS} digits)",
                         parameter)
    return int(text)


def _shown(text: str) -> str:
    """A client's value quoted in a message, cut short: a 5000-digit number needs not come back whole."""
    return repr(text) if len(text) <= 40 else repr(text[:40]) + "..."


def parse_region(text: str) -> Region:
    if text in ("full", "square"):
        return Region(text)
    percent = text.startswith("pct:")
    parts = (text[4:] if percent else text).split(",")
    if len(parts) != 4:
        raise BadRequest(f"invalid region {_shown(text)}", "region")
    if percent:
        x, y, w, h = (_float(p, "region") for p in parts)
        kind = "percent"
    else:
        x, y, w, h = (_int(p, "region") for p in parts)
        kind = "pixels"
    if w <= 0 or h <= 0:
        raise BadRequest(f"region {_shown(text)} has zero width or height", "region")
    return Region(kind, x, y, w, h)


def parse_size(text: str) -> Size:
    upscale = text.startswith("^")
    body = text[1:] if upscale else text
    if body == "max":
        return Size("max", upscale)
    if body.startswith("pct:"):
        pct = _float(body[4:], "size")
        if pct <= 0:
            raise BadRequest("size percentage must be positive", "size")
        if pct > 100 and not upscale:
            raise BadRequest("pct over 100 requires ^ (IIIF 3.0 upscaling)", "size")
        return Size("pct", upscale, pct=pct)
    confined = body.startswith("!")
    parts = (body[1:] if confined else body).split(",")
    if len(parts) != 2:
        raise BadRequest(f"invalid size {_shown(text)}", "size")
    w_text, h_text = parts
    if confined:
        if not w_text or not h_text:
            raise BadRequest(f"invalid size {_shown(text)}", "size")
        return _checked(Size("confined", upscale, _int(w_text, "size"), _int(h_text, "size")))
    if w_text and h_text:
        return _checked(Size("wh", upscale, _int(w_text, "size"), _int(h_text, "size")))
    if w_text:
        return _checked(Size("w", upscale, w=_int(w_text, "size")))
    if h_text:
        return _checked(Size("h", upscale, h=_int(h_text, "size")))
    raise BadRequest(f"invalid size {_shown(text)}", "size")


def _checked(size: Size) -> Size:
    # IIIF 3.0 section 4.2: the scaled region must be at least one pixel.
    if (size.kind in ("w", "wh", "confined") and size.w == 0) or (size.kind in ("h", "wh", "confined")
                                                                   and size.h == 0):
        raise BadRequest("size must be at least 1 pixel", "size")
    return size


def parse_rotation(text: str) -> Rotation:
    mirror = text.startswith("!")
    degrees = _float(text[1:] if mirror else text, "rotation")
    if degrees > 360:
        raise BadRequest("rotation must be between 0 and 360", "rotation")
    return Rotation(degrees, mirror)


def parse_quality_format(text: str) -> tuple[str, str]:
    quality, dot, fmt = text.rpartition(".")
    if not dot:
        raise BadRequest(f"missing format in {_shown(text)}", "format")
    if quality not in QUALITIES:
        raise BadRequest(f"unknown quality {_shown(quality)}", "quality")
    if fmt not in FORMAT_MEDIA_TYPES:
        raise BadRequest(f"unknown format {_shown(fmt)}", "format")
    return quality, fmt


def parse_image_request(region: str, size: str, rotation: str, quality_format: str) -> ImageRequest:
    """Parse the four path segments after the identifier."""
    quality, fmt = parse_quality_format(quality_format)
    return ImageRequest(parse_region(region), parse_size(size), parse_rotation(rotation), quality, fmt)


def format_number(value: float) -> str:
    """Canonical number (section 4.7): an integer when possible, else no trailing zeros."""
    if value == int(value):
        return str(int(value))
    return f"{value:.10f}".rstrip("0").rstrip(".")
