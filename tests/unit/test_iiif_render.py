"""IIIF 3.0 planning (tables from the specification) and rendering from a tiled pyramid."""

import io

import numpy as np
import pytest
from PIL import Image
from wsi import iiif_render, resample
from wsi.errors import BadRequest, Overloaded, UnsupportedFeature
from wsi.iiif_render import (
    Limits,
    frame_pyramid,
    plan_render,
    render_image,
    resolve_region,
    resolve_size,
    rotated_size,
)
from wsi.iiif_request import parse_image_request, parse_region, parse_size
from wsi.pyramid import Level, Pyramid
from wsi.resample import reduction_factor, resample_region

NO_LIMITS = Limits(100_000, 100_000, 10**10)


def grid_image(width: int, height: int, square: int = 50) -> np.ndarray:
    """Coloured squares, different in each cell, so any misplacement shows."""
    ys, xs = np.mgrid[0:height, 0:width]
    cx, cy = xs // square, ys // square
    return np.stack([(cx * 37) % 256, (cy * 59) % 256, ((cx + cy) * 23 + 40) % 256], axis=-1).astype(np.uint8)


class TiledImage:
    """A pyramid (factors 1, 2, 4, ...) cut into tiles, with a reader that records what it reads."""

    def __init__(self, pixels: np.ndarray, tile: int = 256, levels: int = 4) -> None:
        self.images = [pixels]
        for _ in range(1, levels):
            prev = Image.fromarray(self.images[-1])
            size = (-(-prev.width // 2), -(-prev.height // 2))
            self.images.append(np.asarray(prev.resize(size, Image.Resampling.BOX)))
        self.tile = tile
        self.pyramid = Pyramid(tuple(Level(im.shape[1], im.shape[0], tile, tile) for im in self.images))
        self.reads: list[tuple[int, int, int]] = []

    def read_tile(self, level: int, tx: int, ty: int) -> np.ndarray:
        self.reads.append((level, tx, ty))
        t = self.tile
        out = np.full((t, t, 3), 255, np.uint8)  # full tile size, edge padding as stored
        part = self.images[level][ty * t:(ty + 1) * t, tx * t:(tx + 1) * t]
        out[: part.shape[0], : part.shape[1]] = part
        return out


def plan(path: str, pyramid: Pyramid, limits: Limits = NO_LIMITS):
    return plan_render(parse_image_request(*path.split("/")), pyramid, limits)


# ---- region (section 4.1 examples, on the spec's 300 x 200 example image) -----------------------------

@pytest.mark.parametrize(("region", "expected"), [
    ("full", (0, 0, 300, 200)),
    ("square", (50, 0, 200, 200)),
    ("125,15,120,140", (125, 15, 120, 140)),
    ("pct:41.6,7.5,40,70", (125, 15, 120, 140)),
    ("125,15,200,200", (125, 15, 175, 185)),  # "N.B. Returned image is 175,185 px"
    ("pct:41.6,7.5,66.6,100", (125, 15, 175, 185)),
    ("299,199,10,10", (299, 199, 1, 1)),
    ("pct:0,0,0.001,0.001", (0, 0, 1, 1)),
])
def test_region_examples(region, expected):
    assert resolve_region(parse_region(region), 300, 200) == expected


def test_square_region_of_a_tall_image_is_centred():
    assert resolve_region(parse_region("square"), 200, 301) == (0, 50, 200, 200)


@pytest.mark.parametrize("region", ["300,0,10,10", "0,200,10,10", "pct:100,0,10,10", "1000,1000,5,5"])
def test_region_entirely_outside_is_400(region):
    with pytest.raises(BadRequest):
        resolve_region(parse_region(region), 300, 200)


# ---- size (section 4.2 examples, on the 300 x 200 full region) -----------------------------------------

@pytest.mark.parametrize(("size", "limits", "expected"), [
    ("max", Limits(200, 200, 10**6), (200, 133)),  # "assuming a maxWidth of 200px"
    ("^max", Limits(360, 360, 10**6), (360, 240)),  # "assuming a maxWidth of 360px"
    ("max", NO_LIMITS, (300, 200)),
    ("max", Limits(1000, 1000, 300 * 200 // 4), (150, 100)),  # maxArea alone
    ("150,", NO_LIMITS, (150, 100)),
    ("^360,", NO_LIMITS, (360, 240)),
    (",150", NO_LIMITS, (225, 150)),
    ("^,240", NO_LIMITS, (360, 240)),
    ("pct:50", NO_LIMITS, (150, 100)),
    ("^pct:120", NO_LIMITS, (360, 240)),
    ("225,100", NO_LIMITS, (225, 100)),
    ("^360,360", NO_LIMITS, (360, 360)),
    ("!225,100", NO_LIMITS, (150, 100)),  # "N.B. Returned image is 150,100 px"
    ("^!360,360", NO_LIMITS, (360, 240)),  # "N.B. Returned image is 360,240 px"
    ("!300,1000", NO_LIMITS, (300, 200)),  # the box touches the region: no upscaling needed
    ("!250,1000", Limits(150, 150, 10**6), (150, 100)),  # never larger than the server limits
    ("^!1000,1000", Limits(450, 450, 10**6), (450, 300)),
    ("^300,", NO_LIMITS, (300, 200)),  # ^ allows but does not require upscaling
])
def test_size_examples(size, limits, expected):
    assert resolve_size(parse_size(size), 300, 200, limits) == expected


@pytest.mark.parametrize(("size", "limits"), [
    ("301,", NO_LIMITS), (",201", NO_LIMITS), ("300,201", NO_LIMITS),  # upscaling without ^
    ("pct:0.1", NO_LIMITS),  # less than one pixel
    ("!1000,1000", NO_LIMITS), ("!2000,3000", NO_LIMITS),  # a box over the region needs ^ (validator)
    ("^400,", Limits(360, 360, 10**6)), ("^,300", Limits(1000, 250, 10**6)),  # over maxWidth/maxHeight
    ("200,200", Limits(1000, 1000, 30_000)),  # over maxArea
    ("1000,", NO_LIMITS), ("1,1000", NO_LIMITS),
])
def test_size_errors(size, limits):
    with pytest.raises(BadRequest):
        resolve_size(parse_size(size), 300, 200, limits)


def test_max_never_exceeds_area_limit():
    limits = Limits(10**6, 10**6, 777_777)
    w, h = resolve_size(parse_size("max"), 123_457, 98_765, limits)
    assert w * h <= 777_777 and abs(w / h - 123_457 / 98_765) < 0.01


# ---- limits on what is sent: rotation, upscaling ---------------------------------------------------------

@pytest.mark.parametrize("degrees", [0, 1, 15, 22.5, 30, 45, 60, 89.9, 90, 135, 180, 200, 270, 333.3])
@pytest.mark.parametrize(("width", "height"), [(1, 1), (2, 3), (300, 200), (1001, 77), (4096, 4096)])
def test_rotated_size_is_never_smaller_than_pillows_canvas(width, height, degrees):
    canvas = Image.new("L", (width, height)).rotate(-degrees, expand=True).size
    planned = rotated_size(width, height, degrees)
    assert canvas[0] <= planned[0] <= canvas[0] + 1 and canvas[1] <= planned[1] <= canvas[1] + 1


@pytest.mark.parametrize("path", ["full/max/45/default.jpg", "full/max/30/default.png", "full/max/!89/gray.png",
                                  "full/^max/45/default.jpg", "full/!8000,8000/45/default.jpg",
                                  "full/^!9000,9000/10/default.jpg", "0,0,1,1/^max/45/default.tif"])
def test_the_rotated_answer_respects_every_limit(path):
    limits = Limits(5000, 4000, 10_000_000, max_upscale=2.0)
    slide = Pyramid((Level(12000, 9000, 512, 512),))
    planned = plan(path, slide, limits)
    width, height = planned.output_size
    assert width <= 5000 and height <= 4000 and width * height <= 10_000_000
    # And what Pillow would really produce is no larger.
    canvas = Image.new("L", planned.size).rotate(-planned.rotation, expand=True).size
    assert canvas[0] <= width and canvas[1] <= height


def test_max_at_45_degrees_is_smaller_than_at_0_so_that_the_rotated_answer_fits():
    limits = Limits(10000, 10000, 10_000_000)
    slide = Pyramid((Level(12000, 9000, 512, 512),))
    straight, turned = plan("full/max/0/default.jpg", slide, limits), plan("full/max/45/default.jpg", slide, limits)
    assert straight.output_pixels <= 10_000_000 < rotated_size(*straight.size, 45)[0] * rotated_size(
        *straight.size, 45)[1]
    assert turned.size[0] < straight.size[0] and turned.output_pixels <= 10_000_000


@pytest.mark.parametrize("path", ["full/3500,/45/default.jpg", "full/4500,/90/default.jpg",
                                  "0,0,5000,100/5000,100/!270/default.jpg", "full/4600,/1/default.jpg"])
def test_an_explicit_size_over_the_limits_once_rotated_is_400(path):
    limits = Limits(5000, 4000, 16_000_000)
    slide = Pyramid((Level(12000, 9000, 512, 512),))
    assert plan(path.replace("/!270/", "/0/").replace("/90/", "/0/").replace("/45/", "/0/").replace("/1/", "/0/"),
                slide, limits)  # fits unrotated
    with pytest.raises(BadRequest) as error:
        plan(path, slide, limits)
    assert "exceeds maxWidth/maxHeight/maxArea" in str(error.value) and "once rotated" in str(error.value)


@pytest.mark.parametrize(("size", "expected"), [
    ("^max", (2, 2)), ("^pct:200", (2, 2)), ("^2,2", (2, 2)), ("^!100,100", (2, 2)), ("max", (1, 1))])
def test_upscaling_is_bounded_by_max_upscale(size, expected):
    assert resolve_size(parse_size(size), 1, 1, Limits(10000, 10000, 10**8, max_upscale=2.0)) == expected


@pytest.mark.parametrize("size", ["^pct:300", "^3,", "^,3", "^3,3", "^2,3"])
def test_upscaling_beyond_max_upscale_is_400(size):
    with pytest.raises(BadRequest) as error:
        resolve_size(parse_size(size), 1, 1, Limits(10000, 10000, 10**8, max_upscale=2.0))
    assert "IIIFMaxUpscale" in str(error.value)


def test_max_upscale_of_one_means_no_upscaling():
    limits = Limits(10000, 10000, 10**8, max_upscale=1.0)
    assert resolve_size(parse_size("^max"), 300, 200, limits) == (300, 200)
    with pytest.raises(BadRequest):
        resolve_size(parse_size("^301,"), 300, 200, limits)


@pytest.mark.parametrize(("path", "pixels"), [
    ("0,0,512,512/max/0/default.jpg", 512 * 512),  # one whole tile
    ("100,100,512,512/max/0/default.jpg", 4 * 512 * 512),  # straddles four
    ("full/max/0/default.jpg", 24 * 18 * 512 * 512),  # every tile of level 0
    ("full/750,/0/default.jpg", 2 * 2 * 512 * 512),  # level 2 (750 x 563): four tiles
])
def test_source_pixels_count_the_tiles_decoded(path, pixels):
    slide = Pyramid(tuple(Level(-(-12000 // f), -(-9000 // f), 512, 512) for f in (1, 4, 16)))
    assert plan(path, slide, Limits(20000, 20000, 10**9)).source_pixels == pixels


@pytest.mark.parametrize(("tile", "ratio", "k"), [
    (512, 0.5, 1), (512, 1.0, 1), (512, 1.99, 1), (512, 2.0, 2), (512, 3.9, 2), (512, 4.0, 4), (512, 7.9, 4),
    (512, 100, 64), (240, 7, 6), (240, 4.5, 4), (257, 10, 1), (1000, 9, 8)])
def test_reduction_factor_divides_the_tile_and_keeps_the_output_resolution(tile, ratio, k):
    assert reduction_factor(Level(10 * tile, 10 * tile, tile, tile), ratio) == k


# ---- canonical form (section 4.7) and level choice --------------------------------------------------------

SLIDE = Pyramid(tuple(Level(4000 // f, 3000 // f, 256, 256) for f in (1, 2, 4, 8)))


@pytest.mark.parametrize(("path", "canonical"), [
    ("full/max/0/default.jpg", "full/max/0/default.jpg"),
    ("0,0,4000,3000/max/0/default.jpg", "full/max/0/default.jpg"),
    ("square/max/0/default.jpg", "500,0,3000,3000/max/0/default.jpg"),
    ("full/400,/0/default.jpg", "full/400,300/0/default.jpg"),
    ("full/pct:10/0/default.jpg", "full/400,300/0/default.jpg"),
    ("full/!400,400/0/default.jpg", "full/400,300/0/default.jpg"),
    ("pct:25,0,50,50/,150/90/gray.png", "1000,0,2000,1500/200,150/90/gray.png"),
    ("0,0,100,100/^200,/22.50/bitonal.jpg", "0,0,100,100/^200,200/22.5/bitonal.jpg"),
    ("0,0,100,100/^100,/!0/color.jpg", "0,0,100,100/100,100/!0/color.jpg"),
    ("3900,2900,500,500/max/0/default.jpg", "3900,2900,100,100/max/0/default.jpg"),
])
def test_canonical(path, canonical):
    assert plan(path, SLIDE).canonical == canonical


@pytest.mark.parametrize(("path", "level"), [
    ("full/max/0/default.jpg", 0),
    ("full/!250,250/0/default.jpg", 3),  # a thumbnail reads the coarsest level
    ("full/500,/0/default.jpg", 3),
    ("full/1000,/0/default.jpg", 2),
    ("full/2000,/0/default.jpg", 1),
    ("full/1999,/0/default.jpg", 1),
    ("full/2010,/0/default.jpg", 0),  # level 1 would have to be upscaled
    ("0,0,1024,1024/512,/0/default.jpg", 1),
    ("0,0,1024,1024/256,256/0/default.jpg", 2),
    ("0,0,2048,2048/256,/0/default.jpg", 3),
    ("0,0,100,100/^400,/0/default.jpg", 0),
])
def test_level_choice(path, level):
    assert plan(path, SLIDE).level == level


def test_unimplemented_format_is_501(monkeypatch):
    monkeypatch.setattr(iiif_render, "SUPPORTED_FORMATS", ("jpg", "png"))
    with pytest.raises(UnsupportedFeature):
        plan("full/max/0/default.pdf", SLIDE)


def test_plans_are_hashable_and_equal_for_equivalent_requests():
    a = plan("full/pct:10/0/default.jpg", SLIDE)
    b = plan("0,0,4000,3000/400,300/0/default.jpg", SLIDE)
    assert a == b and hash(a) == hash(b)


# ---- execution ----------------------------------------------------------------------------------------------

@pytest.fixture
def tiled():
    return TiledImage(grid_image(1000, 700))


def decoded(body: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(body)))


def render(tiled: TiledImage, path: str, limits: Limits = NO_LIMITS) -> np.ndarray:
    """The pixels of the encoded answer (PNG is lossless: exact)."""
    return decoded(render_image(plan(path, tiled.pyramid, limits), tiled.pyramid, tiled.read_tile))


@pytest.mark.parametrize("region", ["0,0,1000,700", "200,100,300,300", "250,250,20,400", "990,690,50,50",
                                    "0,0,256,256", "255,255,2,2"])
def test_full_resolution_regions_are_exact_crops(tiled, region):
    x, y, w, h = map(int, region.split(","))
    out = render(tiled, f"{region}/max/0/default.png")
    assert np.array_equal(out, tiled.images[0][y:y + h, x:x + w])


def test_scaled_region_matches_a_direct_resize(tiled):
    out = render(tiled, "100,50,600,400/300,200/0/default.png")
    expected = np.asarray(Image.fromarray(tiled.images[0][50:450, 100:700]).resize((300, 200), Image.LANCZOS))
    assert out.shape == (200, 300, 3)
    assert np.abs(out.astype(int) - expected).mean() < 4


def test_thumbnail_never_reads_level_zero(tiled):
    out = render(tiled, "full/!120,120/0/default.jpg")
    assert out.shape == (84, 120, 3)
    assert {level for level, _, _ in tiled.reads} == {3}


def test_tiles_read_are_only_those_touched(tiled):
    render(tiled, "240,240,40,40/max/0/default.png")
    assert sorted(tiled.reads) == [(0, 0, 0), (0, 0, 1), (0, 1, 0), (0, 1, 1)]


def test_mirror_and_rotations(tiled):
    base = render(tiled, "100,100,300,200/max/0/default.png")
    assert np.array_equal(render(tiled, "100,100,300,200/max/!0/default.png"), base[:, ::-1])
    assert np.array_equal(render(tiled, "100,100,300,200/max/90/default.png"), np.rot90(base, k=-1))
    assert np.array_equal(render(tiled, "100,100,300,200/max/180/default.png"), base[::-1, ::-1])
    assert np.array_equal(render(tiled, "100,100,300,200/max/270/default.png"), np.rot90(base, k=1))
    # Mirror first, then rotate (section 4.6).
    assert np.array_equal(render(tiled, "100,100,300,200/max/!90/default.png"), np.rot90(base[:, ::-1], k=-1))


def test_arbitrary_rotation_expands_and_is_transparent_in_png(tiled):
    out = render(tiled, "0,0,200,100/max/45/default.png")
    side = (200 + 100) / np.sqrt(2)
    assert out.shape[2] == 4 and abs(out.shape[0] - side) <= 2 and abs(out.shape[1] - side) <= 2
    assert out[0, 0, 3] == 0 and out[out.shape[0] // 2, out.shape[1] // 2, 3] == 255
    jpeg = render(tiled, "0,0,200,100/max/45/default.jpg")
    assert jpeg.shape[2] == 3 and tuple(jpeg[0, 0]) == (255, 255, 255)


def test_qualities(tiled):
    gray = render(tiled, "full/200,/0/gray.png")
    assert gray.shape == (140, 200)
    bitonal = render(tiled, "full/200,/0/bitonal.png")
    assert set(np.unique(bitonal)) <= {0, 255} and len(np.unique(bitonal)) == 2
    assert render(tiled, "full/200,/0/color.png").shape == (140, 200, 3)


def test_color_of_a_gray_frame_has_three_channels():
    frame = np.tile(np.arange(256, dtype=np.uint8), (10, 1))
    pyramid = frame_pyramid(256, 10)
    out = decoded(render_image(plan("full/max/0/color.png", pyramid), pyramid, lambda level, tx, ty: frame))
    assert out.shape == (10, 256, 3) and np.array_equal(out[..., 1], frame)
    default = decoded(render_image(plan("full/max/0/default.png", pyramid), pyramid, lambda level, tx, ty: frame))
    assert np.array_equal(default, frame)


@pytest.mark.parametrize("fmt", iiif_render.SUPPORTED_FORMATS)
def test_every_supported_format_encodes(tiled, fmt):
    body = render_image(plan(f"full/100,/0/default.{fmt}", tiled.pyramid), tiled.pyramid, tiled.read_tile)
    if fmt == "pdf":
        assert body.startswith(b"%PDF")
    else:
        assert Image.open(io.BytesIO(body)).size == (100, 70)


def test_icc_profile_is_embedded_in_colour_jpeg_only(tiled):
    icc = b"\0" * 36 + b"acsp" + b"\1" * 92  # opaque to the encoder: carried as-is
    body = render_image(plan("full/100,/0/default.jpg", tiled.pyramid), tiled.pyramid, tiled.read_tile, icc)
    assert Image.open(io.BytesIO(body)).info.get("icc_profile") == icc
    gray = render_image(plan("full/100,/0/gray.jpg", tiled.pyramid), tiled.pyramid, tiled.read_tile, icc)
    assert "icc_profile" not in Image.open(io.BytesIO(gray)).info


def test_upscaled_rendering(tiled):
    out = render(tiled, "0,0,50,50/^200,200/0/default.png")
    assert out.shape == (200, 200, 3)
    assert np.array_equal(out[100, 100], tiled.images[0][25, 25])  # inside one uniform 50-px cell


# ---- stitching and the frames' virtual pyramid ---------------------------------------------------------------

def test_rows_are_stitched_from_short_edge_tiles():
    pixels = grid_image(700, 600)
    level = Level(700, 600, 512, 512)

    def read(level_index, tx, ty):
        return pixels[ty * 512:(ty + 1) * 512, tx * 512:(tx + 1) * 512]  # 188 px wide at the right edge

    rows = resample.ReducedRows(read, 0, level, 1, (400, 700), (255, 255, 255), lambda: None)
    assert np.array_equal(rows.take(400, 600), pixels[400:600, 400:700])


def test_frame_pyramid_small_frame_is_one_tile():
    pyramid = frame_pyramid(1024, 800)
    assert pyramid.levels == (Level(1024, 800, 1024, 800),)


def test_frame_pyramid_large_frame_has_512_tiles_and_power_of_two_levels():
    pyramid = frame_pyramid(10000, 7001)
    assert [lv.width for lv in pyramid.levels] == [10000, 5000, 2500, 1250, 625, 313]
    assert all((lv.tile_width, lv.tile_height) == (512, 512) for lv in pyramid.levels)
    assert all(abs(pyramid.downsample(i) - 2**i) / 2**i < 0.01 for i in range(len(pyramid.levels)))


# ---- bounded memory: banded resampling -----------------------------------------------------------------------

def test_bands_give_the_same_pixels_as_one_resize(monkeypatch):
    monkeypatch.setattr(resample, "BAND_SOURCE_ROWS", 16)  # many bands on a small image
    tiled = TiledImage(grid_image(1000, 700, square=7), levels=1)
    box = (13.25, 7.5, 990.0, 690.75)  # less than 2 source px per output px: no integer reduction first
    out = resample_region(tiled.read_tile, 0, tiled.pyramid.levels[0], box, (601, 457), (255, 255, 255))
    whole = np.asarray(Image.fromarray(tiled.images[0][7:691, 13:990]).resize(
        (601, 457), Image.Resampling.LANCZOS, box=(0.25, 0.5, 977.0, 683.75)))
    assert out.shape == whole.shape and np.abs(out.astype(int) - whole).max() <= 1


def test_each_tile_is_read_once_across_bands(monkeypatch):
    monkeypatch.setattr(resample, "BAND_SOURCE_ROWS", 16)
    tiled = TiledImage(grid_image(1000, 700), levels=1)
    resample_region(tiled.read_tile, 0, tiled.pyramid.levels[0], (0, 0, 1000, 700), (500, 350), (255, 255, 255))
    assert sorted(tiled.reads) == sorted(set(tiled.reads)) and len(tiled.reads) == 4 * 3


def test_integer_reduction_first_matches_a_direct_resize():
    tiled = TiledImage(grid_image(1024, 1024, square=64), levels=1)
    out = resample_region(tiled.read_tile, 0, tiled.pyramid.levels[0], (0, 0, 1024, 1024), (100, 100),
                          (255, 255, 255))
    direct = np.asarray(Image.fromarray(tiled.images[0]).resize((100, 100), Image.Resampling.LANCZOS))
    assert np.abs(out.astype(int) - direct).mean() < 2


def test_pixels_held_are_bounded_by_the_output_not_the_region():
    import tracemalloc

    tile = np.full((512, 512, 3), 128, np.uint8)
    level = Level(16384, 16384, 512, 512)  # 805 MB of pixels if stitched at once
    tracemalloc.start()
    try:
        out = resample_region(lambda level, tx, ty: tile, 0, level, (0, 0, 16384, 16384), (1000, 1000),
                              (255, 255, 255))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert out.shape == (1000, 1000, 3) and (out == 128).all()
    assert peak < 12 * 1024 * 1024  # output 3 MB, bands of reduced rows, one row of tiles


def test_a_render_over_its_time_budget_stops_between_tiles():
    tiled = TiledImage(grid_image(1000, 700), levels=1)
    calls = []

    def check():
        calls.append(1)
        if len(calls) > 3:
            raise Overloaded("over budget", retry_after=5)

    with pytest.raises(Overloaded):
        render_image(plan("full/max/0/default.png", tiled.pyramid), tiled.pyramid, tiled.read_tile, check=check)
    assert len(tiled.reads) <= 3  # stopped before reading the 12 tiles


@pytest.mark.parametrize("fmt", iiif_render.SUPPORTED_FORMATS)
def test_rotated_and_grey_renders_encode_in_every_format(tiled, fmt):
    body = render_image(plan(f"full/200,/30/gray.{fmt}", tiled.pyramid), tiled.pyramid, tiled.read_tile)
    if fmt != "pdf":
        assert Image.open(io.BytesIO(body)).size == rotated_size(200, 140, 30)


@pytest.mark.parametrize("fmt", ["jpg", "png", "webp", "tif", "gif"])
@pytest.mark.parametrize("rotation", ["90", "!270", "180"])
def test_quarter_rotations_of_thin_regions_encode_in_every_format(fmt, rotation):
    """Found by the soak: 1294,326,2258,45/63,/90/default.webp was a 500 (a strided view reached the encoder)."""
    from wsi.iiif_render import Limits as _Limits
    from wsi.iiif_render import plan_render as _plan
    from wsi.iiif_render import render_image as _render_image
    from wsi.iiif_request import parse_image_request as _parse
    from wsi.pyramid import Level as _Level
    from wsi.pyramid import Pyramid as _Pyramid

    pyramid = _Pyramid((_Level(4096, 3072, 512, 512), _Level(2048, 1536, 512, 512), _Level(1024, 768, 512, 512)))
    ramp = np.arange(512 * 512 * 3, dtype=np.uint32).reshape(512, 512, 3).astype(np.uint8)
    plan = _plan(_parse("1294,326,2258,45", "63,", rotation, f"default.{fmt}"), pyramid,
                 _Limits(10000, 10000, 10_000_000))
    body = _render_image(plan, pyramid, lambda level, tx, ty: ramp)
    image = Image.open(io.BytesIO(body))
    expected = plan.size if rotation == "180" else plan.size[::-1]
    assert image.size == expected
