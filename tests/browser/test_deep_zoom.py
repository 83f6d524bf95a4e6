"""The deep-zoom viewer (any frame of any instance, non-whole-slide series frame by frame, window/level of
grey frames) in headless chromium against a real Orthanc with the plugin; frames from tests/browser/frames.py."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlencode, urlparse

import numpy as np
import pytest
from pydicom.uid import generate_uid

from tests.browser.frames import GREY_WINDOWS, linear_window, smooth_field
from tests.browser.viewer_page import best_psnr, hide_overlays, image_origin_on_screen, screenshot, view, wait_loaded
from tests.support.radiology import dicom_image

pytestmark = pytest.mark.integration

FRAME_TILE = re.compile(r"/wsi/frames-tiles/([^/?]+)/(\d+)/(\d+)/(\d+)/(\d+)(?:\?window=([^&]+))?$")
FULL, NARROW = ((c, w) for _, c, w in GREY_WINDOWS)
# Measured about 43 dB where the picture is (canvas drawer, PNG tiles) and 31-35 dB 4 px off;
# a tile drawn with another window, another frame or a few pixels off is below this.
MIN_PSNR = 38


@dataclass
class FrameTiles:
    """Every /wsi/frames-tiles answer: (status, instance, frame, z, x, y, window text or None)."""

    answers: list[tuple[int, str, int, int, int, int, str | None]] = field(default_factory=list)

    def record(self, response) -> None:
        match = FRAME_TILE.search(response.url.replace("%2C", ","))
        if match:
            instance, *numbers, window = match.groups()
            frame, z, x, y = map(int, numbers)
            self.answers.append((response.status, instance, frame, z, x, y, window))

    def windows(self, start: int = 0) -> set[str | None]:
        return {a[6] for a in self.answers[start:]}


def frame_viewer_url(base: str, **params: object) -> str:
    return f"{base}wsi/app/viewer.html?{urlencode(params)}"


def wait_tiles(page, suffix: str, timeout_ms: int = 30000) -> None:
    """Until the only tiles on screen are those whose base and query end with `suffix`, fully loaded."""
    page.wait_for_function("(suffix) => (document.body.dataset.tiles || '').endsWith(suffix) && "
                           "wsiViewer.viewer.world.getItemCount() === 1", arg=suffix, timeout=timeout_ms)
    wait_loaded(page, timeout_ms)


def open_frame(page, base: str, **params: object) -> FrameTiles:
    log = FrameTiles()
    page.on("response", log.record)
    page.goto(frame_viewer_url(base, **params))
    wait_loaded(page)
    return log


def in_range(log: FrameTiles, pyramid: dict) -> bool:
    counts = pyramid["TilesCount"]
    return all(0 <= z < len(counts) and 0 <= x < counts[z][0] and 0 <= y < counts[z][1]
               for _, _, _, z, x, y, _ in log.answers)


def grey_rgb(values: np.ndarray, center: float, width: float) -> np.ndarray:
    return np.repeat(np.round(linear_window(values, center, width))[..., None], 3, axis=2)


def screen_psnr(page, artifacts, name: str, expected: np.ndarray, box_size: tuple[int, int] = (500, 400)) -> float:
    """PSNR of a box in the middle of the viewer against `expected` (full-resolution source, zoom 1).

    The same box compared 6 pixels off must fall below MIN_PSNR: the picture is fine-grained enough for
    the check to see a misplaced tile.
    """
    assert view(page)["zoom"] == pytest.approx(1, abs=1e-3) and view(page)["rotation"] == 0
    hide_overlays(page)
    shot = screenshot(page, artifacts / f"deep-zoom-{name}.png")
    left, top = (round(v) for v in image_origin_on_screen(page))
    height, width = shot.shape[:2]
    x0, y0 = (width - box_size[0]) // 2, (height - box_size[1]) // 2
    box = (x0, y0, x0 + box_size[0], y0 + box_size[1])
    assert best_psnr(shot, expected, left + 6, top + 6, box) < MIN_PSNR
    return best_psnr(shot, expected, left, top, box)


def readout(page) -> tuple[float, float]:
    element = page.locator("#window-readout")
    return float(element.get_attribute("data-center")), float(element.get_attribute("data-width"))


def _drag(page, start: tuple[float, float], end: tuple[float, float], button: str) -> None:
    box = page.locator("#viewer").bounding_box()
    page.mouse.move(box["x"] + start[0], box["y"] + start[1])
    page.mouse.down(button=button)
    for step in range(1, 11):
        t = step / 10
        page.mouse.move(box["x"] + start[0] + t * (end[0] - start[0]), box["y"] + start[1] + t * (end[1] - start[1]))
    page.mouse.up(button=button)


# ---- one frame: ?instance=&frame= --------------------------------------------------------------------------

def test_grey_16_bit_frame_opens_with_the_file_window(orthanc, frames, page, artifacts):
    instance = frames.grey_instance
    pyramid = orthanc.json(f"wsi/frames-pyramids/{instance}/0")
    log = open_frame(page, orthanc.url, instance=instance, frame=0)
    assert log.answers and all(a[0] == 200 for a in log.answers)
    assert in_range(log, pyramid)
    assert log.windows() == {None}  # the file's window: the URLs a client of the C++ plugin asks for
    assert page.locator("#window-controls").is_visible()
    assert readout(page) == FULL
    assert page.locator("#window-readout").inner_text() == f"C {FULL[0]:g} W {FULL[1]:g}"
    assert page.locator("#frame-picker").is_hidden()
    assert screenshot(page, artifacts / "deep-zoom-grey-fit.png").std() > 15
    # Label and info panel from Orthanc's index (the pyramid JSON has no tags).
    assert page.locator("#label").inner_text() == "Synthetic radiograph 16-bit"
    page.keyboard.press("i")
    text = page.locator("#info-panel").inner_text()
    assert "3000 × 4000 px" in text and "Modality\nDX" in text and "Deep Zoom" in text


def test_grey_frame_pixels_match_the_source_at_full_resolution(orthanc, frames, page, artifacts):
    log = open_frame(page, orthanc.url, instance=frames.grey_instance, frame=0, x=1500, y=2000, zoom=1, rotation=0)
    assert min(a[3] for a in log.answers) == 0  # full-resolution tiles
    shown = screen_psnr(page, artifacts, "grey-zoom1", grey_rgb(frames.grey_values, *FULL))
    assert shown > MIN_PSNR
    # The same box against the other window: the check can tell windows apart.
    assert screen_psnr(page, artifacts, "grey-zoom1-again", grey_rgb(frames.grey_values, *NARROW)) < 20


def test_rgb_photograph_pixels_match_the_source_and_has_no_window(orthanc, frames, page, artifacts):
    instance = frames.rgb_instance
    pyramid = orthanc.json(f"wsi/frames-pyramids/{instance}/0")
    assert pyramid["Grey"] is False and "Window" not in pyramid
    log = open_frame(page, orthanc.url, instance=instance, frame=0, x=1700, y=1100, zoom=1, rotation=0)
    assert log.answers and all(a[0] == 200 for a in log.answers) and in_range(log, pyramid)
    assert page.locator("#window-controls").is_hidden()
    assert screen_psnr(page, artifacts, "rgb-zoom1", frames.rgb_pixels) > MIN_PSNR
    # A right-button drag does nothing on a colour frame: no window, no new tiles.
    seen = len(log.answers)
    before = view(page)
    _drag(page, (600, 400), (750, 450), "right")
    page.wait_for_timeout(500)
    assert log.windows(seen) <= {None}
    assert view(page)["x"] == pytest.approx(before["x"], abs=1)


@pytest.mark.parametrize("how", ["right-button", "wl-mode"])
def test_window_level_drag_changes_the_pixels_as_expected(orthanc, frames, page, artifacts, how):
    instance = frames.grey_instance
    log = open_frame(page, orthanc.url, instance=instance, frame=0, x=1500, y=2000, zoom=1, rotation=0)
    seen = len(log.answers)
    if how == "wl-mode":
        page.keyboard.press("l")
        assert page.locator("#window-button").get_attribute("aria-pressed") == "true"
    before = view(page)
    _drag(page, (500, 300), (628, 364), "right" if how == "right-button" else "left")
    # 256 px change the window by its starting width: right 128 px widens by half, down 64 px raises the
    # centre by a quarter of the width.
    center, width = readout(page)
    assert width == pytest.approx(FULL[1] * 1.5, rel=0.01)
    assert center == pytest.approx(FULL[0] + FULL[1] / 4, rel=0.01)
    wait_tiles(page, f"?window={center:g},{width:g}")
    assert view(page)["x"] == pytest.approx(before["x"], abs=1)  # the drag did not pan
    # Debounced: the tiles were asked again for the final window only, not for every mouse move.
    assert log.windows(seen) == {f"{center:g},{width:g}"}
    assert all(a[0] == 200 for a in log.answers)
    shown = screen_psnr(page, artifacts, f"grey-dragged-{how}", grey_rgb(frames.grey_values, center, width))
    assert shown > MIN_PSNR
    assert screen_psnr(page, artifacts, f"grey-dragged-{how}-old", grey_rgb(frames.grey_values, *FULL)) < 25
    assert page.locator("#window-readout").inner_text() == f"C {center:g} W {width:g}"
    assert f"window={center:g}%2C{width:g}" in page.url  # deep link


def test_presets_reset_and_deep_link_of_a_window(orthanc, frames, browser, page, artifacts):
    instance = frames.grey_instance
    pyramid = orthanc.json(f"wsi/frames-pyramids/{instance}/0")
    assert [(p["Name"], p["Center"], p["Width"]) for p in pyramid["Presets"]] == list(GREY_WINDOWS)
    open_frame(page, orthanc.url, instance=instance, frame=0, x=1500, y=2000, zoom=1, rotation=0)
    options = page.eval_on_selector_all("#window-preset option", "all => all.map(o => o.textContent)")
    assert options == ["Presets", f"1: FULL (C {FULL[0]:g} W {FULL[1]:g})",
                       f"2: NARROW (C {NARROW[0]:g} W {NARROW[1]:g})"]
    page.select_option("#window-preset", index=2)
    wait_tiles(page, f"?window={NARROW[0]:g},{NARROW[1]:g}")
    assert readout(page) == NARROW
    assert screen_psnr(page, artifacts, "grey-preset-narrow", grey_rgb(frames.grey_values, *NARROW)) > MIN_PSNR
    link = page.url
    # Key 1 is the first preset, here the file's own window: back to the default tiles (no ?window=).
    page.keyboard.press("1")
    wait_tiles(page, f"/frames-tiles/{instance}/0/")
    assert readout(page) == FULL and "window=" not in page.url
    # Reset after a drag.
    _drag(page, (500, 300), (400, 300), "right")
    page.wait_for_function("document.body.dataset.tiles.includes('?window=')")
    page.click("#window-reset")
    wait_tiles(page, f"/frames-tiles/{instance}/0/")
    assert readout(page) == FULL
    # The link taken with the preset opens with that window.
    again = browser.new_page()
    try:
        again.goto(link)
        wait_tiles(again, f"?window={NARROW[0]:g},{NARROW[1]:g}")
        assert readout(again) == NARROW
    finally:
        again.close()


def test_a_frame_past_the_instance_shows_an_error(orthanc, frames, page):
    page.goto(frame_viewer_url(orthanc.url, instance=frames.grey_instance, frame=5))
    page.wait_for_function("document.getElementById('status').classList.contains('error')")
    assert "Cannot open the frame" in page.locator("#status").inner_text()


# ---- a series that is not whole-slide: ?series= with a frame slider ------------------------------------------

def ct_display(frames, k: int) -> np.ndarray:
    return grey_rgb(frames.ct_values[k], 40, 400)


def test_series_form_walks_the_frames_with_slider_and_keys(orthanc, frames, page, artifacts):
    series, instance = frames.ct_series, frames.ct_instance
    listed = orthanc.json(f"wsi/series-frames/{series}")["Frames"]
    assert listed == [{"Instance": instance, "Frame": k} for k in range(4)]
    log = open_frame(page, orthanc.url, series=series, x=500, y=500, zoom=1, rotation=0)
    assert page.locator("#frame-picker").is_visible()
    assert page.locator("#frame-slider").get_attribute("max") == "3"
    assert page.locator("#frame-readout").inner_text() == "1 / 4"
    assert screen_psnr(page, artifacts, "ct-frame0", ct_display(frames, 0), (400, 400)) > MIN_PSNR
    page.keyboard.press("PageDown")
    wait_tiles(page, f"/frames-tiles/{instance}/1/")
    assert page.locator("#frame-readout").inner_text() == "2 / 4"
    assert screen_psnr(page, artifacts, "ct-frame1", ct_display(frames, 1), (400, 400)) > MIN_PSNR
    assert screen_psnr(page, artifacts, "ct-frame1-vs0", ct_display(frames, 0), (400, 400)) < 20
    page.locator("#frame-slider").fill("3")
    wait_tiles(page, f"/frames-tiles/{instance}/3/")
    assert screen_psnr(page, artifacts, "ct-frame3", ct_display(frames, 3), (400, 400)) > MIN_PSNR
    assert parse_qs(urlparse(page.url).query)["frame-index"] == ["3"]
    page.evaluate("document.activeElement.blur()")  # keys to the page, not to the slider
    page.keyboard.press("Home")
    wait_tiles(page, f"/frames-tiles/{instance}/0/")
    assert page.locator("#frame-readout").inner_text() == "1 / 4"
    assert {a[2] for a in log.answers} == {0, 1, 3}  # frame 2 was skipped by the slider, never asked
    assert all(a[0] == 200 for a in log.answers)
    # The view (zoom 1, centred) stayed across frames of the same size.
    assert view(page)["zoom"] == pytest.approx(1, rel=1e-3)


def test_series_form_keeps_a_chosen_window_across_frames(orthanc, frames, page):
    open_frame(page, orthanc.url, series=frames.ct_series, window="80,200")
    assert readout(page) == (80, 200)
    # CT presets are offered next to the file's window.
    options = page.eval_on_selector_all("#window-preset option", "all => all.map(o => o.textContent)")
    assert any("Lung (C -600 W 1500)" in o for o in options)
    page.keyboard.press("End")
    wait_tiles(page, f"/frames-tiles/{frames.ct_instance}/3/?window=80,200")
    assert readout(page) == (80, 200)


def test_series_form_opens_a_frame_of_another_size_whole(orthanc, page, artifacts):
    """Instances of one series may differ in size: the next one opens fitted, not in the old one's view."""
    series, study = generate_uid(), generate_uid()
    sizes = {1: (1000, 1000), 2: (1400, 600)}  # instance number: (width, height)
    for number, (width, height) in sizes.items():
        pixels = np.round(smooth_field(width, height, seed=number) * 400 + 800).astype(np.uint16)
        answer = orthanc.upload(dicom_image(pixels, series=series, study=study, number=number))
    series_id = answer["ParentSeries"]
    listed = orthanc.json(f"wsi/series-frames/{series_id}")["Frames"]
    assert len(listed) == 2
    second = listed[1]["Instance"]
    width, height = (orthanc.json(f"wsi/frames-pyramids/{second}/0")[k] for k in ("TotalWidth", "TotalHeight"))
    open_frame(page, orthanc.url, series=series_id, x=500, y=500, zoom=1, rotation=0)
    page.keyboard.press("PageDown")
    wait_tiles(page, f"/frames-tiles/{second}/0/")
    shown = view(page)
    assert shown["x"] == pytest.approx(width / 2, abs=2) and shown["y"] == pytest.approx(height / 2, abs=2)
    box = page.locator("#viewer").bounding_box()
    assert shown["zoom"] == pytest.approx(min(box["width"] / width, box["height"] / height), rel=0.02)
    assert screenshot(page, artifacts / "deep-zoom-series-other-size.png").std() > 15
