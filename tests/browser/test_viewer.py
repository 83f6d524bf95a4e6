"""The whole-slide viewer in headless chromium against a real Orthanc with the plugin."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.browser.viewer_page import (
    CHROMIUM,
    CHROMIUM_ARGS,
    SLIDE_PX,
    VIEWPORT,
    best_psnr,
    image_origin_on_screen,
    open_viewer,
    out_of_range,
    screenshot,
    view,
    wait_loaded,
)

pytestmark = pytest.mark.integration


def _drag(page, start: tuple[float, float], end: tuple[float, float]) -> None:
    """Mouse drag in coordinates of the #viewer element."""
    box = page.locator("#viewer").bounding_box()
    page.mouse.move(box["x"] + start[0], box["y"] + start[1])
    page.mouse.down()
    for step in range(1, 11):
        t = step / 10
        page.mouse.move(box["x"] + start[0] + t * (end[0] - start[0]), box["y"] + start[1] + t * (end[1] - start[1]))
    page.mouse.up()


@pytest.mark.parametrize("kind", ["jpeg", "jpeg2000"])
def test_viewer_loads_every_tile_in_range_and_shows_the_slide(orthanc, slides, page, artifacts, kind):
    series = getattr(slides, kind)
    pyramid = orthanc.json(f"wsi/pyramids/{series}")
    log = open_viewer(page, orthanc.url, series, description=f"{kind} slide")
    assert log.answers, "no tile was requested"
    assert [a for a in log.answers if a[0] != 200] == []
    assert out_of_range(log, pyramid) == []
    # JPEG 2000 must be re-encoded: the viewer asks as an <img> would and gets lossless WebP, not PNG.
    plugin_types = {t for url, t in zip(log.urls, log.types, strict=True) if "/wsi/tiles/" in url}
    assert plugin_types == ({"image/webp"} if kind == "jpeg2000" else set()), plugin_types
    shot = screenshot(page, artifacts / f"viewer-{kind}-fit.png")
    assert shot.std() > 15, "the screenshot is nearly uniform"
    assert page.locator("#label").inner_text() == f"{kind} slide"
    # The whole slide fits on load: both corners are inside the viewer element.
    size = page.locator("#viewer").bounding_box()
    left, top = image_origin_on_screen(page)
    zoom = view(page)["zoom"]
    assert left >= -1 and top >= -1
    assert left + SLIDE_PX * zoom <= size["width"] + 1 and top + SLIDE_PX * zoom <= size["height"] + 1


# WebGL draws tiles 1:1, so only JPEG loss remains (~29 dB on this texture); the canvas drawer stretches
# every tile by one pixel against seams, which costs ~5 dB. A misplaced or stretched tile gives < 16 dB.
@pytest.mark.parametrize(("kind", "drawer", "min_psnr"), [
    ("jpeg", "webgl", 27), ("jpeg2000", "webgl", 27), ("jpeg", "canvas", 21)])
def test_full_resolution_matches_the_source_up_to_the_padded_edges(orthanc, slides, page, artifacts, kind,
                                                                    drawer, min_psnr):
    """At zoom 1 the screen shows source pixels 1:1, edge tiles included (their padding is cut off)."""
    series = getattr(slides, kind)
    log = open_viewer(page, orthanc.url, series, x=SLIDE_PX - 400, y=SLIDE_PX - 250, zoom=1, rotation=0,
                      drawer=drawer)
    assert min(log.levels()) == 0
    assert page.evaluate("wsiViewer.viewer.drawer.getType()") == drawer
    shot = screenshot(page, artifacts / f"viewer-{kind}-{drawer}-bottom-right-zoom1.png")
    left, top = (round(v) for v in image_origin_on_screen(page))
    right, bottom = left + SLIDE_PX, top + SLIDE_PX  # screen position of the slide's outer edges
    height, width = shot.shape[:2]
    assert 0 < right < width - 50 and 0 < bottom < height - 50, "the slide's corner is not on screen"
    # Inside: the last row and column of tiles (3000 is not a multiple of 256) against the source.
    box = (max(0, right - 500), max(0, bottom - 300), right - 2, bottom - 2)
    assert best_psnr(shot, slides.source, left, top, box) > min_psnr
    # Outside: only the background colour, no stretched or padded tile content (navigator box left out).
    nav = page.evaluate("(() => { const r = wsiViewer.viewer.navigator.element.getBoundingClientRect(), "
                        "v = document.getElementById('viewer').getBoundingClientRect(); "
                        "return [r.left - v.left, r.top - v.top]; })()")
    nav_left, nav_top = int(nav[0]) - 2, int(nav[1]) - 2
    beyond = np.concatenate([shot[10:min(bottom - 10, nav_top), right + 3:right + 40].reshape(-1, 3),
                             shot[bottom + 3:bottom + 40, 10:min(right - 10, nav_left)].reshape(-1, 3)])
    assert beyond.size > 3 * 5000
    assert np.abs(beyond.astype(int) - 255).max() <= 2


