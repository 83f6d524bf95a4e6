"""GET /wsi/export on the fake Orthanc: the answer's file, the export gate, and spooled files closed on failure."""

from __future__ import annotations

import io

import numpy as np
import pytest
import tifffile
from fake_orthanc import EXPLICIT, JPEG, FakeOrthanc, tile_frames, wsi_tags
from wsi.app import build_app
from wsi.config import Settings
from wsi.export import route
from wsi.export.spool import SpooledFile
from wsi.http import Request
from wsi.routes import dispatch
from wsi.series import WSI_SOP_CLASS

RNG = np.random.default_rng(3)


@pytest.fixture
def world():
    fake = FakeOrthanc()
    image = RNG.integers(0, 256, (400, 600, 3), dtype=np.uint8)
    native = wsi_tags(300, 200, 128)
    native["0028,0004"] = "RGB"
    levels = [(wsi_tags(600, 400, 256), JPEG, tile_frames(image, 256, JPEG)),
              (native, EXPLICIT, tile_frames(image[::2, ::2], 128, EXPLICIT))]
    series_id, ids = fake.add_series(levels, WSI_SOP_CLASS)
    return fake, build_app(Settings(cache_size_mb=16), fake), series_id, ids


def export(app, series_id: str, query: dict[str, str] | None = None):
    return dispatch(route.get_export, Request("GET", f"/wsi/export/{series_id}", (series_id,), query or {}), app)


def test_the_answer_is_the_spooled_tiff(world) -> None:
    _, app, series_id, _ = world
    response = export(app, series_id)
    assert response.status == 200 and response.content_type == "image/tiff" and response.body == b""
    assert response.headers["X-Export-Tiles"] == "copied=6, encoded=6"  # level 0: JPEG as stored; level 1: encoded
    assert response.headers["Content-Disposition"] == f'attachment; filename="{series_id}.svs"'
    spooled = response.body_file
    with tifffile.TiffFile(io.BytesIO(spooled.read_all())) as tiff:
        assert [level.shape[:2] for level in tiff.series[0].levels] == [(400, 600), (200, 300)]
    spooled.close()


def test_a_second_export_waits_then_gets_503(world, monkeypatch: pytest.MonkeyPatch) -> None:
    _, app, series_id, _ = world
    monkeypatch.setattr(route, "EXPORT_QUEUE_SECONDS", 0.05)
    app.exports.acquire()  # an export running
    try:
        response = export(app, series_id)
    finally:
        app.exports.release()
    assert response.status == 503 and "Retry-After" in response.headers
    assert export(app, series_id).status == 200  # the place is free again


def test_a_failed_export_closes_its_file_and_frees_its_place(world, monkeypatch: pytest.MonkeyPatch) -> None:
    fake, app, series_id, ids = world
    opened: list[SpooledFile] = []

    class Recorded(SpooledFile):
        def __init__(self, folder: str = "") -> None:
            super().__init__(folder)
            opened.append(self)

    monkeypatch.setattr(route, "SpooledFile", Recorded)
    del fake.paths[f"/instances/{ids[1]}/frames/3/raw"]  # a frame Orthanc no longer has
    response = export(app, series_id)
    assert response.status == 404 and "frame 3" in response.body.decode()
    assert len(opened) == 1 and opened[0].file.closed
    assert app.exports.acquire(timeout=0)  # released
    app.exports.release()
