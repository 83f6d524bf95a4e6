"""IIIF Image API 3.0 info.json as a dict builder (pure)."""

from __future__ import annotations

from .iiif_render import SUPPORTED_FORMATS, Limits
from .pyramid import Pyramid, power_of_two_levels

IMAGE_CONTEXT = "http://iiif.io/api/image/3/context.json"
IMAGE_PROTOCOL = "http://iiif.io/api/image"
PROFILE = "level2"
PROFILE_URI = "http://iiif.io/api/image/3/level2.json"
JSONLD_MEDIA_TYPE = f'application/ld+json;profile="{IMAGE_CONTEXT}"'

# Level 2 already implies color/gray/bitonal, jpg/png and the region/size forms (compliance 3.0);
# these are what we add on top.
EXTRA_FEATURES = ["mirroring", "rotationArbitrary", "sizeUpscaling", "canonicalLinkHeader",
                  "profileLinkHeader", "baseUriRedirect", "cors", "jsonldMediaType"]
EXTRA_QUALITIES = ["color", "gray", "bitonal"]
PREFERRED_FORMATS = ["jpg"]


def scale_factors(pyramid: Pyramid, force_powers_of_two: bool) -> list[tuple[int, int]]:
    """(level index, published integer scale factor), finest first, each factor once.

    Forced: only levels whose downsample is exactly a power of two. Otherwise every level with its
    true factor rounded to the integer IIIF requires; rendering reads the best level for any scale,
    so whatever a client derives from these stays servable.
    """
    if force_powers_of_two:
        found = power_of_two_levels(pyramid)
        return found if found else [(0, 1)]
    seen: dict[int, int] = {}
    for index in range(len(pyramid.levels)):
        factor = max(1, round(pyramid.downsample(index)))
        seen.setdefault(factor, index)
    return sorted(((index, factor) for factor, index in seen.items()), key=lambda pair: pair[1])


def tile_entries(pyramid: Pyramid, force_powers_of_two: bool) -> list[dict]:
    """One entry per distinct tile size, with the scale factors of the levels that use it."""
    groups: dict[tuple[int, int], list[int]] = {}
    for index, factor in scale_factors(pyramid, force_powers_of_two):
        level = pyramid.levels[index]
        groups.setdefault((level.tile_width, level.tile_height), []).append(factor)
    return [{"type": "Tile", "width": w, "height": h, "scaleFactors": factors}
            for (w, h), factors in groups.items()]


def preferred_sizes(pyramid: Pyramid, limits: Limits) -> list[dict]:
    """Whole-image sizes cheap to serve (the levels), smallest first, all within the limits."""
    sizes = {(lv.width, lv.height) for lv in pyramid.levels if limits.allows(lv.width, lv.height)}
    if not sizes:
        # Every level is over the limits (a shallow pyramid): offer the largest size that is not.
        smallest = pyramid.levels[-1]
        sizes.add(limits.fit(smallest.width, smallest.height))
    return [{"type": "Size", "width": w, "height": h} for w, h in sorted(sizes)]


def image_info(service_id: str, pyramid: Pyramid, limits: Limits, force_powers_of_two: bool) -> dict:
    """info.json of one image service; `service_id` is its base URI (no trailing slash)."""
    return {
        "@context": IMAGE_CONTEXT,
        "id": service_id,
        "type": "ImageService3",
        "protocol": IMAGE_PROTOCOL,
        "profile": PROFILE,
        "width": pyramid.width,
        "height": pyramid.height,
        "maxWidth": limits.max_width,
        "maxHeight": limits.max_height,
        "maxArea": limits.max_area,
        "tiles": tile_entries(pyramid, force_powers_of_two),
        "sizes": preferred_sizes(pyramid, limits),
        "preferredFormats": PREFERRED_FORMATS,
        "extraFormats": [f for f in SUPPORTED_FORMATS if f not in ("jpg", "png")],
        "extraQualities": EXTRA_QUALITIES,
        # IIIFMaxUpscale 1 refuses every upscale: then the feature is not offered.
        "extraFeatures": [f for f in EXTRA_FEATURES if f != "sizeUpscaling" or limits.max_upscale > 1],
    }
