"""Smoke test of the viewer in headless Chromium against the other platform's Orthanc (tests/support/other_platform.py:
Debian 13's from a Debian 12 host, Debian 12's from a Debian 13 host): the page opens a slide, every tile it asks
for is in range and answered 200, the slide is drawn, and the page throws nothing; the same for one frame of
a grey multi-frame instance (?instance=&frame=), whose window preset brings tiles with ?window=. The full viewer
suite is tests/browser/ (the host's Orthanc).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.browser.frames import ct_frames
from tests.browser.viewer_page import (
    CHROMIUM,
    CHROMIUM_ARGS,
    VIEWPORT,
    open_viewer,
    out_of_range,
    screenshot,
    wait_loaded,
)
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


def test_viewer_shows_a_grey_frame_served_by_the_other_platform(chromium, orthanc_other):
    data, _ = ct_frames()
    status, _, body = orthanc_other.request("POST", "/instances", data, {"Content-Type": "application/dicom"})
    assert status == 200, body[:300]
    instance = json.loads(body)["ID"]
    page = chromium.new_page(viewport=VIEWPORT)
    errors: list[str] = []
    answers: list[tuple[int, str]] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("response", lambda r: answers.append((r.status, r.url)) if "/wsi/frames-tiles/" in r.url else None)
    try:
        page.goto(f"{orthanc_other.url}/wsi/app/viewer.html?instance={instance}&frame=2")
        wait_loaded(page)
        assert page.locator("#window-readout").inner_text() == "C 40 W 400"
        page.keyboard.press("3")  # the third preset: after the file's window and "Soft tissue", "Lung"
        page.wait_for_function("(document.body.dataset.tiles || '').endsWith('?window=-600,1500') && "
                               "wsiViewer.viewer.world.getItemCount() === 1", timeout=30000)
        wait_loaded(page)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        assert screenshot(page, ARTIFACTS / f"{OTHER.folder}-viewer-grey-frame.png").std() > 15, "nearly uniform"
    finally:
        page.close()
    assert answers and all(status == 200 for status, _ in answers)
    assert all(f"/frames-tiles/{instance}/2/" in url for _, url in answers)
    assert any(url.endswith("?window=-600,1500") for _, url in answers)
    assert not errors, errors
