"""Orthanc with the plugin loaded stops cleanly after serving every route family (an administrator's restart).

orthanc-python 5.0 crashed Orthanc at "Python plugin is finalizing" (exit 139) when a registered callback was
referenced by orthanc-python alone; the entry script now keeps its callbacks (plugin/wsi_plugin.py).
"""

from __future__ import annotations

import signal

import pytest

from tests.conftest import PLUGIN_SCRIPT
from tests.support.orthanc_server import OrthancServer, require_orthanc
from tests.support.source import textured_image
from tests.support.writer import write_slide

pytestmark = pytest.mark.integration


def test_orthanc_stops_cleanly_after_serving_every_route_family(tmp_path):
    require_orthanc()
    files = write_slide(tmp_path / "slide", textured_image(600, 400, seed=5))
    server = OrthancServer(PLUGIN_SCRIPT, storage_dir=tmp_path / "orthanc")
    with server:
        series = server.upload_series(files)
        instance = server.get_json(f"/series/{series}")["Instances"][0]
        for path in (f"/wsi/pyramids/{series}", f"/wsi/tiles/{series}/0/0/0", f"/wsi/iiif/tiles/{series}/info.json",
                     f"/wsi/iiif/tiles/{series}/full/64,/0/default.png", f"/wsi/iiif/series/{series}/manifest.json",
                     f"/wsi/iiif/frames/{instance}/0/full/32,/0/default.jpg", "/wsi/app/viewer.html",
                     "/wsi/pyramids/00000000-00000000-00000000-00000000-00000000"):
            status, _, _ = server.get(path)
            assert status in (200, 404), (path, status)
        assert server.request("DELETE", f"/wsi/pyramids/{series}")[0] == 405
    assert server.returncode == 0, (
        f"Orthanc ended with {server.returncode}"
        f"{' (' + signal.Signals(-server.returncode).name + ')' if server.returncode and server.returncode < 0 else ''}"
        f":\n{server.log_tail()}")
