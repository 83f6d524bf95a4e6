"""Helpers to drive the viewer page and to check what it shows and asks for."""

from __future__ import annotations

import io
import json
import re
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import numpy as np
from PIL import Image

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1200, "height": 800}

# The main test slide: square (OrthancWSIDicomizer 1.1 swaps the two pixel spacings of a non-square
# image), not a multiple of the tile size (padded edge tiles), 0.25 µm per pixel.
SLIDE_PX = 3000
SLIDE_MM = 0.75
TILE_PX = 256

TILE_URL = re.compile(r"/wsi/tiles/([^/?]+)/(\d+)/(\d+)/(\d+)(?:\?.*)?$")
FRAME_URL = re.compile(r"/instances/([^/?]+)/frames/(\d+)/raw(?:\?.*)?$")  # a stored frame straight from Orthanc


def frame_positions(pyramid: dict) -> dict[tuple[str, int], tuple[int, int, int, str]]:
    """(instance, frame) -> (level, x, y, "optical-path=ID&focal-plane=N") of the pyramid's frame map
    (plugin/wsi/frame_map.py): where a stored frame fetched from Orthanc itself goes."""
    paths = [str(p["ID"]) for p in pyramid.get("OpticalPaths", [])]

    def choice(path: int, plane: int) -> str:
        return f"optical-path={paths[path]}&focal-plane={plane}"

    out = {}
    for level, entry in enumerate(pyramid.get("FrameMap", [])):
        for block in entry["Full"]:
            per_plane = block["TilesX"] * block["TilesY"]
            for frame in range(block["Count"]):
                index = block["Offset"] + frame
                path, plane = divmod(index // per_plane, len(block["FocalPlanes"]))
                x, y = index % block["TilesX"], index // block["TilesX"] % block["TilesY"]
                out[block["Instance"], frame] = (level, x, y, choice(block["OpticalPaths"][path],
                                                                     block["FocalPlanes"][plane]))
        sparse = entry.get("Sparse") or {"Tiles": []}
        for tx, ty, path, plane, instance, frame in sparse["Tiles"]:
            out[sparse["Instances"][instance], frame] = (level, tx, ty, choice(path, plane))
    return out


@dataclass
class TileLog:
    """Every tile answer seen by a page or context: (status, series, z, x, y); stored frames fetched from Orthanc
    itself are placed by `frames` (see frame_positions) and listed in `direct` too."""

    answers: list[tuple[int, str, int, int, int]] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)  # same order as answers
    types: list[str] = field(default_factory=list)  # their Content-Type, same order
    series: str = ""
    frames: dict[tuple[str, int], tuple[int, int, int, str]] = field(default_factory=dict)
    direct: list[str] = field(default_factory=list)
    choices: dict[str, str] = field(default_factory=dict)  # direct URL -> its "optical-path=..&focal-plane=.."

    def choice(self, url: str) -> str:
        """The optical path and focal plane a tile URL asks for (a stored frame's from the frame map)."""
        return self.choices.get(url, url)

    def record(self, response) -> None:
        match = TILE_URL.search(response.url)
        if match:
            series, z, x, y = match.group(1), *map(int, match.groups()[1:])
            self.answers.append((response.status, series, z, x, y))
            self.urls.append(response.url)
            self.types.append(response.headers.get("content-type", ""))
            return
        match = FRAME_URL.search(response.url)
        if match:
            z, x, y, choice = self.frames.get((match.group(1), int(match.group(2))), (-1, -1, -1, ""))
            self.answers.append((response.status, self.series, z, x, y))
            self.urls.append(response.url)
            self.types.append(response.headers.get("content-type", ""))
            self.direct.append(response.url)
            self.choices[response.url] = choice

    def levels(self, start: int = 0) -> set[int]:
        return {z for _, _, z, _, _ in self.answers[start:]}


def viewer_url(base: str, series: str, **params: object) -> str:
    return f"{base}wsi/app/viewer.html?{urlencode({'series': series, **params})}"