def test_zooming_in_brings_finer_levels(orthanc, slides, page):
    log = open_viewer(page, orthanc.url, slides.jpeg)
    coarse = min(log.levels())
    assert coarse > 0
    seen = len(log.answers)
    fit_zoom = view(page)["zoom"]
    box = page.locator("#viewer").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    for _ in range(8):
        page.mouse.wheel(0, -300)
        page.wait_for_timeout(100)
    wait_loaded(page)
    assert view(page)["zoom"] > 4 * fit_zoom
    assert min(log.levels(seen)) < coarse
    assert min(log.levels(seen)) == 0
    assert [a for a in log.answers if a[0] != 200] == []
    assert out_of_range(log, orthanc.json(f"wsi/pyramids/{slides.jpeg}")) == []


def test_zoom_stops_past_native_resolution(orthanc, slides, page):
    open_viewer(page, orthanc.url, slides.jpeg, zoom=50)
    zoom = view(page)["zoom"]
    assert 1.5 <= zoom <= 2.01  # maxZoomPixelRatio 2 on a device pixel ratio of 1


@pytest.mark.parametrize(("zoom", "rotation"), [(1, 0), (0.5, 0), (0.5, 90)])
def test_ruler_measures_in_micrometres(orthanc, slides, page, artifacts, zoom, rotation):
    open_viewer(page, orthanc.url, slides.jpeg, x=SLIDE_PX / 2, y=SLIDE_PX / 2, zoom=zoom, rotation=rotation)
    page.click("#ruler-button")
    _drag(page, (300, 300), (700, 300))  # 400 screen pixels
    readout = page.locator("#ruler-readout")
    measured = float(readout.get_attribute("data-um"))
    expected = 400 / zoom * slides.spacing_um
    assert measured == pytest.approx(expected, rel=0.01)
    assert readout.inner_text() == f"{round(expected)} µm"
    # Measuring did not pan the slide.
    assert view(page)["x"] == pytest.approx(SLIDE_PX / 2, abs=1)
    screenshot(page, artifacts / f"viewer-ruler-zoom{zoom}-rot{rotation}.png", "#stage")


def test_scale_bar_matches_pixel_spacing(orthanc, slides, page):
    open_viewer(page, orthanc.url, slides.jpeg, x=1500, y=1500, zoom=1)
    bar = page.locator("#scale-bar-line").bounding_box()
    length_um = float(page.locator("#scale-bar").get_attribute("data-um"))
    assert bar["width"] * slides.spacing_um == pytest.approx(length_um, rel=0.02)
    assert page.locator("#scale-bar-text").inner_text() in {f"{length_um:g} µm", f"{length_um / 1000:g} mm"}


def test_deep_link_restores_centre_zoom_and_rotation(orthanc, slides, browser, page):
    open_viewer(page, orthanc.url, slides.jpeg)
    box = page.locator("#viewer").bounding_box()
    page.mouse.move(box["x"] + 400, box["y"] + 300)
    for _ in range(4):
        page.mouse.wheel(0, -250)
        page.wait_for_timeout(100)
    _drag(page, (600, 400), (450, 250))
    page.click("#rotate-right")
    page.wait_for_timeout(1500)
    wait_loaded(page)
    before = view(page)
    link = page.url
    assert "rotation=90" in link and "zoom=" in link and "x=" in link
    again = browser.new_page()
    try:
        again.goto(link)
        wait_loaded(again)
        after = view(again)
    finally:
        again.close()
    assert after["rotation"] == pytest.approx(before["rotation"] % 360, abs=0.01)
    assert after["zoom"] == pytest.approx(before["zoom"], rel=1e-3)
    tolerance = 1 / before["zoom"]  # one screen pixel
    assert math.hypot(after["x"] - before["x"], after["y"] - before["y"]) <= 2 * tolerance


