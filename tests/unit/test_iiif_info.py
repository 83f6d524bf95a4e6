"""info.json: required properties, scale factors under both policies, sizes within the limits."""

import pytest
from wsi.iiif_info import image_info, preferred_sizes, scale_factors, tile_entries
from wsi.iiif_render import Limits, frame_pyramid, plan_render
from wsi.iiif_request import parse_image_request
from wsi.pyramid import Level, Pyramid

LIMITS = Limits(10000, 10000, 50_000_000)


def pyramid_of(*factors: float, width: int = 40000, height: int = 30000, tile: int = 256) -> Pyramid:
    return Pyramid(tuple(Level(round(width / f), round(height / f), tile, tile) for f in factors))


REGULAR = pyramid_of(1, 2, 4, 8, 16, 32)
IRREGULAR = pyramid_of(1, 3, 9, 27, 81)  # factor-3 pyramids exist (some scanners)
MIXED = pyramid_of(1, 4, 12, 48)


def test_required_properties_and_order():
    info = image_info("https://example.org/wsi/iiif/tiles/abc", REGULAR, LIMITS, True)
    assert next(iter(info)) == "@context"  # "SHOULD appear as the very first key-value pair"
    assert info["@context"] == "http://iiif.io/api/image/3/context.json"
    assert info["id"] == "https://example.org/wsi/iiif/tiles/abc"
    assert (info["type"], info["protocol"], info["profile"]) == ("ImageService3", "http://iiif.io/api/image",
                                                                 "level2")
    assert (info["width"], info["height"]) == (40000, 30000)
    assert (info["maxWidth"], info["maxHeight"], info["maxArea"]) == (10000, 10000, 50_000_000)
    assert "sizeUpscaling" in info["extraFeatures"]  # which requires maxWidth or maxArea (section 5.6)
    assert set(info["extraQualities"]) == {"color", "gray", "bitonal"}
    assert "jpg" not in info["extraFormats"] and "png" not in info["extraFormats"]
    assert info["preferredFormats"] == ["jpg"]


@pytest.mark.parametrize(("pyramid", "forced", "expected"), [
    (REGULAR, True, [1, 2, 4, 8, 16, 32]),
    (REGULAR, False, [1, 2, 4, 8, 16, 32]),
    (IRREGULAR, True, [1]),
    (IRREGULAR, False, [1, 3, 9, 27, 81]),
    (MIXED, True, [1, 4]),
    (MIXED, False, [1, 4, 12, 48]),
    (pyramid_of(1, 2.5, 5), False, [1, 2, 5]),  # nearest integer: scaleFactors are integers
    (pyramid_of(1, 1.02), False, [1]),  # each factor once
])
def test_scale_factor_policies(pyramid, forced, expected):
    assert [factor for _, factor in scale_factors(pyramid, forced)] == expected


@pytest.mark.parametrize("pyramid", [REGULAR, IRREGULAR, MIXED, pyramid_of(1, 2.5, 5)])
@pytest.mark.parametrize("forced", [True, False])
def test_every_published_tile_plans_from_a_level_fine_enough(pyramid, forced):
    """The request a client derives from tiles (section 5.4, implementation notes) plans cleanly."""
    for entry in tile_entries(pyramid, forced):
        for factor in entry["scaleFactors"]:
            region_w = entry["width"] * factor
            region_h = entry["height"] * factor
            w, h = min(region_w, pyramid.width), min(region_h, pyramid.height)
            size = f"{-(-w // factor)},{-(-h // factor)}"
            plan = plan_render(parse_image_request(f"0,0,{region_w},{region_h}", size, "0", "default.jpg"),
                               pyramid, LIMITS)
            assert pyramid.downsample(plan.level) <= factor * 1.01


def test_tiles_grouped_by_tile_size():
    pyramid = Pyramid((Level(4096, 4096, 512, 512), Level(2048, 2048, 512, 512), Level(1024, 1024, 256, 256)))
    assert tile_entries(pyramid, True) == [
        {"type": "Tile", "width": 512, "height": 512, "scaleFactors": [1, 2]},
        {"type": "Tile", "width": 256, "height": 256, "scaleFactors": [4]},
    ]


def test_sizes_smallest_first_and_within_limits():
    sizes = preferred_sizes(REGULAR, LIMITS)
    pairs = [(s["width"], s["height"]) for s in sizes]
    assert pairs == sorted(pairs) and pairs[0] == (1250, 938)
    assert all(LIMITS.allows(w, h) for w, h in pairs)
    assert (40000, 30000) not in pairs  # over maxWidth


def test_shallow_pyramid_still_offers_a_size_within_the_limits():
    sizes = preferred_sizes(pyramid_of(1, 2), Limits(2000, 2000, 4_000_000))
    assert sizes == [{"type": "Size", "width": 2000, "height": 1500}]


def test_small_frame_info_has_one_tile_of_the_whole_frame():
    info = image_info("http://h/wsi/iiif/frames/x/0", frame_pyramid(512, 400), LIMITS, True)
    assert info["tiles"] == [{"type": "Tile", "width": 512, "height": 400, "scaleFactors": [1]}]
    assert info["sizes"] == [{"type": "Size", "width": 512, "height": 400}]


def test_large_frame_info_has_512_tiles_and_power_of_two_factors():
    info = image_info("http://h/wsi/iiif/frames/x/0", frame_pyramid(10000, 10000), LIMITS, True)
    assert info["tiles"] == [{"type": "Tile", "width": 512, "height": 512, "scaleFactors": [1, 2, 4, 8, 16, 32]}]
    assert info["sizes"][0] == {"type": "Size", "width": 313, "height": 313}


def test_limits_are_published_and_no_upscaling_drops_the_feature():
    info = image_info("https://example.org/x", REGULAR, Limits(5000, 4000, 10_000_000, max_upscale=1.0), True)
    assert (info["maxWidth"], info["maxHeight"], info["maxArea"]) == (5000, 4000, 10_000_000)
    assert "sizeUpscaling" not in info["extraFeatures"]
    assert all(s["width"] * s["height"] <= 10_000_000 for s in info["sizes"])
