"""Annotation tools of the viewer in headless chromium against a real Orthanc: every tool drawn with the mouse,
saved, and the stored DICOM read back by highdicom with the same coordinates; objects written by highdicom drawn
at the right place (screenshot pixels, unrotated and rotated); 10,000 points loaded and drawn (timed)."""

from __future__ import annotations

import io

import numpy as np
import pytest

from tests.browser.viewer_page import open_viewer

pytestmark = pytest.mark.integration


def _panel(page) -> None:
    page.click("#annotations-button")
    page.wait_for_function("document.body.dataset.annotations === 'loaded'", timeout=30000)


def _box(page) -> dict:
    return page.locator("#viewer").bounding_box()


def _drag(page, start, end, steps: int = 8) -> None:
    box = _box(page)
    page.mouse.move(box["x"] + start[0], box["y"] + start[1])
    page.mouse.down()
    for step in range(1, steps + 1):
        t = step / steps
        page.mouse.move(box["x"] + start[0] + t * (end[0] - start[0]), box["y"] + start[1] + t * (end[1] - start[1]))
    page.mouse.up()
    page.wait_for_timeout(150)


def _click(page, at, **options) -> None:
    box = _box(page)
    page.mouse.click(box["x"] + at[0], box["y"] + at[1], **options)
    page.wait_for_timeout(150)


def _to_image(page, points) -> list[list[float]]:
    """Viewer-element pixels -> full-resolution image pixels, as OpenSeadragon maps them now."""
    return page.evaluate("""(points) => {
        const item = wsiViewer.viewer.world.getItemAt(0);
        return points.map(([x, y]) => {
            const p = item.viewerElementToImageCoordinates(new OpenSeadragon.Point(x, y));
            return [p.x, p.y];
        });
    }""", [list(p) for p in points])


def _to_screen(page, points) -> list[list[float]]:
    return page.evaluate("""(points) => {
        const item = wsiViewer.viewer.world.getItemAt(0);
        return points.map(([x, y]) => {
            const p = item.imageToViewerElementCoordinates(new OpenSeadragon.Point(x, y));
            return [p.x, p.y];
        });
    }""", [list(p) for p in points])


def _stored(orthanc, instance: str):
    import highdicom as hd
    from pydicom import dcmread

    data = orthanc.server.get(f"/instances/{instance}/file")[2]
    return hd.ann.MicroscopyBulkSimpleAnnotations.from_dataset(dcmread(io.BytesIO(data)))


def test_page_loads_the_annotation_library_offline(orthanc, slides, page) -> None:
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    open_viewer(page, orthanc.url, slides.jpeg)
    _panel(page)
    assert page.evaluate("typeof AnnotoriousOSD.createOSDAnnotator") == "function"
    assert {"rectangle", "polygon", "ellipse", "line"} <= set(page.evaluate("wsiAnnotations.anno.listDrawingTools()"))
    # blob: URLs are tiles the viewer already fetched from Orthanc (direct-frames.js), shown from memory.
    outside = [u for u in requests if not u.startswith((orthanc.url, f"blob:{orthanc.url.rstrip('/')}/"))]
    assert not outside, outside


def _annotations(page) -> list[dict]:
    """What the viewer holds now, as the plugin's shapes (annotations-geometry.js)."""
    return page.evaluate("""async () => {
        const g = await import('./annotations-geometry.js');
        const s = wsiAnnotations;
        return s.anno.getAnnotations().map((a) => ({
            ...g.selectorToShape(a.target.selector, (s.props.get(a.id) || {}).point),
            category: (a.bodies.find((b) => b.purpose === 'tagging') || {}).value || '',
            label: (a.bodies.find((b) => b.purpose === 'commenting') || {}).value || ''}));
    }""")


