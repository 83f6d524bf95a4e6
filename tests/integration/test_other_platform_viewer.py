"""Smoke test of the viewer in headless Chromium against the other platform's Orthanc (tests/support/other_platform.py:
Debian 13's from a Debian 12 host, Debian 12's from a Debian 13 host): the page opens a slide, every tile it asks
for is in range and answered 200, the slide is drawn, and the page throws nothing. The full viewer suite is
tests/browser/ (the host's Orthanc).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser.viewer_page import CHROMIUM, CHROMIUM_ARGS, VIEWPORT, open_viewer, out_of_range, screenshot
from tests.support.other_platform import OTHER

pytestmark = [pytest.mark.integration, pytest.mark.browser]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"


@pytest.fixture(scope="module")
def chromium(playwright):
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    try:
        yield browser
    finally:
        browser.close()


@pytest.mark.parametrize("name", ["ours-jpeg", "dicomizer-jpeg2000", "ours-npot"])
def test_viewer_shows_a_slide_served_by_the_other_platform(chromium, orthanc_other, slides_other, name):
    series = slides_other[name]
    page = chromium.new_page(viewport=VIEWPORT)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        log = open_viewer(page, orthanc_other.url + "/", series, description=f"{name} on {OTHER.name}")
        assert log.answers, "no tile was requested"
        assert [a for a in log.answers if a[0] != 200] == []
        assert out_of_range(log, orthanc_other.get_json(f"/wsi/pyramids/{series}")) == []
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        assert screenshot(page, ARTIFACTS / f"{OTHER.folder}-viewer-{name}.png").std() > 15, "nearly uniform"
        assert page.locator("#label").inner_text() == f"{name} on {OTHER.name}"
    finally:
        page.close()
    assert not errors, errors
