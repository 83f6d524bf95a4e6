"""Real IIIF clients in headless Debian chromium (Playwright): OpenSeadragon and Mirador from npm.

They load our info.json and manifests through the plugin's own test pages (webassets/osd.html,
webassets/mirador.html); every IIIF request must answer 200, the console must stay free of errors,
and the screenshots must show an image.
"""

from __future__ import annotations

import io
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.integration.test_iiif_orthanc import served  # noqa: F401  (module fixture: Orthanc + data)

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = ROOT / "test-artifacts" / "iiif-clients"
# Mirador 4 bundles React 19 and triggers this deprecation notice itself, whatever it displays:
# it is the only console error we tolerate, matched exactly.
LIBRARY_NOTICES = {"Accessing element.ref was removed in React 19. ref is now a regular prop. It will be removed "
                   "from the JSX Element type in a future release."}


@pytest.fixture(scope="module")
def browser(playwright, tmp_path_factory):
    if not (ROOT / "webassets" / "vendor" / "mirador").is_dir():
        pytest.skip("webassets/vendor is missing: run scripts/setup.sh test")
    context = playwright.chromium.launch_persistent_context(
        str(tmp_path_factory.mktemp("chromium")), executable_path=CHROMIUM, args=CHROMIUM_ARGS,
        headless=True, viewport={"width": 1280, "height": 900})
    yield context
    context.close()


@dataclass
class Visit:
    iiif_responses: list[tuple[str, int]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    screenshot: bytes = b""
    pending: set[str] = field(default_factory=set)  # IIIF requests sent and not yet answered


def wait_for_iiif_answers(page, seen: Visit, timeout_s: float = 60, quiet_s: float = 0.5) -> None:
    """Until no IIIF request has been waiting for `quiet_s`; fails naming the requests still unanswered.

    (Playwright's "networkidle" counts every connection of the page, so it can wait on things that are
    not ours and says nothing about which request was slow.)
    """
    deadline, quiet_since = time.monotonic() + timeout_s, None
    while time.monotonic() < deadline:
        if seen.pending:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= quiet_s:
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"IIIF requests unanswered after {timeout_s} s: {sorted(seen.pending)[:10]}")


def visit(browser, url: str, ready: str, frame_selector: str, name: str, next_items: int = 0) -> Visit:
    """Open a page, wait until `ready` (a JS expression) holds and the network is idle, screenshot it.

    `next_items`: how many times to press Mirador's "Next item" first, so every canvas gets drawn.
    """
    seen = Visit()
    page = browser.new_page()
    page.on("response", lambda r: seen.iiif_responses.append((r.url, r.status)) if "/wsi/iiif/" in r.url else None)
    page.on("console", lambda m: seen.errors.append(m.text)
            if m.type == "error" and m.text not in LIBRARY_NOTICES else None)
    page.on("pageerror", lambda e: seen.errors.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: seen.errors.append(f"request failed: {r.url} {r.failure}"))
    page.on("request", lambda r: seen.pending.add(r.url) if "/wsi/iiif/" in r.url else None)
    page.on("requestfinished", lambda r: seen.pending.discard(r.url))
    page.on("requestfailed", lambda r: seen.pending.discard(r.url))
    try:
        page.goto(url)
        page.wait_for_function(ready, timeout=60_000)
        wait_for_iiif_answers(page, seen)
        for _ in range(next_items):
            page.get_by_role("button", name="Next item").click()
            wait_for_iiif_answers(page, seen)
        page.wait_for_timeout(500)  # let the last tiles be drawn
        seen.screenshot = page.locator(frame_selector).first.screenshot()
    finally:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"))
        page.close()
    return seen


def assert_good(seen: Visit) -> None:
    assert seen.iiif_responses, "the client asked nothing from the IIIF routes"
    failed = [(url, status) for url, status in seen.iiif_responses if status != 200]
    assert not failed, failed
    assert not seen.errors, seen.errors
    pixels = np.asarray(Image.open(io.BytesIO(seen.screenshot)).convert("L"), dtype=float)
    _, counts = np.unique(pixels.round(), return_counts=True)
    # Not blank: the commonest grey covers well under all of it, and there is real contrast.
    assert counts.max() / pixels.size < 0.9 and pixels.std() > 8, (counts.max() / pixels.size, pixels.std())


def osd_url(orthanc, info_path: str) -> str:
    return f"{orthanc.url}wsi/app/osd.html?info={urllib.parse.quote(orthanc.url + info_path, safe='')}"


def mirador_url(orthanc, manifest_path: str) -> str:
    return f"{orthanc.url}wsi/app/mirador.html?manifest={urllib.parse.quote(orthanc.url + manifest_path, safe='')}"


OSD_READY = ("() => window.osdViewer && window.osdViewer.world.getItemCount() > 0"
             " && window.osdViewer.world.getItemAt(0).getFullyLoaded()")
# Mirador draws the canvas with its own OpenSeadragon once the manifest and info.json are in.
MIRADOR_READY = "() => document.querySelector('.openseadragon-canvas canvas') !== null"


@pytest.mark.parametrize(("name", "info"), [
    ("osd-slide", lambda d: f"wsi/iiif/tiles/{d.jpeg_slide}/info.json"),
    ("osd-grid-slide", lambda d: f"wsi/iiif/tiles/{d.slide}/info.json"),
    ("osd-radiology-frame", lambda d: f"wsi/iiif/frames/{d.ct_series}/0/info.json"),
    ("osd-large-radiograph", lambda d: f"wsi/iiif/frames/{d.ct_series}/3/info.json"),
    ("osd-frame-by-instance", lambda d: f"wsi/iiif/frames/{d.ct_instances[1]}/1/info.json"),
])
def test_openseadragon_opens_info_json(served, browser, name, info):  # noqa: F811
    orthanc, data = served
    seen = visit(browser, osd_url(orthanc, info(data)), OSD_READY, "#osd", name)
    assert_good(seen)


@pytest.mark.parametrize(("name", "series", "canvases"), [
    ("mirador-slide", lambda d: d.jpeg_slide, 1),
    ("mirador-radiology-series", lambda d: d.ct_series, 4),
])
def test_mirador_opens_manifest(served, browser, name, series, canvases):  # noqa: F811
    orthanc, data = served
    seen = visit(browser, mirador_url(orthanc, f"wsi/iiif/series/{series(data)}/manifest.json"), MIRADOR_READY,
                 ".openseadragon-canvas", name, next_items=canvases - 1)
    assert_good(seen)
    assert any("/manifest.json" in url for url, _ in seen.iiif_responses)
    # Every canvas's image service was opened (info.json of each frame, or of the slide).
    infos = {url for url, _ in seen.iiif_responses if url.endswith("/info.json")}
    assert len(infos) == canvases, infos
