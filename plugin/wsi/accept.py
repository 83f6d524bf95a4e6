"""HTTP Accept negotiation for tile formats (RFC 9110 section 12.5.1), pure."""

from __future__ import annotations

from functools import lru_cache

from .errors import NotAcceptable

TILE_TYPES = ("image/png", "image/jpeg", "image/jp2")


def parse_accept(header: str) -> list[tuple[str, float]]:
    """(media range, q) pairs; malformed q-values count as 1, as most servers do."""
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
                try:
                    q = min(max(float(value), 0.0), 1.0)
                except ValueError:
                    q = 1.0
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