def test_info_panel_describes_the_slide(orthanc, slides, page, artifacts):
    open_viewer(page, orthanc.url, slides.jpeg)
    page.keyboard.press("i")
    panel = page.locator("#info-panel")
    assert panel.is_visible()
    text = panel.inner_text()
    assert f"{SLIDE_PX} × {SLIDE_PX} px" in text
    assert f"{slides.spacing_um:.4f} × {slides.spacing_um:.4f} µm/px" in text
    pyramid = orthanc.json(f"wsi/pyramids/{slides.jpeg}")
    assert page.locator("#levels tbody tr").count() == len(pyramid["Sizes"])
    assert "Modality" in text and "SM" in text
    screenshot(page, artifacts / "viewer-info-panel.png", "#stage")


def test_keyboard_zooms_and_rotates(orthanc, slides, page):
    open_viewer(page, orthanc.url, slides.jpeg)
    before = view(page)
    page.keyboard.press("r")
    for _ in range(5):
        page.keyboard.press("+")
    page.wait_for_timeout(1500)
    after = view(page)
    assert after["rotation"] % 360 == pytest.approx(90)
    assert after["zoom"] > before["zoom"] * 1.05


def test_a_series_that_is_not_a_slide_opens_frame_by_frame(orthanc, slides, page):
    """The CT series has one frame: it opens in deep zoom, with the window controls and no slider."""
    log = open_viewer(page, orthanc.url, slides.ct)
    assert log.answers == []  # no whole-slide tiles
    assert page.evaluate("document.body.dataset.tiles").startswith("../frames-tiles/")
    assert page.locator("#window-controls").is_visible() and page.locator("#frame-picker").is_hidden()
    assert page.locator("#status").is_hidden()


def test_an_unknown_series_shows_an_error(orthanc, slides, page):
    page.goto(f"{orthanc.url}wsi/app/viewer.html?series=0123abcd-4567ef01-89abcdef-01234567-89abcdef")
    status = page.locator("#status")
    page.wait_for_function("document.getElementById('status').classList.contains('error')")
    assert "does not exist, or has no image to show" in status.inner_text()


def test_no_target_shows_how_to_open_the_viewer(orthanc, page):
    page.goto(f"{orthanc.url}wsi/app/viewer.html?instance=abc&frame=-1")
    page.wait_for_function("document.getElementById('status').classList.contains('error')")
    assert "?instance=<instance id>&frame=<n>" in page.locator("#status").inner_text()


def _touch(cdp, kind: str, points: list[tuple[float, float]]) -> None:
    cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": [
        {"x": x, "y": y, "id": i} for i, (x, y) in enumerate(points)]})


def test_touch_pans_and_pinch_zooms(orthanc, slides, playwright, tmp_path):
    """One finger pans, two fingers pinch-zoom (a touch-screen context of its own)."""
    context = playwright.chromium.launch_persistent_context(
        str(tmp_path / "profile"), executable_path=CHROMIUM, args=CHROMIUM_ARGS, viewport=VIEWPORT,
        has_touch=True)
    try:
        page = context.new_page()
        open_viewer(page, orthanc.url, slides.jpeg, x=1500, y=1500, zoom=0.5)
        cdp = context.new_cdp_session(page)
        box = page.locator("#viewer").bounding_box()
        cx, cy = box["x"] + 600, box["y"] + 380
        before = view(page)
        _touch(cdp, "touchStart", [(cx, cy)])
        for step in range(1, 11):
            _touch(cdp, "touchMove", [(cx - 20 * step, cy - 10 * step)])
        _touch(cdp, "touchEnd", [])
        page.wait_for_timeout(1500)
        panned = view(page)
        # Dragging 200 px left and 100 px up shows what was right and below: +400, +200 image px.
        assert panned["x"] - before["x"] > 300 and panned["y"] - before["y"] > 150
        _touch(cdp, "touchStart", [(cx - 50, cy), (cx + 50, cy)])
        for step in range(1, 11):
            _touch(cdp, "touchMove", [(cx - 50 - 15 * step, cy), (cx + 50 + 15 * step, cy)])
        _touch(cdp, "touchEnd", [])
        page.wait_for_timeout(1500)
        assert view(page)["zoom"] > 1.8 * panned["zoom"]
    finally:
        context.close()