def wait_loaded(page, timeout_ms: int = 30000) -> None:
    """Until OpenSeadragon has every tile it wants for the current view."""
    page.wait_for_function("document.body.dataset.state === 'open'", timeout=timeout_ms)
    page.wait_for_timeout(300)  # let an animation start, so "loaded" is about the final view
    page.wait_for_function("document.body.dataset.loaded === 'true' && "
                           "!wsiViewer.viewer.world.getItemAt(0).needsDraw()", timeout=timeout_ms)
    page.wait_for_timeout(200)


def pyramid_of(base: str, series: str) -> dict:
    try:
        with urllib.request.urlopen(f"{base}wsi/pyramids/{series}", timeout=30) as answer:
            return json.loads(answer.read())
    except urllib.error.HTTPError:
        return {}


def open_viewer(page, base: str, series: str, **params: object) -> TileLog:
    log = TileLog(series=series, frames=frame_positions(pyramid_of(base, series)))
    page.on("response", log.record)
    page.goto(viewer_url(base, series, **params))
    wait_loaded(page)
    return log


def out_of_range(log: TileLog, pyramid: dict) -> list[tuple[int, int, int]]:
    counts = pyramid["TilesCount"]
    return [(z, x, y) for _, _, z, x, y in log.answers
            if not (0 <= z < len(counts) and 0 <= x < counts[z][0] and 0 <= y < counts[z][1])]


def view(page) -> dict[str, float]:
    """Centre (full-resolution pixels), zoom (screen px per pixel) and rotation shown now."""
    return page.evaluate("""() => {
        const v = wsiViewer.viewer.viewport, item = wsiViewer.viewer.world.getItemAt(0);
        const c = item.viewportToImageCoordinates(v.getCenter(true));
        return {x: c.x, y: c.y, zoom: item.viewportToImageZoom(v.getZoom(true)), rotation: v.getRotation(true)};
    }""")


def screenshot(page, path: Path, selector: str = "#viewer") -> np.ndarray:
    """Screenshot of one element, kept on disk, as an RGB array.

    Headless WebGL sometimes hands a blank frame to the screenshot although every tile is loaded, so the
    slide is redrawn first and the shot retaken while it is uniform; a viewer that really shows nothing
    stays uniform and the caller's checks fail.
    """
    for _ in range(3):
        page.evaluate("""() => new Promise((done) => {
            if (window.wsiViewer && wsiViewer.viewer) { wsiViewer.viewer.forceRedraw(); }
            requestAnimationFrame(() => requestAnimationFrame(done));
        })""")
        data = page.locator(selector).screenshot(path=str(path))
        pixels = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
        if pixels.std() > 2:
            break
    return pixels


def hide_overlays(page) -> None:
    """Hide the navigator, the zoom buttons and the scale bar, for comparing the slide pixels alone."""
    page.evaluate("""() => {
        wsiViewer.viewer.setControlsEnabled(false);
        wsiViewer.viewer.navigator.element.style.display = 'none';
        document.getElementById('scale-bar').style.visibility = 'hidden';
    }""")


def image_origin_on_screen(page) -> tuple[float, float]:
    """Where full-resolution pixel (0, 0) is, in pixels of the #viewer element."""
    point = page.evaluate("""() => {
        const p = wsiViewer.viewer.world.getItemAt(0).imageToViewerElementCoordinates(new OpenSeadragon.Point(0, 0));
        return [p.x, p.y];
    }""")
    return point[0], point[1]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    error = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if error == 0 else 10 * np.log10(255.0**2 / error)


def best_psnr(shot: np.ndarray, source: np.ndarray, left: int, top: int, box: tuple[int, int, int, int]) -> float:
    """PSNR of a screen box against the source pixels it should show, allowing a 1-pixel rounding shift.

    `left`, `top`: screen position of source pixel (0, 0) at zoom 1; `box`: (x0, y0, x1, y1) on screen.
    """
    x0, y0, x1, y1 = box
    best = 0.0
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            sx0, sy0 = x0 - left + dx, y0 - top + dy
            if sx0 < 0 or sy0 < 0 or sx0 + (x1 - x0) > source.shape[1] or sy0 + (y1 - y0) > source.shape[0]:
                continue
            expected = source[sy0:sy0 + (y1 - y0), sx0:sx0 + (x1 - x0)]
            best = max(best, psnr(shot[y0:y1, x0:x1], expected))
    return best