def test_every_tool_drawn_with_the_mouse_is_stored_as_dicom_with_the_same_coordinates(orthanc, slides, page,
                                                                                          artifacts) -> None:
    open_viewer(page, orthanc.url, slides.jpeg)
    _panel(page)
    page.select_option("#annotation-category", "Tumour")
    page.fill("#annotation-label", "drawn")
    page.evaluate("document.activeElement.blur()")  # shortcuts are off while typing
    page.keyboard.press("b")
    _drag(page, (500, 150), (650, 250))
    page.keyboard.press("e")
    _drag(page, (700, 150), (850, 230))
    page.keyboard.press("l")
    _drag(page, (500, 350), (700, 450))
    page.keyboard.press("p")
    _click(page, (900, 300))
    page.keyboard.press("g")  # Annotorious: drag the first side, click the next corners, click the first to close
    _drag(page, (500, 500), (600, 520))
    _click(page, (560, 600))
    _click(page, (500, 500))
    page.keyboard.press("h")
    box = _box(page)
    page.mouse.move(box["x"] + 800, box["y"] + 450)
    page.mouse.down()
    for x, y in [(850, 450), (900, 450), (900, 500), (900, 550), (850, 550), (800, 550), (800, 500)]:
        page.mouse.move(box["x"] + x, box["y"] + y, steps=5)
    page.mouse.up()
    page.keyboard.press("v")
    page.wait_for_timeout(300)
    page.screenshot(path=str(artifacts / "annotations-drawn.png"))
    drawn = _annotations(page)
    kinds = sorted(a["type"] for a in drawn)
    assert kinds == ["ELLIPSE", "POINT", "POLYGON", "POLYGON", "POLYLINE", "RECTANGLE"], drawn
    assert {a["category"] for a in drawn} == {"Tumour"} and {a["label"] for a in drawn} == {"drawn"}
    by_type = {a["type"]: a for a in drawn}
    np.testing.assert_allclose(by_type["RECTANGLE"]["points"],
                               _to_image(page, [(500, 150), (650, 150), (650, 250), (500, 250)]), atol=1e-6)
    np.testing.assert_allclose(by_type["POINT"]["points"], _to_image(page, [(900, 300)]), atol=1e-6)
    np.testing.assert_allclose(by_type["POLYLINE"]["points"], _to_image(page, [(500, 350), (700, 450)]), atol=1e-6)
    (polygon,) = [a for a in drawn if a["type"] == "POLYGON" and len(a["points"]) == 3]
    np.testing.assert_allclose(polygon["points"], _to_image(page, [(500, 500), (600, 520), (560, 600)]), atol=1e-6)
    (freehand,) = [a for a in drawn if a["type"] == "POLYGON" and len(a["points"]) > 3]
    corners = _to_image(page, [(800, 450), (900, 550)])
    assert np.allclose(np.min(freehand["points"], axis=0), corners[0], atol=2) and \
        np.allclose(np.max(freehand["points"], axis=0), corners[1], atol=2)

    page.click("#annotation-save")
    page.wait_for_function("document.body.dataset.saved || document.querySelector('#annotation-status.error')",
                           timeout=30000)
    assert page.evaluate("document.body.dataset.saved"), page.inner_text("#annotation-status")
    ann = _stored(orthanc, page.evaluate("document.body.dataset.saved"))
    stored = [(g.graphic_type.value, g.label, points.tolist())
              for g in ann.get_annotation_groups() for points in g.get_graphic_data("2D")]
    assert sorted(kind for kind, _, _ in stored) == kinds
    for annotation in drawn:
        (match,) = [p for k, _, p in stored if k == annotation["type"] and len(p) == len(annotation["points"])
                    and np.allclose(p, annotation["points"], atol=1e-3)]  # float32 in DICOM
        assert match
    assert {label for _, label, _ in stored} == {"drawn"}


