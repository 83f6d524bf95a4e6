"""The "Import slide" button of Orthanc Explorer's upload page: a slide file in, a progress bar, the new series."""

from __future__ import annotations

import pytest

from tests.support.slide_files import aperio_tiff

pytestmark = pytest.mark.integration
IMPORT = "#wsi-py-import"


def _upload_page(page, base: str) -> None:
    page.goto(f"{base}app/explorer.html#upload")
    page.wait_for_selector("[data-wsi-button=import-slide]")


def test_import_slide_shows_progress_and_links_the_new_series(orthanc, page, tmp_path, artifacts):
    aperio_tiff(tmp_path / "slide.svs")
    _upload_page(page, orthanc.url)
    percents: list[str] = []
    page.expose_function("wsiPercent", lambda value: percents.append(value))
    page.evaluate("""() => new MutationObserver(() => window.wsiPercent(
        document.querySelector('#wsi-py-import').getAttribute('data-percent'))).observe(
        document.querySelector('#wsi-py-import'), {attributes: true, attributeFilter: ['data-percent']})""")
    page.set_input_files("[data-wsi-import=file]", str(tmp_path / "slide.svs"))
    page.wait_for_selector(f"{IMPORT}[data-state=Success]", timeout=60_000)
    assert page.get_attribute(f"{IMPORT} progress", "value") == "100"
    assert "Done: 6 instances" in page.inner_text(f"{IMPORT} [data-wsi-import=status]")
    assert [int(p) for p in percents] == sorted(int(p) for p in percents) and percents[-1] == "100"
    page.screenshot(path=str(artifacts / "explorer-import-slide.png"))
    href = page.get_attribute(f"{IMPORT} [data-wsi-import=series]", "href")
    series = href.split("uuid=")[1]
    assert orthanc.json(f"wsi/pyramids/{series}")["Sizes"] == [[1000, 760], [500, 380], [250, 190]]
    with page.expect_response(lambda r: f"/wsi/pyramids/{series}" in r.url):
        page.click(f"{IMPORT} [data-wsi-import=series]")
    page.wait_for_selector("[data-wsi-button=viewer]")


def test_a_refused_file_says_why(orthanc, page, tmp_path):
    (tmp_path / "notes.txt").write_text("not a slide")
    _upload_page(page, orthanc.url)
    before = len(orthanc.json("instances"))
    page.set_input_files("[data-wsi-import=file]", str(tmp_path / "notes.txt"))
    page.wait_for_selector(f"{IMPORT}[data-state=Failure]", timeout=30_000)
    assert "Refused (400): image:" in page.inner_text(f"{IMPORT} [data-wsi-import=status]")
    assert len(orthanc.json("instances")) == before
