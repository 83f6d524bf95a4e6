"""The Orthanc Explorer buttons (ExtendOrthancExplorer) and the pages they open, in headless chromium."""

from __future__ import annotations

from urllib.parse import urlparse

import pytest

from tests.browser.viewer_page import TileLog, frame_positions, out_of_range, screenshot, wait_loaded

pytestmark = pytest.mark.integration

BUTTONS = "[data-wsi-button]"


def _series_page(page, base: str, series: str) -> list[str]:
    """Open the Explorer on a series and wait until its whole-slide check has answered; /wsi/ requests made."""
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url) if "/wsi/" in r.url else None)
    with page.expect_response(lambda r: f"/wsi/pyramids/{series}" in r.url):
        page.goto(f"{base}app/explorer.html#series?uuid={series}")
    page.wait_for_selector(f"#wsi-py-tools[data-series='{series}'] {BUTTONS}")
    page.wait_for_timeout(300)
    return requests


def _buttons(page) -> list[str]:
    return page.eval_on_selector_all(BUTTONS, "all => all.map(e => e.dataset.wsiButton)")


def test_whole_slide_series_has_the_yellow_viewer_button(orthanc, slides, page, artifacts):
    requests = _series_page(page, orthanc.url, slides.jpeg)
    assert _buttons(page) == ["viewer", "openseadragon", "copy-manifest", "mirador"]
    viewer = page.locator("[data-wsi-button=viewer]")
    assert viewer.inner_text().strip() == "Whole-Slide Imaging Viewer"
    assert "ui-btn-up-e" in viewer.get_attribute("class")  # jQuery Mobile theme "e": yellow
    assert viewer.get_attribute("target") == "_blank"
    assert requests == [f"{orthanc.url}wsi/pyramids/{slides.jpeg}"]  # one small request per page view
    page.screenshot(path=str(artifacts / "explorer-wsi-series.png"))


def test_ct_series_has_no_viewer_button(orthanc, slides, page, artifacts):
    requests = _series_page(page, orthanc.url, slides.ct)
    assert _buttons(page) == ["copy-manifest", "mirador"]
    assert len(requests) == 1
    page.screenshot(path=str(artifacts / "explorer-ct-series.png"))


def test_buttons_are_not_duplicated_when_the_page_is_shown_again(orthanc, slides, page):
    _series_page(page, orthanc.url, slides.jpeg)
    for _ in range(2):
        page.click("#series .study-link")
        page.wait_for_selector("#study.ui-page-active")
        with page.expect_response(lambda r: "/wsi/pyramids/" in r.url):
            page.click(f"#list-series a[href='#series?uuid={slides.jpeg}']")
        page.wait_for_selector(f"#wsi-py-tools {BUTTONS}[data-wsi-button=viewer]")
        page.wait_for_timeout(300)
        assert _buttons(page) == ["viewer", "openseadragon", "copy-manifest", "mirador"]


def test_viewer_button_opens_the_viewer_in_a_new_tab(orthanc, slides, browser, page, artifacts):
    _series_page(page, orthanc.url, slides.jpeg)
    # Stored frames fetched from Orthanc itself are placed by the pyramid's frame map.
    log = TileLog(series=slides.jpeg, frames=frame_positions(orthanc.json(f"wsi/pyramids/{slides.jpeg}")))
    browser.on("response", log.record)
    try:
        with browser.expect_page() as opened:
            page.click("[data-wsi-button=viewer]")
        viewer = opened.value
        wait_loaded(viewer)
        assert urlparse(viewer.url).path == "/wsi/app/viewer.html"
        shot = screenshot(viewer, artifacts / "explorer-opened-viewer.png")
        viewer.close()
    finally:
        browser.remove_listener("response", log.record)
    assert shot.std() > 15
    assert log.answers and all(status == 200 for status, *_ in log.answers)
    assert out_of_range(log, orthanc.json(f"wsi/pyramids/{slides.jpeg}")) == []


@pytest.mark.parametrize("kind", ["jpeg", "ct"])
def test_copy_manifest_link_puts_the_absolute_url_on_the_clipboard(orthanc, slides, page, kind):
    series = getattr(slides, kind)
    _series_page(page, orthanc.url, series)
    page.evaluate("navigator.clipboard.writeText('')")
    button = page.locator("[data-wsi-button=copy-manifest]")
    button.click()
    page.wait_for_selector("[data-wsi-button=copy-manifest][data-copied=true]")
    url = f"{orthanc.url}wsi/iiif/series/{series}/manifest.json"
    assert page.evaluate("navigator.clipboard.readText()") == url
    assert button.inner_text().strip() == "Manifest link copied"
    assert orthanc.status(url.removeprefix(orthanc.url)) == 200


@pytest.mark.parametrize(("button", "bundle", "ready"), [
    ("openseadragon", "vendor/openseadragon/openseadragon.min.js", ".openseadragon-canvas"),
    ("mirador", "vendor/mirador/mirador.min.js", ".openseadragon-canvas"),
])
def test_iiif_test_pages_load_local_bundles_and_fetch_tiles(orthanc, slides, browser, page, artifacts, button,
                                                              bundle, ready):
    _series_page(page, orthanc.url, slides.jpeg)
    href = page.locator(f"[data-wsi-button={button}]").get_attribute("href")
    target = browser.new_page()
    answers: list[tuple[int, str]] = []
    target.on("response", lambda r: answers.append((r.status, r.url)))
    try:
        target.goto(f"{orthanc.url}app/{href}")
        target.wait_for_selector(ready, timeout=30000)
        target.wait_for_function("() => performance.getEntriesByType('resource')"
                                 ".filter(e => e.name.includes('/wsi/iiif/tiles/') && e.name.endsWith('.jpg'))"
                                 ".length >= 4", timeout=30000)
        target.wait_for_timeout(1500)
        target.screenshot(path=str(artifacts / f"explorer-iiif-{button}.png"))
    finally:
        target.close()
    assert (200, f"{orthanc.url}wsi/app/{bundle}") in answers
    tiles = [(status, url) for status, url in answers if "/wsi/iiif/tiles/" in url and url.endswith(".jpg")]
    assert tiles and all(status == 200 for status, _ in tiles)
    assert all(url.startswith(orthanc.url) for _, url in answers if url.startswith("http")), "left the server"