def test_select_edit_measure_delete_undo_and_layers(orthanc, slides, page) -> None:
    open_viewer(page, orthanc.url, slides.jpeg2000)  # a slide nobody annotated yet
    _panel(page)
    page.select_option("#annotation-category", "Tissue")
    page.evaluate("document.activeElement.blur()")
    page.keyboard.press("l")
    _drag(page, (500, 300), (800, 300))
    page.keyboard.press("b")
    _drag(page, (500, 400), (700, 500))
    page.keyboard.press("v")
    _click(page, (650, 300))  # on the line
    page.wait_for_selector("#annotation-selected:not([hidden])")
    spacing_um = slides.spacing_um
    zoom_before = page.evaluate("wsiViewer.viewer.viewport.getZoom(true)")
    length_px = np.subtract(*_to_image(page, [(800, 300), (500, 300)]))[0]
    assert float(page.get_attribute("#selected-measure", "data-length-um")) == pytest.approx(length_px * spacing_um)
    assert page.evaluate("wsiViewer.viewer.viewport.getZoom(true)") == zoom_before  # a click selects, not zooms
    assert "µm" in page.inner_text("#selected-measure") or "mm" in page.inner_text("#selected-measure")
    page.fill("#selected-label", "edited")
    page.press("#selected-label", "Enter")
    page.select_option("#selected-category", "Cell")
    labels = {(a["type"], a["label"], a["category"]) for a in _annotations(page)}
    assert ("POLYLINE", "edited", "Cell") in labels
    _click(page, (600, 450))  # inside the rectangle
    area_px = np.prod(np.subtract(*_to_image(page, [(700, 500), (500, 400)])))
    assert float(page.get_attribute("#selected-measure", "data-area-um2")) == pytest.approx(area_px * spacing_um ** 2)
    page.evaluate("document.activeElement.blur()")
    page.keyboard.press("Delete")
    assert [a["type"] for a in _annotations(page)] == ["POLYLINE"]
    page.keyboard.press("Control+z")
    assert sorted(a["type"] for a in _annotations(page)) == ["POLYLINE", "RECTANGLE"]
    page.keyboard.press("Control+Shift+z")
    assert [a["type"] for a in _annotations(page)] == ["POLYLINE"]
    page.keyboard.press("Control+z")
    # Layers: one per category of ours; hiding one filters it out of the drawing.
    layers = page.eval_on_selector_all("#annotation-layers input", "els => els.map((e) => e.dataset.layer)")
    assert sorted(layers) == ["mine:Cell", "mine:Tissue"]
    page.uncheck("#annotation-layers input[data-layer='mine:Tissue']")
    assert page.evaluate("[...wsiAnnotations.hidden]") == ["mine:Tissue"]


@pytest.fixture(scope="module")
def highdicom_slide(orthanc) -> tuple[str, bytes]:
    """(series id, the full-resolution level's file) of a highdicom-written slide (1100 x 700 px)."""
    from pathlib import Path

    from tests.support.producers import write_with_highdicom
    from tests.support.source import textured_image

    paths = write_with_highdicom(textured_image(1100, 700, seed=3), compression="jpeg")
    answers = [orthanc.upload(Path(p).read_bytes()) for p in paths]
    return answers[0]["ParentSeries"], Path(paths[0]).read_bytes()


def _shot(page) -> np.ndarray:
    from PIL import Image

    box = _box(page)
    data = page.screenshot(clip=box)
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).astype(int)


