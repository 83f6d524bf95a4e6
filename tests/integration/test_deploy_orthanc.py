"""The configuration docker-compose.yml ships (docker/orthanc-wsi.json), run in a real Orthanc with our plugin,
and the viewer opened at the URLs Orthanc Explorer 2 builds (docs/deploy.md).

OE2 (orthanc-explorer-2 1.14.1, WebApplication/src/orthancApi.js `getWsiViewerUrl`) links a series to
`../../wsi/app/viewer.html?series={series id}` from its pages under /ui/app/; it shows that link only when a
plugin named "wsi" is loaded, so the shipped configuration adds a series button (UiOptions.CustomButtons,
`{UUID}` = the series id) to the same page. Both URLs must open our viewer on the slide. The host's Orthanc
stands in for the image's (no Docker engine here); OE2 itself is not loaded.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest

from tests.browser.viewer_page import CHROMIUM, CHROMIUM_ARGS, VIEWPORT, TileLog, screenshot, wait_loaded
from tests.support.orthanc_server import CPP_WSI_PLUGIN, PYTHON_PLUGIN, OrthancServer, require_orthanc
from tests.support.source import textured_image
from tests.support.writer import write_slide

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PLUGIN_SCRIPT = ROOT / "plugin" / "wsi_plugin.py"
ARTIFACTS = ROOT / "test-artifacts" / "browser"
CONFIG = json.loads((ROOT / "docker" / "orthanc-wsi.json").read_text())
OE2_PAGE = "/ui/app/index.html"  # any OE2 page: they all live in /ui/app/
OE2_WSI_LINK = "../../wsi/app/viewer.html?series="  # orthancApi.js: orthancApiUrl ('../../') + this + id


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory):
    """Orthanc with our plugin and the shipped configuration (its PythonScript is the container's path)."""
    require_orthanc()
    shipped = {key: value for key, value in CONFIG.items() if key != "PythonScript"}
    with OrthancServer(PLUGIN_SCRIPT, extra_config=shipped,
                       storage_dir=tmp_path_factory.mktemp("orthanc-deploy")) as server:
        yield server


@pytest.fixture(scope="module")
def series(deployed: OrthancServer, tmp_path_factory: pytest.TempPathFactory) -> str:
    image = textured_image(700, 500, seed=5)
    return deployed.upload_series(write_slide(tmp_path_factory.mktemp("deploy-slide"), image, downsamples=(1, 2)))


def oe2_urls(server: OrthancServer, series: str) -> dict[str, str]:
    page = server.url + OE2_PAGE
    button = CONFIG["OrthancExplorer2"]["UiOptions"]["CustomButtons"]["series"][0]
    return {"built-in WSI link": urljoin(page, OE2_WSI_LINK + series),
            "our series button": urljoin(page, button["Url"].replace("{UUID}", series))}


def test_the_shipped_configuration_starts_the_plugin(deployed):
    assert "python" in deployed.get_json("/plugins")
    status, headers, _ = deployed.get("/wsi/app/viewer.html")
    assert status == 200 and headers["content-type"].startswith("text/html")


@pytest.mark.parametrize("which", ["built-in WSI link", "our series button"])
def test_the_url_explorer_2_opens_serves_the_viewer_and_its_slide(deployed, series, which):
    url = oe2_urls(deployed, series)[which]
    parts = urlsplit(url)
    assert (parts.path, parts.query) == ("/wsi/app/viewer.html", f"series={series}")
    status, headers, body = deployed.get(f"{parts.path}?{parts.query}")
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert b"viewer.js" in body
    # What the page then asks for, relative to itself (webassets/viewer.js: `../pyramids/{series}`).
    pyramid = deployed.get_json(urlsplit(urljoin(url, f"../pyramids/{series}")).path)
    assert pyramid["ID"] == series and pyramid["TotalWidth"] == 700


@pytest.mark.browser
def test_the_viewer_opened_as_explorer_2_links_it_draws_the_slide(deployed, series, playwright):
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    try:
        page = browser.new_page(viewport=VIEWPORT)
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        log = TileLog(series=series)  # stored frames straight from Orthanc count for the slide (frame map)
        page.on("response", log.record)
        page.goto(oe2_urls(deployed, series)["our series button"])
        wait_loaded(page)
        assert log.answers and all(status == 200 and got == series for status, got, *_ in log.answers)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        assert screenshot(page, ARTIFACTS / "deploy-explorer-2-button.png").std() > 15, "nearly uniform"
        assert errors == []
    finally:
        browser.close()


@pytest.mark.parametrize("first", ["ours", "cpp"])
def test_with_the_cpp_plugin_loaded_too_the_first_loaded_owns_wsi(tmp_path, first):
    """Why docker-compose.yml keeps the image's C++ WSI plugin off: both plugins register /wsi/pyramids/...,
    Orthanc answers with the first registration that matches, and the image loads plugins from a folder (no
    order promised). Measured here with the host's Orthanc and C++ plugin, loaded in a chosen order."""
    require_orthanc()
    if not Path(CPP_WSI_PLUGIN).exists():
        pytest.skip(f"{CPP_WSI_PLUGIN} is missing (Debian package orthanc-wsi)")
    order = [PYTHON_PLUGIN, CPP_WSI_PLUGIN] if first == "ours" else [CPP_WSI_PLUGIN, PYTHON_PLUGIN]
    with OrthancServer(PLUGIN_SCRIPT, extra_config={"Plugins": order}, storage_dir=tmp_path / "orthanc") as server:
        assert {"python", "wsi"} <= set(server.get_json("/plugins"))
        image = textured_image(700, 500, seed=5)
        series = server.upload_series(write_slide(tmp_path / "slide", image, downsamples=(1, 2)))
        # PixelSpacings is ours alone (README, routes table).
        assert ("PixelSpacings" in server.get_json(f"/wsi/pyramids/{series}")) == (first == "ours")
