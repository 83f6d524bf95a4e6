"""Issue 12 items 1 and 2 in a browser: stored frames straight from Orthanc show the same pixels as /wsi/tiles, a
browser never asks twice for a tile (pan away and back, zoom out and in), and a changed series shows new pixels."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from tests.browser.viewer_page import hide_overlays, open_viewer, pyramid_of, screenshot, wait_loaded
from tests.support.orthanc_server import OrthancServer
from tests.support.source import textured_image
from tests.support.writer import recode_as_lossless_jpeg, write_slide

PLUGIN = Path(__file__).resolve().parents[2] / "plugin" / "wsi_plugin.py"

pytestmark = pytest.mark.integration

# Every resource the page fetched: (url, bytes that came over the network; 0 = from the browser's cache).
FETCHED = """() => performance.getEntriesByType('resource')
    .filter((e) => /\\/wsi\\/tiles\\/|\\/frames\\/\\d+\\/raw/.test(e.name)).map((e) => [e.name, e.transferSize])"""


def _network_fetches(page) -> dict[str, int]:
    counts: dict[str, int] = {}
    for url, size in page.evaluate(FETCHED):
        if size > 0:
            counts[url] = counts.get(url, 0) + 1
    return counts


def _zoom_to(page, x: float, y: float, zoom: float) -> None:
    page.evaluate("""([x, y, zoom]) => {
        const v = wsiViewer.viewer.viewport, item = wsiViewer.viewer.world.getItemAt(0);
        v.zoomTo(item.imageToViewportZoom(zoom), null, true);
        v.panTo(item.imageToViewportCoordinates(x, y), true);
    }""", [x, y, zoom])
    wait_loaded(page)


def test_pan_away_and_back_zoom_out_and_in_fetches_no_tile_twice(orthanc, slides, page):
    page.add_init_script("performance.setResourceTimingBufferSize(100000)")
    log = open_viewer(page, orthanc.url, slides.jpeg, x=600, y=600, zoom=1)
    # OpenSeadragon's own tile cache would hide the browser's: keep only a few decoded tiles, so going back
    # needs the tiles again and only the HTTP cache can spare the requests.
    page.evaluate("wsiViewer.viewer.tileCache._maxCacheItemCount = 8")
    first = dict(_network_fetches(page))
    for x, y, zoom in ((2400, 2400, 1), (600, 600, 1), (1500, 1500, 0.1), (600, 600, 1), (2400, 2400, 1)):
        _zoom_to(page, x, y, zoom)
    fetched = _network_fetches(page)
    repeated = {url: n for url, n in fetched.items() if n > 1}
    assert repeated == {}
    asked = page.evaluate(FETCHED)
    assert len(asked) > len(fetched) > len(first), "the walk did not need tiles again"
    # The JPEG slide's tiles are stored frames a browser shows as they are: all from Orthanc itself.
    assert log.direct and all("/frames/" in url for url in fetched)
    assert [a for a in log.answers if a[0] != 200] == []


@pytest.mark.parametrize("kind", ["jpeg", "jpeg2000"])
def test_frames_from_orthanc_show_the_same_pixels_as_tiles_from_the_plugin(orthanc, slides, browser, artifacts,
                                                                           kind):
    shots = {}
    for direct in ("1", "0"):
        page = browser.new_page()
        try:
            log = open_viewer(page, orthanc.url, getattr(slides, kind), x=1300, y=900, zoom=0.7, rotation=0,
                              drawer="canvas", direct=direct)
            hide_overlays(page)
            # The zoom buttons fade out over a second: gone at once, so both shots hold slide pixels only.
            page.evaluate("wsiViewer.viewer.controls.forEach((c) => { c.element.style.display = 'none'; })")
            shots[direct] = screenshot(page, artifacts / f"direct-{kind}-{direct}.png")
            assert bool(log.direct) == (direct == "1" and kind == "jpeg")
        finally:
            page.close()
    assert shots["1"].std() > 15
    assert np.array_equal(shots["1"], shots["0"])


def test_a_changed_series_shows_new_pixels(orthanc, page, tmp_path, artifacts):
    uids = {"study_uid": "1.2.826.0.1.3680043.8.498.12101", "series_uid": "1.2.826.0.1.3680043.8.498.12102"}
    page.add_init_script("performance.setResourceTimingBufferSize(100000)")
    shots, fetched = [], []
    instances: list[str] = []
    for seed in (21, 22):
        for instance in instances:
            assert orthanc.server.request("DELETE", f"/instances/{instance}")[0] == 200
        image = textured_image(1024, 768, seed=seed)
        instances = orthanc.server.upload(write_slide(tmp_path / str(seed), image, **uids))
        series = orthanc.server.get_json(f"/instances/{instances[0]}")["ParentSeries"]
        open_viewer(page, orthanc.url, series, x=512, y=384, zoom=0.5, rotation=0)
        hide_overlays(page)
        shots.append(screenshot(page, artifacts / f"direct-changed-{seed}.png"))
        fetched.append(_network_fetches(page))
    assert not np.array_equal(shots[0], shots[1])
    # Every tile of the new series came over the network, under URLs the old one never used.
    assert fetched[1] and not set(fetched[1]) & set(fetched[0])


def test_a_refused_frame_from_orthanc_is_asked_of_the_plugin(orthanc, slides, page):
    """E.g. an authorization plugin refusing /instances: every tile still shows, through /wsi/tiles."""
    page.route("**/frames/*/raw*", lambda route: route.fulfill(status=403, body="refused"))
    log = open_viewer(page, orthanc.url, slides.jpeg, x=1500, y=1500, zoom=0.5)
    refused = [a for a in log.answers if a[0] == 403]
    through_plugin = [url for url in log.urls if "/wsi/tiles/" in url]
    assert refused and len(through_plugin) >= len(refused)
    assert all(status == 200 for status, *_ in log.answers if status != 403)
    assert page.evaluate("wsiViewer.failedTiles") == 0


def test_a_mapped_frame_the_browser_cannot_decode_is_asked_of_the_plugin(browser, tmp_path, artifacts):
    """The frame map is decided from the tags; a first frame whose header fails is found only when the FrameWarmer
    reads it (test_direct_frames.py). Until then a viewer may get such an instance as direct frames: here lossless
    JPEG under the baseline label, kept in the map for good by WarmFirstFrames off. Chromium cannot decode them,
    the viewer asks /wsi/tiles instead, and the slide shows as it does without direct frames."""
    files = write_slide(tmp_path / "slide", textured_image(1024, 768, seed=41))
    recode_as_lossless_jpeg(files[1])
    server = OrthancServer(PLUGIN, storage_dir=tmp_path / "orthanc")
    server.config["WholeSlideImaging"] = {"WarmFirstFrames": False, "VirtualEnv": sys.prefix}
    with server:
        series = server.upload_series(files)
        base = server.url + "/"
        bad = {i["ID"] for i in server.get_json(f"/series/{series}/instances")
               if i["MainDicomTags"].get("InstanceNumber") == "2"}
        assert bad and all(bad == {entry["Instance"] for entry in pyramid_of(base, series)["FrameMap"][1]["Full"]}
                           for _ in range(2))
        shots = {}
        for direct in ("1", "0"):
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda error, seen=errors: seen.append(str(error)))
            try:
                log = open_viewer(page, base, series, x=512, y=384, zoom=0.5, rotation=0, drawer="canvas",
                                  direct=direct)
                hide_overlays(page)
                page.evaluate("wsiViewer.viewer.controls.forEach((c) => { c.element.style.display = 'none'; })")
                shots[direct] = screenshot(page, artifacts / f"direct-undecodable-{direct}.png")
                assert page.evaluate("wsiViewer.failedTiles") == 0 and not errors
                assert all(status == 200 for status, *_ in log.answers)
                if direct == "1":
                    refused = [url for url in log.direct if any(i in url for i in bad)]
                    asked_again = [url for url in log.urls if f"/wsi/tiles/{series}/1/" in url]
                    assert refused and len(asked_again) >= len(refused)
            finally:
                page.close()
        assert shots["1"].std() > 15
        assert np.array_equal(shots["1"], shots["0"])
