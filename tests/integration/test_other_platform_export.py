"""GET /wsi/export on the other platform's Orthanc (tests/support/other_platform.py). On Debian 13
(orthanc-python 5.0) the spooled file is sent as a streamed answer: chunk by chunk from disk, with our
Content-Length, the connection closed after it; OpenSlide must read exactly what the host's tests check.
On Debian 12 (from a Debian 13 host) the same checks hold for a buffered answer. The size-limit test of
test_export.py is collected here too: its server runs in the root (`on_other_platform`).
"""

from __future__ import annotations

from pathlib import Path

import openslide
import pytest

from tests.integration.test_export import (  # noqa: F401  (collected here, run in the root)
    _command,
    test_size_limit_without_streamed_answers_and_temporary_files_removed,
)
from tests.support.export_checks import check_associated, check_geometry, check_pixels, tile_counts
from tests.support.orthanc_server import OrthancServer
from tests.support.other_platform import PlatformRoot

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("on_other_platform")]


@pytest.mark.parametrize("name", ["wsidicomizer", "dicomizer-jpeg", "ours-explicit"])
def test_exports_stream_and_read_in_openslide(orthanc_other: OrthancServer, slides_other: dict[str, str],
                                              on_other_platform: PlatformRoot, name: str, tmp_path: Path) -> None:
    if name not in slides_other:
        pytest.skip(f"{name} is not made on this machine (producer missing)")
    series_id = slides_other[name]
    status, headers, body = orthanc_other.get(f"/wsi/export/{series_id}")
    assert status == 200, body[:300]
    streamed = on_other_platform.platform.streams
    # A streamed answer carries our Content-Length and ends with the connection (docs/ARCHITECTURE.md).
    assert (headers.get("connection", "").lower() == "close") == streamed
    assert int(headers["content-length"]) == len(body)
    path = tmp_path / "export.svs"
    path.write_bytes(body)
    pyramid = orthanc_other.get_json(f"/wsi/pyramids/{series_id}")
    counts = tile_counts(headers)
    with openslide.OpenSlide(str(path)) as slide:
        check_geometry(slide, pyramid)
        report = check_pixels(orthanc_other, series_id, slide, pyramid, exact=counts["encoded"] == 0)
        check_associated(orthanc_other, series_id, slide, pyramid)
    assert report.tiles_compared >= 15
    # The command's download of the route gets the same bytes.
    out = tmp_path / "via.svs"
    done = _command(series_id, str(out), "--orthanc", orthanc_other.url, "--via-plugin")
    assert done.returncode == 0, done.stderr
    assert out.read_bytes() == body