@pytest.mark.parametrize("rotation", [0, 90])
def test_a_highdicom_object_is_drawn_where_its_coordinates_say(orthanc, highdicom_slide, page, artifacts,
                                                              rotation) -> None:
    from tests.support.annotation_objects import highdicom_ann

    series, slide_file = highdicom_slide
    triangle = np.array([[300.0, 150.0], [800.0, 200.0], [500.0, 600.0]])
    if rotation == 0:  # one object for both runs
        orthanc.upload(highdicom_ann(slide_file, {"POLYGON": [triangle]}, label="pixel check"))
    open_viewer(page, orthanc.url, series, rotation=rotation)
    page.evaluate("document.querySelector('#annotations-button').click()")
    page.wait_for_function("document.body.dataset.annotations === 'loaded'", timeout=30000)
    page.click("#annotations-button")  # panel closed again: nothing covers the slide
    page.wait_for_timeout(500)
    shown = _shot(page)
    page.evaluate("wsiAnnotations.anno.setVisible(false)")
    page.wait_for_timeout(500)
    hidden = _shot(page)
    from PIL import Image

    Image.fromarray(shown.astype(np.uint8)).save(artifacts / f"annotations-highdicom-rot{rotation}.png")
    diff = np.abs(shown - hidden).sum(axis=2)
    corners = np.array(_to_screen(page, triangle))
    for a, b in zip(corners, np.roll(corners, -1, axis=0), strict=True):
        for t in (0.25, 0.5, 0.75):  # on each side: the outline is drawn there (2 px wide)
            x, y = np.round(a + t * (b - a)).astype(int)
            assert diff[y - 2:y + 3, x - 2:x + 3].max() > 60, (rotation, x, y)
    # Away from the triangle (outside it, 30 px from any side) nothing changed.
    centre = corners.mean(axis=0)
    outside = np.round(corners[0] + (corners[0] - centre) / np.linalg.norm(corners[0] - centre) * 30).astype(int)
    assert diff[outside[1] - 2:outside[1] + 3, outside[0] - 2:outside[0] + 3].max() < 10
    # The outline is red (category Tumour: Neoplasm), as the layer list names it.
    layers = page.eval_on_selector_all("#annotation-layers input", "els => els.map((e) => e.dataset.layer)")
    assert any("pixel check" in name for name in layers), layers


def _frames_while_panning(page, seconds: float = 2.0) -> float:
    """Frames per second the page draws while the view pans continuously."""
    return page.evaluate("""(seconds) => new Promise((done) => {
        const v = wsiViewer.viewer.viewport;
        let frames = 0;
        const start = performance.now();
        const step = (now) => {
            frames += 1;
            v.panBy(new OpenSeadragon.Point(Math.sin(now / 300) * 0.004, 0), true);
            if (now - start < seconds * 1000) requestAnimationFrame(step); else done(frames / ((now - start) / 1000));
        };
        requestAnimationFrame(step);
    })""", seconds)


def test_ten_thousand_points_load_and_draw_smoothly(orthanc, highdicom_slide, page, artifacts) -> None:
    """Measured, not only bounded: the numbers go to the artifacts folder (annotations-10k.txt)."""
    from tests.support.annotation_objects import highdicom_ann

    series, slide_file = highdicom_slide
    rng = np.random.default_rng(5)
    points = rng.uniform([5, 5], [1095, 695], size=(10_000, 2))
    orthanc.upload(highdicom_ann(slide_file, {"POINT": [p[None] for p in points]}, label="cells"))
    open_viewer(page, orthanc.url, series)
    fps_before = _frames_while_panning(page)
    page.click("#annotations-button")
    page.wait_for_function("document.body.dataset.annotations === 'loaded'", timeout=60000)
    loaded_ms = page.evaluate("wsiAnnotations.loadedMs")
    count = page.evaluate("wsiAnnotations.anno.getAnnotations().length + wsiAnnotations.fastPoints.length")
    page.click("#annotations-button")
    fps_with = _frames_while_panning(page)
    page.screenshot(path=str(artifacts / "annotations-10k.png"))
    report = f"10,000 points: fetched, read and drawn in {loaded_ms:.0f} ms; panning {fps_before:.1f} " \
             f"frames/s without annotations, {fps_with:.1f} with them (headless chromium, software WebGL)\n"
    (artifacts / "annotations-10k.txt").write_text(report)
    print(report)
    assert count >= 10_000
    assert loaded_ms < 15_000
    assert fps_with >= min(10.0, fps_before / 2), report
