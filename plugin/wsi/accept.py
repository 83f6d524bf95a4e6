"""HTTP Accept negotiation for tile formats (RFC 9110 section 12.5.1), on python-mimeparse.

mimeparse finds the most specific media range matching each offer (exact, then type/*, then */*) and bounds
q-values: one it cannot read as a number in [0, 1] (nan, inf, 1e400, a 5,000-digit number, 0x1p3) counts as 1.
Here: case-insensitive media types, an unparseable element skipped rather than failing the request, and the
choice between equally acceptable offers.

Tiles (`choose_tile_media_type`): a stored JPEG goes out as stored when acceptable; what must be re-encoded goes
out lossless, as WebP when the client names image/webp (every current browser does, for images; lossless WebP
is about half the bytes of our PNG for a slide tile: docs/codec.md), else PNG.
"""

from __future__ import annotations

from functools import lru_cache

import mimeparse

from .errors import NotAcceptable

TILE_TYPES = ("image/png", "image/jpeg", "image/jp2", "image/webp")
WEBP = "image/webp"


def _media_ranges(header: str) -> list[tuple[str, str, dict]]:
    parsed = []
    for element in header.lower().split(","):
        if not element.strip():
            continue
        try:
            parsed.append(mimeparse.parse_media_range(element))
        except mimeparse.MimeTypeParseException:  # e.g. "image" without a subtype: ignored, as browsers do
            continue
    return parsed


@lru_cache(maxsize=256)  # clients repeat the same few headers on every tile
def choose_media_type(header: str, default: str, offered: tuple[str, ...] = TILE_TYPES) -> str:
    """The default when acceptable at the best q, else the best acceptable offer; NotAcceptable if none."""
    ranges = _media_ranges(header)
    if not ranges:  # no header, or nothing in it we can read: as if absent (RFC 9110: anything goes)
        return default
    scores = {media: mimeparse.quality_parsed(media, ranges) for media in offered}
    best = max(scores.values())
    if best <= 0:
        raise NotAcceptable(f"none of {', '.join(offered)} is acceptable")
    if scores.get(default, 0.0) == best:
        return default
    return next(media for media in offered if scores[media] == best)


def choose_tile_media_type(header: str, default: str, offered: tuple[str, ...] = TILE_TYPES) -> str:
    """choose_media_type, then lossless WebP for PNG where the client names image/webp at no lower a q."""
    chosen = choose_media_type(header, default, offered)
    if chosen != "image/png" or WEBP not in offered:
        return chosen
    return WEBP if _names_webp_first(header) else chosen


@lru_cache(maxsize=256)
def _names_webp_first(header: str) -> bool:
    ranges = _media_ranges(header)
    named = any((kind, subtype) == ("image", "webp") for kind, subtype, _ in ranges)
    return named and mimeparse.quality_parsed(WEBP, ranges) >= mimeparse.quality_parsed("image/png", ranges) > 0
