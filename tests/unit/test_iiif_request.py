"""IIIF Image API 3.0 request syntax, replaying the specification's own examples (sections 4 and 9)."""

import pytest
from wsi.errors import BadRequest
from wsi.iiif_request import (
    Region,
    Rotation,
    Size,
    format_number,
    parse_image_request,
    parse_quality_format,
    parse_region,
    parse_rotation,
    parse_size,
)


@pytest.mark.parametrize(("text", "expected"), [
    ("full", Region("full")),
    ("square", Region("square")),
    ("125,15,120,140", Region("pixels", 125, 15, 120, 140)),
    ("pct:41.6,7.5,40,70", Region("percent", 41.6, 7.5, 40, 70)),
    ("125,15,200,200", Region("pixels", 125, 15, 200, 200)),
    ("pct:41.6,7.5,66.6,100", Region("percent", 41.6, 7.5, 66.6, 100)),
    ("pct:0.5,.5,10.,1", Region("percent", 0.5, 0.5, 10, 1)),
])
def test_region_examples(text, expected):
    assert parse_region(text) == expected


@pytest.mark.parametrize("text", [
    "", "Full", "full2", "1,2,3", "1,2,3,4,5", "-1,0,10,10", "0,0,0,10", "0,0,10,0", "pct:0,0,0,10",
    "1.5,0,10,10", "pct:+1,0,10,10", "pct:1e2,0,1,1", "pct:nan,0,1,1", "pct:", "abc", "0x1,0,1,1",
])
def test_region_errors(text):
    with pytest.raises(BadRequest) as caught:
        parse_region(text)
    assert caught.value.parameter == "region"


@pytest.mark.parametrize(("text", "expected"), [
    ("max", Size("max")),
    ("^max", Size("max", True)),
    ("150,", Size("w", w=150)),
    ("^360,", Size("w", True, w=360)),
    (",150", Size("h", h=150)),
    ("^,240", Size("h", True, h=240)),
    ("pct:50", Size("pct", pct=50)),
    ("^pct:120", Size("pct", True, pct=120)),
    ("225,100", Size("wh", w=225, h=100)),
    ("^360,360", Size("wh", True, 360, 360)),
    ("!225,100", Size("confined", w=225, h=100)),
    ("^!360,360", Size("confined", True, 360, 360)),
])
def test_size_examples(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", [
    "full",  # 2.x only: 3.0 replaced it with max
    "pct:120",  # over 100 needs ^
    ",^240",  # the ^ goes first
    "0,", ",0", "!0,10", "0,10", ",", "!100,", "!,100", "abc", "pct:-1", "pct:0", "^", "10,10,10", "^^max",
    "1.5,", "-10,",
])
def test_size_errors(text):
    with pytest.raises(BadRequest) as caught:
        parse_size(text)
    assert caught.value.parameter == "size"


@pytest.mark.parametrize(("text", "expected"), [
    ("0", Rotation(0)), ("90", Rotation(90)), ("180", Rotation(180)), ("270", Rotation(270)),
    ("22.5", Rotation(22.5)), ("!0", Rotation(0, True)), ("!180", Rotation(180, True)),
    ("!345", Rotation(345, True)), ("360", Rotation(360)), ("0.5", Rotation(0.5)),
])
def test_rotation_examples(text, expected):
    assert parse_rotation(text) == expected


@pytest.mark.parametrize("text", ["361", "-90", "abc", "!!0", "+90", "1e2", "", "!", "90!", "360.01"])
def test_rotation_errors(text):
    with pytest.raises(BadRequest) as caught:
        parse_rotation(text)
    assert caught.value.parameter == "rotation"


@pytest.mark.parametrize(("text", "expected"), [
    ("default.jpg", ("default", "jpg")), ("color.jpg", ("color", "jpg")), ("gray.png", ("gray", "png")),
    ("bitonal.webp", ("bitonal", "webp")), ("default.tif", ("default", "tif")), ("gray.jp2", ("gray", "jp2")),
])
def test_quality_format(text, expected):
    assert parse_quality_format(text) == expected


@pytest.mark.parametrize(("text", "parameter"), [
    ("default", "format"), ("grey.jpg", "quality"), ("native.jpg", "quality"), ("default.xyz", "format"),
    ("default.JPG", "format"), ("default.", "format"), ("", "format"),
])
def test_quality_format_errors(text, parameter):
    with pytest.raises(BadRequest) as caught:
        parse_quality_format(text)
    assert caught.value.parameter == parameter


# Section 9's table of parameters and URI paths (the examples that carry a format).
@pytest.mark.parametrize(("path", "region", "size", "rotation", "quality", "fmt"), [
    ("0,10,100,200/pct:50/90/default.png", Region("pixels", 0, 10, 100, 200), Size("pct", pct=50),
     Rotation(90), "default", "png"),
    ("pct:10,10,80,80/50,/22.5/color.jpg", Region("percent", 10, 10, 80, 80), Size("w", w=50),
     Rotation(22.5), "color", "jpg"),
    ("full/max/270/gray.jpg", Region("full"), Size("max"), Rotation(270), "gray", "jpg"),
    ("125,15,120,140/90,/!345/gray.jpg", Region("pixels", 125, 15, 120, 140), Size("w", w=90),
     Rotation(345, True), "gray", "jpg"),
])
def test_spec_uri_table(path, region, size, rotation, quality, fmt):
    request = parse_image_request(*path.split("/"))
    assert (request.region, request.size, request.rotation, request.quality, request.format) == (
        region, size, rotation, quality, fmt)


@pytest.mark.parametrize(("value", "text"), [
    (0, "0"), (90.0, "90"), (22.5, "22.5"), (0.9, "0.9"), (41.60, "41.6"), (360, "360"), (1 / 3, "0.3333333333"),
])
def test_format_number_is_canonical(value, text):
    assert format_number(value) == text


# ---- numbers that could overflow the arithmetic after parsing: refused here, as 400 --------------------------

HUGE = [
    ("region", f"pct:{'1' * 400},0,10,10"), ("region", f"{'9' * 5000},0,10,10"), ("region", f"0,0,{'9' * 10},1"),
    ("region", f"pct:0,0,10.{'5' * 11},1"), ("region", "pct:0,0,1e308,1"), ("region", "pct:nan,0,1,1"),
    ("size", "pct:1e308"), ("size", f"^pct:{'9' * 300}"), ("size", f"^{'9' * 5000},"), ("size", f"!1,{'1' * 10}"),
    ("size", "^pct:inf"), ("rotation", "1e400"), ("rotation", "3" * 500), ("rotation", "inf"), ("rotation", "nan"),
]


@pytest.mark.parametrize(("parameter", "text"), HUGE)
def test_huge_numbers_are_bad_requests(parameter, text):
    parse = {"region": parse_region, "size": parse_size, "rotation": parse_rotation}[parameter]
    with pytest.raises(BadRequest) as caught:
        parse(text)
    assert caught.value.parameter == parameter
    assert len(str(caught.value)) < 200  # the value is quoted cut short


@pytest.mark.parametrize(("parameter", "text"), [
    ("region", f"{'9' * 9},{'9' * 9},{'9' * 9},{'9' * 9}"), ("region", f"pct:{'9' * 9}.{'9' * 10},0,1,1"),
    ("size", f"^{'9' * 9},"), ("size", f"^pct:{'9' * 9}.{'9' * 10}"), ("rotation", "359.9999999999"),
])
def test_largest_accepted_numbers_still_parse(parameter, text):
    parse = {"region": parse_region, "size": parse_size, "rotation": parse_rotation}[parameter]
    assert parse(text) is not None
