"""wsi.frame_levels, display.grey_display and frame_routes.parse_window: the pure parts of frame pyramids."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from wsi import codec
from wsi.codec import PixelFormat
from wsi.display import CT_PRESETS, Preset, Window, grey_display, modality_values
from wsi.errors import BadRequest
from wsi.frame_levels import TILE_SIZE, build_levels, frame_tile_pyramid, level_sizes
from wsi.frame_routes import parse_window


def box_average(pixels: np.ndarray) -> np.ndarray:
    """Reference 2 x 2 averaging: a partial box at an odd edge averages the pixels it has (NaN padding)."""
    h, w = pixels.shape[:2]
    padded = np.full((h + h % 2, w + w % 2, *pixels.shape[2:]), np.nan)
    padded[:h, :w] = pixels
    boxes = np.stack([padded[0::2, 0::2], padded[1::2, 0::2], padded[0::2, 1::2], padded[1::2, 1::2]])
    return np.nanmean(boxes, axis=0)


@pytest.mark.parametrize(("size", "expected"), [
    ((700, 1100), [(700, 1100), (350, 550), (175, 275)]),  # the C++ plugin 3.2: 3 levels (padded 704 x 1152)
    ((256, 320), [(256, 320)]),  # smaller than a tile: one level, still 512-px tiles
    ((512, 512), [(512, 512)]),
    ((513, 10), [(513, 10), (257, 5)]),
    ((4000, 5000), [(4000, 5000), (2000, 2500), (1000, 1250), (500, 625), (250, 313)]),
])
def test_levels_halve_until_one_tile(size, expected):
    assert level_sizes(*size) == expected
    pyramid = frame_tile_pyramid(*size, grey=True)
    assert [(lv.width, lv.height) for lv in pyramid.levels] == expected
    assert {(lv.tile_width, lv.tile_height) for lv in pyramid.levels} == {(TILE_SIZE, TILE_SIZE)}
    assert pyramid.background_hex == "#000000"
    assert frame_tile_pyramid(*size, grey=False).background_hex == "#ffffff"


def test_levels_are_box_averages_of_the_level_above_grey_and_colour():
    rng = np.random.default_rng(5)
    grey = rng.normal(0, 1000, (1301, 1027)).astype(np.float32)
    levels = build_levels(grey, None).levels
    assert [lv.shape for lv in levels] == [(1301, 1027), (651, 514), (326, 257)]
    for finer, coarser in itertools.pairwise(levels):
        assert coarser.dtype == np.float32
        assert np.abs(coarser - box_average(finer.astype(np.float64))).max() < 1e-2
    colour = rng.integers(0, 256, (1031, 600, 3), dtype=np.uint8)
    coarse = build_levels(colour, None).levels[1]
    assert coarse.dtype == np.uint8 and coarse.shape == (516, 300, 3)
    assert np.abs(coarse.astype(float) - box_average(colour.astype(float))).max() <= 0.5 + 1e-9


def test_tiles_are_padded_with_the_background_after_display():
    values = np.full((600, 700), 1000.0, np.float32)
    mono1 = PixelFormat(codec.EXPLICIT_LE, "MONOCHROME1", 1, 16, 12, 0, 0, 600, 700)
    display = grey_display(values, mono1, {"0028,1050": "1000", "0028,1051": "4000"})
    levels = build_levels(values, display)
    edge = levels.tile(0, 1, 1)
    assert edge.shape == (512, 512) and edge.dtype == np.uint8
    assert edge[:88, :188].min() == edge[:88, :188].max() == 255 - 128  # inside: windowed, inverted
    assert edge[88:].max() == 0 and edge[:, 188:].max() == 0  # past the frame: black, not inverted
    colour = build_levels(np.zeros((600, 700, 3), np.uint8), None)
    tile = colour.tile(0, 1, 0)
    assert tile.shape == (512, 512, 3) and tile[:, 188:].min() == 255 and tile[:, :188].max() == 0


def test_a_chosen_window_replaces_the_default_and_monochrome1_stays_inverted():
    values = np.array([[-1000.0, 0.0, 40.0, 240.0, 1000.0]], np.float32)
    fmt = PixelFormat(codec.EXPLICIT_LE, "MONOCHROME2", 1, 16, 16, 1, 0, 1, 5)
    display = grey_display(values, fmt, {"0028,1050": "40", "0028,1051": "400", "0008,0060": "CT"})
    assert display.window == Window(40.0, 400.0, "LINEAR")
    assert display.apply(values).tolist() == [[0, 102, 128, 255, 255]]
    assert display.apply(values, Window(0.0, 2000.0)).tolist() == [[0, 128, 133, 158, 255]]
    mono1 = PixelFormat(codec.EXPLICIT_LE, "MONOCHROME1", 1, 16, 16, 1, 0, 1, 5)
    inverted = grey_display(values, mono1, {"0028,1050": "40", "0028,1051": "400"})
    assert inverted.apply(values, Window(0.0, 2000.0)).tolist() == [[255, 127, 122, 97, 0]]


def test_presets_are_the_files_windows_with_explanations_then_ct_ones():
    values = np.zeros((2, 2), np.float32)
    fmt = PixelFormat(codec.EXPLICIT_LE, "MONOCHROME2", 1, 16, 16, 1, 0, 2, 2)
    tags = {"0028,1050": "40\\-600", "0028,1051": "400\\1500", "0028,1055": "SOFT\\", "0008,0060": "CT"}
    display = grey_display(values, fmt, tags)
    assert display.presets == (Preset("SOFT", 40.0, 400.0), Preset("Window 2", -600.0, 1500.0), *CT_PRESETS)
    assert grey_display(values, fmt, {**tags, "0008,0060": "MR"}).presets[2:] == ()


def test_without_a_window_the_voi_lut_is_the_default_and_the_window_is_the_frames_range():
    stored = np.array([[0, 1000, 2000, 4000]], np.uint16)
    fmt = PixelFormat(codec.EXPLICIT_LE, "MONOCHROME2", 1, 16, 16, 0, 0, 1, 4)
    table = "\\".join(str(min(65535, v * 16)) for v in range(4096))
    tags = {"0028,1053": "0.5", "0028,1052": "10", "0028,3010": [{"0028,3002": "4096\\0\\16", "0028,3006": table}]}
    values = modality_values(stored, tags)
    assert values.tolist() == [[10.0, 510.0, 1010.0, 2010.0]]
    display = grey_display(values, fmt, tags)
    assert display.voi_lut is not None
    assert display.window == Window(1010.0, 2000.0, "LINEAR_EXACT")
    assert display.apply(values).tolist() == [[1, 32, 63, 125]]  # table(v) = 16 v over 16 bits
    assert display.apply(values, Window(1010.0, 2000.0)).tolist() == [[0, 64, 128, 255]]
    plain = grey_display(values, fmt, {"0028,1053": "0.5", "0028,1052": "10"})
    assert plain.voi_lut is None and plain.apply(values).tolist() == [[0, 64, 128, 255]]


@pytest.mark.parametrize(("text", "expected"), [
    ("40,400", Window(40.0, 400.0)), ("-600,1500", Window(-600.0, 1500.0)), (" 1e3 , 2.5", Window(1000.0, 2.5)),
    (".5,0.25", Window(0.5, 0.25)), (None, None),
])
def test_window_query(text, expected):
    assert parse_window(text) == expected


@pytest.mark.parametrize("text", ["", "abc", "40", "40,", ",400", "1,2,3", "nan,1", "1,inf", "1e999,1", "1,0",
                                  "1,-5", "0x10,5", "40;400", "1" * 70 + ",1"])
def test_window_query_garbage_is_400(text):
    with pytest.raises(BadRequest) as caught:
        parse_window(text)
    assert caught.value.parameter == "window"
