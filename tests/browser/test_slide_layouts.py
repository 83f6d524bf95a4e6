"""The viewer on written slides: levels that are not powers of two, left-out sparse tiles, several optical
paths and focal planes, associated images. Edge tiles are padded with magenta by the writer.

Pixel comparisons ask for the WebGL drawer, which draws tiles 1:1 (the viewer picks the canvas drawer on
software WebGL, as in headless chromium, where it is much faster)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.browser.slides import NPOT, SPARSE, level_pixels, variant
from tests.browser.viewer_page import (
    best_psnr,
    hide_overlays,
    image_origin_on_screen,
    open_viewer,
    out_of_range,
    screenshot,
    view,
    wait_loaded,
)

pytestmark = pytest.mark.integration


def _magenta(shot: np.ndarray) -> int:
    """Pixels of the writer's edge padding colour (no source pixel is near it)."""
    r, g, b = (shot[..., i].astype(int) for i in range(3))
    return int(np.count_nonzero((r > 200) & (g < 60) & (b > 200)))


def _sharpness(shot: np.ndarray) -> float:
    grey = shot.astype(float).mean(axis=2)
    return float(np.abs(np.diff(grey, axis=1)).mean())


def test_levels_that_are_not_powers_of_two(orthanc, written, page, artifacts):
    series = written["npot"]
    pyramid = orthanc.json(f"wsi/pyramids/{series}")
    assert pyramid["Sizes"] == [[2000, 1500], [667, 500], [223, 167]]
    log = open_viewer(page, orthanc.url, series)
    fit = screenshot(page, artifacts / "npot-fit.png")
    assert _magenta(fit) == 0
    # Level 1 (downsample 3) drawn 1:1: the screen shows exactly that level's pixels.
    seen = len(log.answers)
    level1 = level_pixels(NPOT.pixels, 3)
    zoom = level1.shape[1] / NPOT.pixels.shape[1]
    page.set_viewport_size({"width": 640, "height": 480})  # so that zoom 1/3 is not below the fit zoom
    size = page.locator("#viewer").bounding_box()
    # A centre that puts level 1's pixels on whole screen pixels (a half-pixel offset would blur them).
    x, y = (size["width"] / 2 - 10) / zoom, (size["height"] / 2 - 10) / zoom
    page.goto(page.url.split("?")[0] + f"?series={series}&x={x}&y={y}&zoom={zoom}&rotation=0&drawer=webgl")
    wait_loaded(page)
    assert 1 in log.levels(seen)
    hide_overlays(page)
    shot = screenshot(page, artifacts / "npot-level1-native.png")
    left, top = (round(v) for v in image_origin_on_screen(page))  # where level 1's pixel (0, 0) is
    box = (max(0, left + 4), max(0, top + 4), min(shot.shape[1], left + level1.shape[1]) - 4,
           min(shot.shape[0], top + level1.shape[0]) - 4)
    assert best_psnr(shot, level1, left, top, box) > 30  # ~38 dB in the middle; a shift gives < 20
    assert _magenta(shot) == 0
    assert [a for a in log.answers if a[0] != 200] == []
    assert out_of_range(log, pyramid) == []


def test_sparse_slide_shows_background_where_tiles_are_left_out(orthanc, written, page, artifacts):
    series = written["sparse"]
    log = open_viewer(page, orthanc.url, series, x=640, y=512, zoom=1, rotation=0, drawer="webgl")
    assert [a for a in log.answers if a[0] != 200] == []
    assert out_of_range(log, orthanc.json(f"wsi/pyramids/{series}")) == []
    hide_overlays(page)
    shot = screenshot(page, artifacts / "sparse-missing-tiles.png")
    left, top = (round(v) for v in image_origin_on_screen(page))
    background = orthanc.json(f"wsi/pyramids/{series}")["BackgroundColor"]
    rgb = np.array([int(background[i:i + 2], 16) for i in (1, 3, 5)])
    assert rgb.min() >= 215 and rgb.max() <= 235 and np.ptp(rgb) <= 3  # the slide's light grey (L* 90)
    stage = page.evaluate("getComputedStyle(document.getElementById('viewer')).backgroundColor")
    assert stage == f"rgb({rgb[0]}, {rgb[1]}, {rgb[2]})"
    # Tile (2, 1) of level 0 is left out: background; tile (1, 1) is there: the source (plane z = 0).
    missing = shot[top + 256 + 8:top + 512 - 8, left + 512 + 8:left + 768 - 8]
    assert missing.size and np.abs(missing.astype(int) - rgb).max() <= 2
    present = (left + 256 + 8, top + 256 + 8, left + 512 - 8, top + 512 - 8)
    assert best_psnr(shot, variant(SPARSE.pixels, 0, 0.0), left, top, present) > 27
    assert _magenta(shot) == 0


def test_optical_path_and_focal_plane_pickers(orthanc, written, browser, page, artifacts):
    series = written["sparse"]
    log = open_viewer(page, orthanc.url, series, x=300, y=300, zoom=1)
    assert page.locator("#optical-path-picker").is_visible()
    assert page.locator("#focal-plane").input_value() == "1"  # the middle plane, z = 0
    sharp = screenshot(page, artifacts / "pickers-path1-z0.png")

    seen = len(log.answers)
    page.select_option("#focal-plane", "0")
    wait_loaded(page)
    blurred = screenshot(page, artifacts / "pickers-path1-z-1.png")
    assert _sharpness(blurred) < 0.7 * _sharpness(sharp)
    assert log.urls[seen:] and all("focal-plane=0" in log.choice(url) for url in log.urls[seen:])

    seen = len(log.answers)
    page.select_option("#optical-path", "2")
    wait_loaded(page)
    other = screenshot(page, artifacts / "pickers-path2-z-1.png")
    # The second path is the first with red and blue swapped (same view, same plane).
    assert np.abs(other.astype(int) - blurred).mean() > 3
    assert other[..., 0].mean() == pytest.approx(blurred[..., 2].mean(), abs=1.5)
    assert other[..., 2].mean() == pytest.approx(blurred[..., 0].mean(), abs=1.5)
    assert log.urls[seen:] and all("optical-path=2" in log.choice(url) for url in log.urls[seen:])
    assert [a for a in log.answers if a[0] != 200] == []

    # The choice is part of the deep link.
    page.wait_for_function("location.search.includes('optical-path=2')")
    shown = view(page)
    again = browser.new_page()
    try:
        again.goto(page.url)
        wait_loaded(again)
        assert again.locator("#optical-path").input_value() == "2"
        assert again.locator("#focal-plane").input_value() == "0"
        assert view(again)["zoom"] == pytest.approx(shown["zoom"], rel=1e-3)
    finally:
        again.close()


def test_associated_images_in_the_info_panel(orthanc, written, page, artifacts):
    open_viewer(page, orthanc.url, written["sparse"])
    page.click("#info-button")
    images = page.locator("#associated img")
    assert images.count() == 3
    page.wait_for_function("[...document.querySelectorAll('#associated img')].every(i => i.complete)")
    sizes = images.evaluate_all("all => all.map(i => [i.alt, i.naturalWidth, i.naturalHeight])")
    assert sizes == [["label", 300, 200], ["overview", 400, 293], ["thumbnail", 200, 147]]
    text = page.locator("#info-panel").inner_text()
    assert "20× (objective lens power)" in text
    assert "Optical paths\t2" in text or "Optical paths\n2" in text
    screenshot(page, artifacts / "sparse-info-panel.png", "#stage")
