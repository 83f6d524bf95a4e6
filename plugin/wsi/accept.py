"""HTTP Accept negotiation for tile formats (RFC 9110 section 12.5.1), pure."""

from __future__ import annotations

import re
from functools import lru_cache

from .errors import NotAcceptable

TILE_TYPES = ("image/png", "image/jpeg", "image/jp2")
# RFC 9110 qvalue, a little more lenient (more decimals, values above 1 clipped); never nan, inf, an
# exponent, a sign or a number long enough to overflow.
_QVALUE = re.compile(r"[0-9]{1,3}(\.[0-9]{0,6})?")


def parse_accept(header: str) -> list[tuple[str, float]]:
    """(media range, q) pairs; a q-value that is not a plain decimal number counts as 1, as most servers do."""
    ranges = []
    for part in header.split(","):
        fields = [f.strip() for f in part.split(";")]
        media = fields[0].lower()
        if not media:
            continue
        q = 1.0
        for param in fields[1:]:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                value = value.strip()
                q = min(float(value), 1.0) if _QVALUE.fullmatch(value) else 1.0
        ranges.append((media, q))
    return ranges


def _quality(media: str, ranges: list[tuple[str, float]]) -> float:
    """q of the most specific range matching `media` (exact, then type/*, then */*)."""
    kind = media.split("/")[0] + "/*"
    for candidate in (media, kind, "*/*"):
        for name, q in ranges:
            if name == candidate:
                return q
    return 0.0


@lru_cache(maxsize=256)  # clients repeat the same few headers on every tile
def choose_media_type(header: str, default: str, offered: tuple[str, ...] = TILE_TYPES) -> str:
    """The default when acceptable at the best q, else the best acceptable offer; NotAcceptable if none."""
    if not header.strip():
        return default
    ranges = parse_accept(header)
    scores = {media: _quality(media, ranges) for media in offered}
    best = max(scores.values())
    if best <= 0:
        raise NotAcceptable(f"none of {', '.join(offered)} is acceptable")
    if scores.get(default, 0.0) == best:
        return default
    return next(media for media in offered if scores[media] == best)
